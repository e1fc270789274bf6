// map_writer.hpp - builds a Berkeley DB hash or btree map the way sendmail's makemap
// does, for msp/makemap and newaliases (lib/map/aliases_compile.cpp).
//
// Crash safety: records go into a new file beside the target (".NAME.tmp.PID.N" in the
// same directory); commit() closes it (BDB flushes its pages), fsyncs it, renames it
// over the target and fsyncs the directory. A reader therefore sees either the old map
// or the new one, whole; a writer that dies leaves the old map untouched (and the
// destructor removes an uncommitted temporary file).
// Mode: a replaced map keeps the old file's mode, owner and group (chown only where
// permitted); a new one gets new_mode and new_gid (makemap and newaliases pass the
// source file's, so the daemons that could read the text can read the map).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/map/map.hpp"

namespace tegami::map {

struct WriteOptions {
    size_t cache_size = 0;                   // makemap -c: BDB cache in bytes (0: BDB's default)
    bool allow_dups = false;                 // makemap -d: several values per key
    bool append = false;                     // makemap -o: start from the existing map's records
    mode_t new_mode = 0640;                  // mode of a map that did not exist before
    gid_t new_gid = static_cast<gid_t>(-1);  // and its group (-1: the creator's)
};

class MapWriter {
  public:
    // file: the .db file to (re)place, e.g. "/etc/mail/access.db". type: hash or btree.
    static Result<std::unique_ptr<MapWriter>> create(MapType type, std::string file,
                                                     const WriteOptions& opt);
    MapWriter(const MapWriter&) = delete;
    MapWriter& operator=(const MapWriter&) = delete;
    ~MapWriter();

    // Stores one record as given (the caller folds case and adds NULs). Returns false
    // and stores nothing when the key exists, unless replace (overwrite) or the map
    // allows duplicates.
    Result<bool> put(std::string_view key, std::string_view value, bool replace);
    // Removes every record of key (exact bytes); false when there was none (editmap -x,
    // on a writer made with append).
    Result<bool> remove(std::string_view key);
    // Makes the new map durable and puts it in place; the writer is finished after it.
    Result<void> commit();
    const std::string& file() const { return file_; }

  private:
    MapWriter(std::string file, std::string tmp, bool allow_dups)
        : file_(std::move(file)), tmp_(std::move(tmp)), allow_dups_(allow_dups) {}

    std::string file_;
    std::string tmp_;
    bool allow_dups_ = false;
    DbPtr db_;
    bool done_ = false;
};

// fsync the directory that holds path (after a create or rename in it).
Result<void> fsync_parent_dir(const std::string& path);

}  // namespace tegami::map
