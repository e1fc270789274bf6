// msp_input_fuzz.cpp - fuzz target for what the sendmail command parses from its
// callers: the message normalizer, the header scan and edit (-t recipients, Bcc removal,
// added headers), RFC 5322 address lists (msp/sendmail/message.hpp), and the
// client-queue file decoder (msp/sendmail/queue_file.hpp; the file is group-writable).
//
// Invariants checked beyond "no crash": the normalizer gives the same output whatever
// the input's chunking, and its output has only CRLF line ends and no line over 998
// octets; the edited message keeps those properties and has no Bcc: header left; every
// address from a list is non-empty; an accepted queue file re-encodes to a file that
// decodes to the same message.
//
// fuzz_msp_input is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "msp/sendmail/message.hpp"
#include "msp/sendmail/queue_file.hpp"

using namespace tegami::msp;

namespace {

void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "msp_input fuzz: invariant broken: %s\n", what);
    std::abort();
}

void require_normalized(std::string_view m) {
    size_t line = 0;
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\r') {
            require(i + 1 < m.size() && m[i + 1] == '\n', "bare CR in output");
            ++i;
            line = 0;
        } else {
            require(m[i] != '\n', "bare LF in output");
            require(++line <= kMaxLine, "line over 998 octets");
        }
    }
    require(m.empty() || m.substr(m.size() - 2) == "\r\n", "output does not end in CRLF");
}

std::string normalize(std::string_view in, bool dots, size_t piece) {
    Normalizer n(dots);
    std::string out;
    for (size_t i = 0; i < in.size(); i += piece)
        n.feed(in.substr(i, piece), out);
    n.finish(out);
    return out;
}

}  // namespace

int fuzz_msp_input(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (bool dots : {false, true}) {
        std::string whole = normalize(in, dots, in.size() + 1);
        require(whole == normalize(in, dots, 7), "chunking changes the output");
        require_normalized(whole);
        HeaderScan s = scan_headers(whole);
        HeaderEdits e;
        e.from_address = "a@b";
        e.date = "d";
        e.message_id = "<m@b>";
        std::string edited = edit_headers(whole, s, e);
        require_normalized(edited);
        HeaderScan after = scan_headers(edited);
        size_t pos = 0;
        while (pos < after.end) {
            size_t eol = edited.find("\r\n", pos);
            std::string_view l(edited.data() + pos, eol - pos);
            require(l.substr(0, 4) != "Bcc:" && l.substr(0, 4) != "bcc:", "Bcc: left in");
            pos = eol + 2;
        }
        for (const auto& a : s.recipients)
            require(!a.empty(), "empty address from a header");
    }
    for (const auto& a : parse_address_list(in))
        require(!a.empty(), "empty address from a list");
    auto q = decode_queue_file(in);
    if (q) {
        std::string again = encode_queue_file_head(*q) + q->message + "\n";
        auto q2 = decode_queue_file(again);
        require(q2.ok(), "re-encoded queue file refused");
        require(q2->sender == q->sender && q2->recipients == q->recipients &&
                    q2->message == q->message && q2->flags == q->flags,
                "re-encoded queue file decodes differently");
    }
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_msp_input(data, size);
}
#endif
