// map_text.hpp - the "text:" map: a plain file in makemap's input format, read whole
// into memory. parse_text_map is the pure parser makemap shares; called by map.cpp and
// msp/makemap.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/map/map.hpp"

namespace tegami::map {

// How one input line splits into key and value (sendmail's makemap rules).
struct TextOptions {
    char separator = '\0';  // '\0': the first run of white space
    char comment = '#';     // lines starting with it are skipped
    bool fold_case = true;  // lower-case keys (makemap without -f)
    bool allow_empty = false;
};

struct TextRecord {
    std::string key;
    std::string value;
    size_t line = 0;
};

// One line (without its newline; a trailing CR is dropped). The key ends at the first
// white space (or the separator); the value starts after the white space that follows
// and keeps any trailing white space, exactly as sendmail's makemap stores it. Returns nullopt for
// comment and blank lines, an Error(Exit::data_err) "line N: message" for a bad one.
Result<std::optional<TextRecord>> parse_text_line(std::string_view line, size_t lineno,
                                                  const TextOptions& opt);

Result<std::unique_ptr<Map>> open_text_map(const MapSpec& spec);
Result<void> for_each_text_record(const MapSpec& spec, const RecordFn& fn);

// Reads a whole regular file of at most max bytes (Exit::no_input when missing).
Result<std::string> read_small_file(const std::string& path, size_t max);

}  // namespace tegami::map
