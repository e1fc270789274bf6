// editmap.hpp - the work of editmap(8), apart from its command line: query, update or
// delete one key of a Berkeley DB map that makemap built, as sendmail 8.17's editmap:
//
//   editmap [-C cf] [-N] [-f] [-q|-u|-x] type mapname key ["value ..."]
//
// An update or delete rewrites the map through lib/map's MapWriter (a new file beside
// the old one, renamed over it and fsync'd): a reader sees the old map or the new one,
// whole, and a crash leaves the old one; the map keeps its owner, group and mode.
// Called by msp/editmap/main.cpp; kept apart for the unit tests.
#pragma once

#include <cstdio>
#include <string>

#include "lib/map/map.hpp"

namespace tegami::editmap {

enum class Mode { none, query, update, remove };

struct Options {
    Mode mode = Mode::none;
    map::MapType type = map::MapType::hash;
    std::string map_name;      // as given ("/etc/mail/access"); the file is map_name.db
    bool include_nul = false;  // -N: key and value stored with a trailing NUL
    bool fold_case = true;     // cleared by -f
    std::string key;
    std::string value;  // -u: the words after the key, joined by spaces
};

// Returns the exit code, sendmail's: 0; EX_UNAVAILABLE (69) when -q finds no such key;
// EX_CANTCREAT (73) when the map cannot be opened (a missing map is not created);
// EX_IOERR (74) when -u or -x fails, -x of a key that is not there included.
// -q prints the value and a newline on out; messages go to err ("editmap: ...").
int run(const Options& opt, std::FILE* out, std::FILE* err);

}  // namespace tegami::editmap
