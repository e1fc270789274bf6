// makemap - builds a sendmail-format Berkeley DB map from text on standard input, or
// dumps one (-u), with sendmail 8.17's flags and exit codes (makemap(8)):
//
//   makemap [-C cf] [-N] [-c cachesize] [-D commentchar] [-d] [-e] [-f] [-l] [-o] [-r]
//           [-s] [-t delimiter] [-u] [-v] hash|btree mapname < text
//
// Not privileged: runs as whoever calls it and writes only mapname.db (beside it, a
// temporary file renamed over it). -C and -s are accepted for sendmail's scripts and
// have nothing to do here (there is no sendmail.cf to read a TrustedUser from; a
// replaced map keeps its owner, group and mode instead).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lib/core/sysexits.hpp"
#include "msp/makemap/makemap.hpp"

using namespace tegami;

namespace {

int usage() {
    std::fputs(
        "Usage: makemap [-C cffile] [-N] [-c cachesize] [-D commentchar]\n"
        "               [-d] [-e] [-f] [-l] [-o] [-r] [-s] [-t delimiter]\n"
        "               [-u] [-v] type mapname\n",
        stderr);
    return code(Exit::usage);
}

bool one_char(const char* arg, char& out) {
    if (arg[0] == '\0' || arg[1] != '\0') return false;
    out = arg[0];
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    makemap::Options opt;
    bool list = false;
    int c;
    while ((c = getopt(argc, argv, "C:Nc:D:deflorst:uv")) != -1) {
        switch (c) {
            case 'C':
            case 's':
                break;
            case 'N':
                opt.include_nul = true;
                break;
            case 'c': {
                char* end = nullptr;
                unsigned long long n = std::strtoull(optarg, &end, 10);
                if (*optarg == '\0' || *end != '\0' || n > (1ull << 40)) {
                    std::fprintf(stderr, "makemap: -c: bad cache size \"%s\"\n", optarg);
                    return usage();
                }
                opt.cache_size = static_cast<size_t>(n);
                break;
            }
            case 'D':
                if (!one_char(optarg, opt.comment)) {
                    std::fprintf(stderr, "makemap: -D: the comment must be one character\n");
                    return usage();
                }
                break;
            case 'd':
                opt.allow_dups = true;
                break;
            case 'e':
                opt.allow_empty = true;
                break;
            case 'f':
                opt.fold_case = false;
                break;
            case 'l':
                list = true;
                break;
            case 'o':
                opt.append = true;
                break;
            case 'r':
                opt.replace = true;
                break;
            case 't':
                if (!one_char(optarg, opt.separator)) {
                    std::fprintf(stderr, "makemap: -t: the delimiter must be one character\n");
                    return usage();
                }
                break;
            case 'u':
                opt.dump = true;
                break;
            case 'v':
                opt.verbose = true;
                break;
            default:
                return usage();
        }
    }
    if (list) {
        std::puts("hash\nbtree");
        return 0;
    }
    if (argc - optind != 2) return usage();
    std::string type = argv[optind];
    auto t = map::map_type_from_name(type);
    if (!t || *t == map::MapType::text) {
        std::fprintf(stderr, "makemap: error opening type %s map %s: Unknown database type\n",
                     type.c_str(), argv[optind + 1]);
        return code(Exit::cant_create);
    }
    opt.type = *t;
    opt.map_name = argv[optind + 1];
    if (opt.map_name.empty()) return usage();
    return makemap::run(opt, stdin, stdout, stderr);
}
