// map_text_fuzz.cpp - fuzz target for makemap's line parser parse_text_line
// (lib/map/map_text.hpp) and for the aliases map encoding newaliases stores
// (encode_alias_targets, lib/map/aliases_compile.hpp). The first input byte chooses:
// bit 0 fold case (no -f), bit 1 allow empty values (-e), bit 2 separator ':' (-t:),
// bit 3 comment '%' (-D%), bit 7 aliases mode; the rest is the text, one line after
// another.
//
// Invariants beyond "no crash": a refused line is EX_DATAERR and names its line; an
// accepted key is non-empty, holds no separator (no white space without -t), no NUL, and
// is lower-case when folding; a value is empty only with -e; the record written back as
// makemap's -u prints it ("key<sep>value") parses to the same record. Aliases mode: every
// entry parse_aliases accepts, stored as newaliases stores it, reads back as the same
// targets (what AliasFile does with aliases.db).
//
// fuzz_map_text is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/map/aliases.hpp"
#include "lib/map/aliases_compile.hpp"
#include "lib/map/map_text.hpp"

using namespace tegami;

namespace {

constexpr size_t kMaxInput = 64 * 1024;

void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "map_text fuzz: invariant broken: %s\n", what);
    std::abort();
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

void check_line(std::string_view line, size_t lineno, const map::TextOptions& opt) {
    auto r = map::parse_text_line(line, lineno, opt);
    if (!r) {
        require(r.error().exit == Exit::data_err, "error is not EX_DATAERR");
        require(r.error().message.rfind("line " + std::to_string(lineno) + ": ", 0) == 0,
                "error does not name the line");
        return;
    }
    if (!r.value()) return;
    const map::TextRecord& rec = *r.value();
    require(!rec.key.empty(), "empty key");
    require(rec.key.find('\0') == std::string::npos, "NUL in key");
    for (char c : rec.key) {
        if (opt.separator == '\0')
            require(!is_space(c), "white space in key");
        else
            require(c != opt.separator, "separator in key");
        if (opt.fold_case) require(!(c >= 'A' && c <= 'Z'), "key not folded");
    }
    require(opt.allow_empty || !rec.value.empty(), "empty value without -e");
    require(rec.key[0] != opt.comment, "comment line accepted as a record");
    // As makemap -u prints it, and read back (the key is already folded).
    std::string again = rec.key + (opt.separator == '\0' ? '\t' : opt.separator) + rec.value;
    auto r2 = map::parse_text_line(again, lineno, opt);
    if (!rec.value.empty() && is_space(rec.value.front())) return;  // leading blanks are eaten
    require(r2.ok() && r2.value().has_value(), "written-back record refused");
    require(r2.value()->key == rec.key, "written-back key differs");
    require(r2.value()->value == rec.value || rec.value.back() == '\r',
            "written-back value differs");
}

void check_aliases(std::string_view text) {
    auto t = parse_aliases(text, "fuzz.aliases");
    if (!t) return;
    for (const auto& [name, targets] : t->entries) {
        std::string stored = encode_alias_targets(targets);
        auto back = parse_aliases(alias_entry_text(name, stored), "fuzz.db");
        require(back.ok(), "stored aliases entry refused");
        require(back->entries.size() == 1, "stored entry reads as several");
        require(back->entries.begin()->second == targets, "stored entry reads differently");
    }
}

}  // namespace

int fuzz_map_text(const uint8_t* data, size_t size) {
    if (size < 1 || size > kMaxInput) return 0;
    uint8_t flags = data[0];
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (flags & 0x80) {
        check_aliases(text);
        return 0;
    }
    map::TextOptions opt;
    opt.fold_case = (flags & 1) != 0;
    opt.allow_empty = (flags & 2) != 0;
    opt.separator = (flags & 4) != 0 ? ':' : '\0';
    opt.comment = (flags & 8) != 0 ? '%' : '#';
    size_t lineno = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        check_line(line, ++lineno, opt);
    }
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_map_text(data, size);
}
#endif
