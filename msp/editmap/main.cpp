// editmap - queries, updates or deletes one key of a sendmail-format Berkeley DB map in
// place, with sendmail 8.17's flags and exit codes (editmap(8)):
//
//   editmap [-C cf] [-N] [-f] [-q|-u|-x] hash|btree mapname key ["value ..."]
//
// Not privileged: runs as whoever calls it and writes only mapname.db (a new file beside
// it, renamed over it). -C is accepted for sendmail's scripts and has nothing to do here.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "lib/core/sysexits.hpp"
#include "msp/editmap/editmap.hpp"

using namespace tegami;

namespace {

int usage() {
    std::fputs(
        "Usage: editmap [-C cffile] [-N] [-f] [-q|-u|-x] type mapname key [ \"value ...\" ]\n",
        stderr);
    return code(Exit::usage);
}

}  // namespace

int main(int argc, char** argv) {
    editmap::Options opt;
    int modes = 0;
    int c;
    while ((c = getopt(argc, argv, "C:Nfqux")) != -1) {
        switch (c) {
            case 'C':
                break;
            case 'N':
                opt.include_nul = true;
                break;
            case 'f':
                opt.fold_case = false;
                break;
            case 'q':
                opt.mode = editmap::Mode::query;
                ++modes;
                break;
            case 'u':
                opt.mode = editmap::Mode::update;
                ++modes;
                break;
            case 'x':
                opt.mode = editmap::Mode::remove;
                ++modes;
                break;
            default:
                return usage();
        }
    }
    if (modes != 1) return usage();  // exactly one of -q, -u, -x
    int left = argc - optind;
    if (left < 3 || (opt.mode == editmap::Mode::update) != (left > 3)) return usage();
    std::string type = argv[optind];
    auto t = map::map_type_from_name(type);
    if (!t || *t == map::MapType::text) {
        std::fprintf(stderr, "editmap: error opening type %s map %s: Unknown database type\n",
                     type.c_str(), argv[optind + 1]);
        return code(Exit::cant_create);
    }
    opt.type = *t;
    opt.map_name = argv[optind + 1];
    opt.key = argv[optind + 2];
    if (opt.map_name.empty() || opt.key.empty()) return usage();
    for (int i = optind + 3; i < argc; ++i) {
        if (!opt.value.empty()) opt.value += ' ';
        opt.value += argv[i];
    }
    return editmap::run(opt, stdout, stderr);
}
