// tegami-config - prints and checks the effective configuration (like postconf).
//
//   tegami-config [-c file]        check, then print every key's effective value
//   tegami-config [-c file] -n     print only keys that differ from the defaults
//   tegami-config [-c file] -q     check only (exit 0 or 78 with file:line on stderr)
//   tegami-config -d               print the defaults
//   tegami-config -m               print the tegami.conf(5) man page
//   tegami-config [-c file] KEY... print the named keys' values
//
// Unprivileged; reads only the configuration file it is given.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/sysexits.hpp"

using namespace tegami;

int main(int argc, char** argv) {
    std::string path = default_config_path();
    bool non_default = false, quiet = false, defaults = false, man = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:nqdmh")) != -1) {
        switch (opt) {
            case 'c':
                path = optarg;
                break;
            case 'n':
                non_default = true;
                break;
            case 'q':
                quiet = true;
                break;
            case 'd':
                defaults = true;
                break;
            case 'm':
                man = true;
                break;
            default:
                std::fprintf(stderr, "usage: tegami-config [-c file] [-n|-q|-d|-m] [key...]\n");
                return code(Exit::usage);
        }
    }
    if (man) {
        std::fputs(config_man_page().c_str(), stdout);
        return 0;
    }
    Config cfg;
    if (defaults) {
        cfg = default_config();
    } else {
        auto r = load_config(path);
        if (!r) {
            std::fprintf(stderr, "tegami-config: %s\n", r.error().message.c_str());
            return code(r.error().exit);
        }
        cfg = std::move(r.value());
    }
    if (quiet) return 0;
    std::string dump = dump_config(cfg, non_default);
    if (optind >= argc) {
        std::fputs(dump.c_str(), stdout);
        return 0;
    }
    int rc = 0;
    for (int i = optind; i < argc; ++i) {
        std::string key = argv[i];
        bool found = false;
        size_t pos = 0;
        while (pos < dump.size()) {
            size_t nl = dump.find('\n', pos);
            std::string line = dump.substr(pos, nl - pos);
            if (line.rfind(key + " = ", 0) == 0) {
                std::printf("%s\n", line.c_str());
                found = true;
            }
            pos = nl + 1;
        }
        if (!found) {
            std::fprintf(stderr, "tegami-config: unknown key \"%s\"\n", key.c_str());
            rc = code(Exit::usage);
        }
    }
    return rc;
}
