// praliases - prints the compiled aliases map (PATH.db of tegami.conf's `aliases`, or of
// -f FILE) as sendmail's praliases does: every record as "key:value" (the "@:@"
// sentinel included), or for each KEY given its "key:value" or "key: No such key".
//
//   praliases [-C config] [-f file] [key...]
//
// Read-only; runs as its caller. Exit codes follow sendmail 8.17: 0 also for a key
// not found and (with a message on stderr) for a map that cannot be opened; 64 usage;
// 78 bad configuration.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lib/conf/config.hpp"
#include "lib/core/sysexits.hpp"
#include "lib/map/map.hpp"

using namespace tegami;

namespace {

std::string_view strip_nul(std::string_view s) {
    if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
    return s;
}

void print_record(std::string_view k, std::string_view v) {
    k = strip_nul(k);
    v = strip_nul(v);
    std::printf("%.*s:%.*s\n", static_cast<int>(k.size()), k.data(), static_cast<int>(v.size()),
                v.data());
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = default_config_path();
    std::string file;
    int c;
    while ((c = getopt(argc, argv, "C:f:")) != -1) {
        switch (c) {
            case 'C':
                config = optarg;
                break;
            case 'f':
                file = optarg;
                break;
            default:
                std::fputs("usage: praliases [-C config] [-f file] [key ...]\n", stderr);
                return code(Exit::usage);
        }
    }
    if (file.empty()) {
        auto cfg = load_config(config);
        if (!cfg) {
            std::fprintf(stderr, "praliases: %s\n", cfg.error().message.c_str());
            return code(cfg.error().exit);
        }
        file = cfg.value().aliases;
    }
    std::string spec = "hash:" + file;
    if (optind >= argc) {
        auto r = map::for_each_record(spec, [](std::string_view k, std::string_view v) {
            print_record(k, v);
            return true;
        });
        if (!r) std::fprintf(stderr, "praliases: %s\n", r.error().message.c_str());
        return 0;
    }
    auto m = map::open_map(spec);
    if (!m) {
        std::fprintf(stderr, "praliases: %s\n", m.error().message.c_str());
        return 0;
    }
    for (int i = optind; i < argc; ++i) {
        std::string key = map::fold_key(argv[i]);
        auto v = m.value()->lookup(key);
        if (!v) {
            std::fprintf(stderr, "praliases: %s\n", v.error().message.c_str());
        } else if (!v.value()) {
            std::printf("%s: No such key\n", key.c_str());
        } else {
            print_record(key, *v.value());
        }
    }
    return 0;
}
