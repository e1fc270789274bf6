// config_fuzz.cpp - fuzz target for the tegami.conf parser parse_config
// (lib/conf/config.hpp). The input is the whole file text.
//
// Invariants checked beyond "no crash": an error names "fuzz.conf:<line>: " and maps to
// EX_CONFIG; an accepted configuration passes the cross-key checks (size limit between
// 1k and 200m, at least one local domain, a banner starting with the hostname, ...), and
// its dump ("key = value" for every key) parses again to a configuration with the same
// dump. Values holding "$" are left out of that round trip: the dump writes values
// after "$hostname" expansion, so a value whose expansion still holds "$hostname" would
// be expanded a second time.
//
// fuzz_config is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lib/conf/config.hpp"

using namespace tegami;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "config fuzz: invariant broken: %s\n", what);
    std::abort();
}

constexpr size_t kMaxInput = 64 * 1024;  // a configuration file is small

}  // namespace

int fuzz_config(const uint8_t* data, size_t size) {
    if (size > kMaxInput) return 0;
    std::string text(reinterpret_cast<const char*>(data), size);
    auto c = parse_config(text, "fuzz.conf");
    if (!c) {
        require(c.error().exit == Exit::config, "error is not EX_CONFIG");
        require(c.error().message.rfind("fuzz.conf:", 0) == 0, "error does not name the file");
        return 0;
    }
    require(c->config_file == "fuzz.conf", "config_file not recorded");
    require(c->message_size_limit >= 1024 && c->message_size_limit <= 200u * 1024 * 1024,
            "message_size_limit out of range");
    require(c->smtpd_recipient_limit >= 100, "smtpd_recipient_limit below 100");
    require(c->queue_retry_min >= 1 && c->queue_retry_min <= c->queue_retry_max,
            "queue retry bounds inverted");
    require(!c->local_domains.empty() && !c->user.empty(), "empty user or local_domains");
    require(c->smtpd_banner.rfind(c->hostname, 0) == 0, "banner does not start with hostname");
    require(c->queue_store == "bdb" || c->queue_store == "memory", "unknown queue_store");
    for (const auto& d : c->local_domains)
        require(!d.empty() && d.find_first_of(", \t") == std::string::npos, "bad list item");

    std::string dump = dump_config(*c, false);
    if (dump.find('$') != std::string::npos) return 0;
    auto c2 = parse_config(dump, "fuzz.conf");
    require(c2.ok(), "dumped configuration refused");
    require(dump_config(*c2, false) == dump, "dumped configuration parses differently");
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_config(data, size);
}
#endif
