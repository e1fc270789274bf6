// passwd_db.hpp - the built-in credential store: a Berkeley DB hash file (auth_db,
// default /etc/tegami/passwd.db) mapping login -> encoded Credential (credential.hpp).
//
// Readers (tegami-auth) open it read-only and reopen it when the file at the path is a
// different one (inode, size or mtime changed; checked at most once a second). The
// writer (tegami-passwd) never changes the file in place: it takes an exclusive lock
// on "<path>.lock", writes every entry into a new file beside it, fsyncs that file,
// renames it over the old one and fsyncs the directory. So a reader always sees one
// whole version, and the daemons may run while logins are added or removed.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/sasl/credential.hpp"

namespace tegami::sasl {

class PasswdDb {
  public:
    explicit PasswdDb(std::string path);
    // nullopt: no such login. An error: the store cannot be read (454 4.7.0).
    Result<std::optional<Credential>> lookup(std::string_view login);
    const std::string& path() const { return path_; }

  private:
    Result<void> refresh();
    std::string path_;
    DbPtr db_;
    ino_t ino_ = 0;
    off_t size_ = -1;
    timespec mtime_{};
    time_t checked_ = 0;
};

// The writer side, for tegami-passwd.
class PasswdWriter {
  public:
    // Takes the lock (blocking up to 10 s) and reads the current entries; a missing
    // file is an empty store.
    static Result<PasswdWriter> open(const std::string& path);
    std::map<std::string, std::string>& entries() { return entries_; }
    // Writes the entries as the new file (mode 0640, owner and group as given, or kept
    // from the old file when -1), atomically replacing the old one.
    Result<void> commit(uid_t owner, gid_t group);

  private:
    std::string path_;
    UniqueFd lock_;
    std::map<std::string, std::string> entries_;
    bool existed_ = false;
    uid_t old_uid_ = static_cast<uid_t>(-1);
    gid_t old_gid_ = static_cast<gid_t>(-1);
};

}  // namespace tegami::sasl
