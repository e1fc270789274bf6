// makemap.hpp - the work of makemap(8), apart from its command line: build a Berkeley
// DB map from "key value" lines, or dump one back. Called by msp/makemap/main.cpp;
// kept apart so the unit tests drive it with in-memory streams.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

#include "lib/map/map.hpp"

namespace tegami::makemap {

struct Options {
    map::MapType type = map::MapType::hash;
    std::string map_name;      // as given ("/etc/mail/access"); messages name it
    bool include_nul = false;  // -N
    size_t cache_size = 0;     // -c
    char comment = '#';        // -D
    bool allow_dups = false;   // -d
    bool allow_empty = false;  // -e
    bool fold_case = true;     // cleared by -f
    bool append = false;       // -o
    bool replace = false;      // -r
    char separator = '\0';     // -t ('\0': white space)
    bool dump = false;         // -u
    bool verbose = false;      // -v
};

// Builds (or with dump, prints) the map; messages go to err as sendmail's makemap words
// them ("makemap: MAP: line N: ..."). Returns the exit code: 0; 65 when a line was bad
// or a key duplicated (the map is still built from the good lines, as sendmail does);
// 73 when the map cannot be created or opened; 74 on a write error.
int run(const Options& opt, std::FILE* in, std::FILE* out, std::FILE* err);

}  // namespace tegami::makemap
