// envelope_fuzz.cpp - fuzz target for the queue's envelope record decoder
// decode_envelope (queue/envelope.hpp). The input is a stored record, as read back from
// the queue store after a crash, a disk error or a hand edit.
//
// Invariants checked beyond "no crash": an error is EX_DATAERR and names the queue ID;
// an accepted record has 1..kMaxRecipients recipients, each worth at least 18 bytes of
// the record; re-encoding it and decoding again gives the same envelope, and that
// encoding is canonical (encoding the second decode gives the same bytes). A record in
// canonical form (numbers without leading zeros) re-encodes to itself; a version 1
// record (still read) re-encodes as the current version.
//
// fuzz_envelope is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "queue/envelope.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "envelope fuzz: invariant broken: %s\n", what);
    std::abort();
}

constexpr std::string_view kQid = "F0ZZ1234ABCD";

bool same(const Envelope& a, const Envelope& b) {
    if (a.queue_id != b.queue_id || a.sender != b.sender || a.arrival != b.arrival ||
        a.client_addr != b.client_addr || a.client_name != b.client_name || a.helo != b.helo ||
        a.protocol != b.protocol || a.flags != b.flags || a.envid != b.envid ||
        a.recipients.size() != b.recipients.size())
        return false;
    for (size_t i = 0; i < a.recipients.size(); ++i) {
        const Recipient& x = a.recipients[i];
        const Recipient& y = b.recipients[i];
        if (x.address != y.address || x.orcpt != y.orcpt || x.notify != y.notify ||
            x.state != y.state || x.attempts != y.attempts || x.next_try != y.next_try ||
            x.dsn != y.dsn || x.text != y.text)
            return false;
    }
    return true;
}

// The value of the record's first field (the version), for a record that decoded.
uint64_t first_number(std::string_view rec) {
    size_t colon = rec.find(':');
    size_t nl = rec.find('\n', colon);
    uint64_t v = 0;
    for (size_t i = colon + 1; i < nl; ++i)
        v = v * 10 + static_cast<uint64_t>(rec[i] - '0');
    return v;
}

}  // namespace

int fuzz_envelope(const uint8_t* data, size_t size) {
    std::string_view record(reinterpret_cast<const char*>(data), size);
    auto env = decode_envelope(kQid, record);
    if (!env) {
        require(env.error().exit == Exit::data_err, "error is not EX_DATAERR");
        require(env.error().message.find(kQid) != std::string::npos, "error without queue ID");
        return 0;
    }
    require(env->queue_id == kQid, "queue ID not taken from the key");
    const size_t n = env->recipients.size();
    require(n >= 1 && n <= kMaxRecipients && n * 18 <= record.size(), "bad recipient count");
    (void)env->all_final();

    std::string encoded = encode_envelope(*env);
    auto again = decode_envelope(kQid, encoded);
    require(again.ok(), "re-encoded record refused");
    require(same(*env, *again), "re-encoded record decodes differently");
    require(encode_envelope(*again) == encoded, "encoding is not canonical");
    // A version 1 record is rewritten as the current version (three fields more).
    if (first_number(record) == 1) return 0;
    // Only numbers can be written in more than one way (with leading zeros), and only longer.
    require(encoded.size() <= record.size(), "re-encoding grew the record");
    require(encoded.size() < record.size() || encoded == record,
            "canonical record does not re-encode to itself");
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_envelope(data, size);
}
#endif
