// map_bdb.hpp - the Berkeley DB (5.3) side of lib/map: the hash/btree reader behind
// open_map() and for_each_record(), and the shared opener MapWriter uses for -o.
// Called only from map.cpp and map_writer.cpp.
#pragma once

#include <memory>
#include <string>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/map/map.hpp"

namespace tegami::map {

// Opens file read-only, with no environment, and checks that it is a DB of `type`.
// A missing file -> Exit::no_input; not a DB, or the wrong kind -> Exit::config.
Result<DbPtr> open_bdb_readonly(const std::string& file, MapType type);

Result<std::unique_ptr<Map>> open_bdb_map(const MapSpec& spec);
Result<void> for_each_bdb_record(const MapSpec& spec, const RecordFn& fn);

// BDB's error messages for a failed call: "what: message".
Error bdb_error(const std::string& what, int ret, Exit exit);

}  // namespace tegami::map
