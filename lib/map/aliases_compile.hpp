// aliases_compile.hpp - newaliases: compiles the aliases text file into PATH.db in
// sendmail's own format, so sendmail's tools, and AliasFile in smtpd and local, read it:
// a Berkeley DB hash map whose keys are the lower-cased alias names and whose values
// are the right-hand sides, both with a trailing NUL, plus the "@" -> "@" sentinel that
// sendmail writes last and its readers wait for.
//
// Called by msp/newaliases and by the sendmail command's -bi (the msp helper's
// msp/sendmail) with the configured `aliases` path. Trusts the path; the file's text
// is untrusted and parsed by parse_aliases (errors "FILE:LINE: message").
// Mode: a new PATH.db gets the text file's permission bits and group (readable by the same
// daemons); a replaced one keeps its own.
// Invariant: a file with any error leaves the old PATH.db untouched (MapWriter builds a
// new file and renames it over only when the whole table parsed).
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami {

struct AliasesSummary {
    size_t aliases = 0;                 // entries written (the sentinel not counted)
    size_t longest = 0;                 // longest right-hand side, bytes
    size_t bytes = 0;                   // sum of name and right-hand-side lengths
    std::vector<std::string> warnings;  // parse_aliases' (a name defined twice)
};

// Compiles path into path + ".db". Errors: the source missing (Exit::no_input), a parse
// error (Exit::data_err, "FILE:LINE: ..."), a world-writable directory for the map
// (Exit::software, as sendmail refuses it), the map not writable (Exit::cant_create).
Result<AliasesSummary> compile_aliases(const std::string& path);

// sendmail's summary line: "/etc/aliases: 8 aliases, longest 30 bytes, 208 bytes total".
std::string aliases_summary_line(const std::string& path, const AliasesSummary& s);

// The stored right-hand side of an alias: targets joined with ", ", a target holding a
// comma or white space in double quotes. parse_aliases reads it back to the same list.
std::string encode_alias_targets(const std::vector<std::string>& targets);

// One stored record as aliases(5) text for parse_aliases ("name: stored,\n"): the
// trailing comma keeps a value that ends in a backslash from reading as a continued
// line (an empty last item is skipped). Used by AliasFile to read aliases.db.
std::string alias_entry_text(std::string_view name, std::string_view stored);

// The whole of `newaliases` (and `sendmail -bi`): loads the configuration file
// config_path, compiles its `aliases` file with signals that would interrupt the build
// held off, prints the summary line to out and any error to err (prefixed with
// prog, "newaliases: ..."; warnings as "prog: warning: ..."). Returns the exit code: 0; 65 the file
// has an error (the old map stays); 66 no aliases file; 70 unsafe directory; 73 cannot write the
// map; 77 permission denied; 78 bad configuration.
int run_newaliases(const std::string& config_path, const char* prog, std::FILE* out,
                   std::FILE* err);

}  // namespace tegami
