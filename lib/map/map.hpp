// map.hpp - read-only key->value maps in sendmail's formats, the one reader every
// daemon uses for access, virtusertable, mailertable, authinfo, genericstable and the
// compiled aliases (smtpd, queue, tegami-remote, tegami-local), and the writer that
// makemap and newaliases build them with.
//
// Formats:
//   hash:PATH   Berkeley DB hash file PATH.db, as sendmail's makemap writes it
//   btree:PATH  Berkeley DB btree file PATH.db
//   text:PATH   a plain "key value" file, makemap's input format ("#" comments)
//   PATH        hash:PATH
// A PATH that already ends in ".db" is opened as it stands.
//
// Key folding: sendmail's makemap stores keys lower-cased unless it ran with -f, and
// with -N it stores key and value with their trailing NUL (sendmail's aliases.db is
// written that way). lookup() therefore tries the lower-cased key, then the key as
// given (a map made with -f), each without and with the NUL, and returns the value
// without a trailing NUL. An empty key is never found.
//
// Trust: map files are written by root or the map's owner, but their bytes are still
// untrusted input: a corrupt or foreign file is an Error (Exit::config), never a crash.
// Invariant: a reader never sees a half-written map, because MapWriter builds a new
// file beside the old one and renames it over (see map_writer.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace tegami::map {

// One read-only key->value map in one of sendmail's formats. lookup() is an exact-key
// lookup after the map's own key folding (sendmail's makemap lower-cases keys unless -f).
class Map {
  public:
    virtual ~Map() = default;
    virtual Result<std::optional<std::string>> lookup(std::string_view key) = 0;
    virtual const std::string& name() const = 0;  // for logs: "hash:/etc/mail/access"
};

enum class MapType { hash, btree, text };

// A parsed map spec: its type, the path as written, and the file actually opened
// ("PATH.db" for hash and btree).
struct MapSpec {
    MapType type = MapType::hash;
    std::string path;
    std::string file;
    std::string name;  // "hash:/etc/mail/access"
};

// Pure: "hash:/x", "btree:/x", "text:/x" or "/x". Unknown type or empty path ->
// Error(Exit::config).
Result<MapSpec> parse_map_spec(std::string_view spec);
// "hash", "btree", "text" -> type; anything else -> nullopt.
std::optional<MapType> map_type_from_name(std::string_view type);
const char* map_type_name(MapType type);

// spec: "hash:/etc/mail/access" (opens /etc/mail/access.db), "btree:PATH", "text:PATH"
// (a plain "key value" file, as makemap's input), or a bare PATH (hash).
// A missing file -> Exit::no_input; a file that is not such a map -> Exit::config.
Result<std::unique_ptr<Map>> open_map(std::string_view spec);

// Every record of a map as stored (keys and values raw, trailing NULs included), in the
// file's order, for makemap -u and praliases. fn returns false to stop early.
using RecordFn = std::function<bool(std::string_view key, std::string_view value)>;
Result<void> for_each_record(std::string_view spec, const RecordFn& fn);

// A map reopened when its file's inode/mtime/size changes (checked at most once a second).
// An empty spec is "not configured": lookup() then always returns nullopt. While the
// file is missing or unreadable, lookup() returns that error (Exit::no_input for a
// missing file, so a caller may treat it as "no map"), and tries again a second later.
class MapRef {
  public:
    explicit MapRef(std::string spec);
    Result<std::optional<std::string>> lookup(std::string_view key);
    bool configured() const { return !spec_.empty(); }
    const std::string& spec() const { return spec_; }
    // Forget the last check, so the next lookup() stats the file (tests, SIGHUP).
    void invalidate() { checked_ = 0; }

  private:
    Result<void> refresh();

    std::string spec_;
    std::string file_;  // the file that is stat'ed
    std::unique_ptr<Map> map_;
    Error last_error_;  // why map_ is null
    time_t checked_ = 0;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    time_t mtime_ = -1;
    long mtime_nsec_ = -1;
    off_t size_ = -1;
};

// ASCII lower case, as sendmail's makemap folds keys.
std::string fold_key(std::string_view key);

}  // namespace tegami::map
