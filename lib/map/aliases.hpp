// aliases.hpp - the sendmail-format aliases file (aliases(5)):
//     name: target, target, ...
// continuation lines start with white space; "#" starts a comment line; names are
// matched without regard to case. parse_aliases is a pure parser (errors name
// file:line); AliasFile re-reads its file when the file's mtime or size changes.
// Used by smtpd (is this local recipient known?) and local (expand it).
//
// Compiled map: when PATH.db exists (built by newaliases, or by sendmail's newaliases:
// same format, see aliases_compile.hpp), AliasFile reads the aliases from it and not
// from the text, warning once in the log when the text is newer than the map. Only when
// no PATH.db exists does it read the text file, with a logged warning.
#pragma once

#include <sys/stat.h>

#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami {

struct AliasTable {
    // lower-cased name -> targets as written (user, user@domain, /file, "|cmd", :include:/path)
    std::map<std::string, std::vector<std::string>> entries;
    // "FILE:LINE: ..." for what is taken but worth telling the administrator: a name
    // defined twice (the later entry is used, as sendmail's newaliases does).
    std::vector<std::string> warnings;
};

Result<AliasTable> parse_aliases(std::string_view text, const std::string& name);

class AliasFile {
  public:
    explicit AliasFile(std::string path) : path_(std::move(path)) {}
    // Re-reads the file if it changed. A missing file is an empty table; a file that
    // fails to parse keeps the previous table and returns the error (to be logged).
    Result<void> refresh();
    // Targets of a name (case-insensitive), or nullptr.
    const std::vector<std::string>* find(std::string_view name) const;
    const AliasTable& table() const { return table_; }
    const std::string& path() const { return path_; }

    // True when the table came from PATH.db (the last successful refresh).
    bool from_map() const { return from_db_; }

  private:
    Result<void> refresh_text();
    Result<void> refresh_db(const std::string& db, const struct stat& st);

    std::string path_;
    AliasTable table_;
    time_t mtime_ = -1;
    long mtime_nsec_ = -1;
    off_t size_ = -1;
    bool from_db_ = false;
    bool warned_text_ = false;   // "no compiled map" logged since the last map load
    bool warned_stale_ = false;  // "text newer than map" logged for this map
    ino_t db_ino_ = 0;
};

}  // namespace tegami
