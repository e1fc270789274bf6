// aliases.hpp - the sendmail-format aliases file (aliases(5)):
//     name: target, target, ...
// continuation lines start with white space; "#" starts a comment line; names are
// matched without regard to case. parse_aliases is a pure parser (errors name
// file:line); AliasFile re-reads its file when the file's mtime or size changes.
// Used by smtpd (is this local recipient known?) and local (expand it).
#pragma once

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

  private:
    std::string path_;
    AliasTable table_;
    time_t mtime_ = -1;
    long mtime_nsec_ = -1;
    off_t size_ = -1;
};

}  // namespace tegami
