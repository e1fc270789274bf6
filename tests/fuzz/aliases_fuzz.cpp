// aliases_fuzz.cpp - fuzz target for the aliases(5) parser parse_aliases
// (lib/map/aliases.hpp). The input is the whole file text.
//
// Invariants checked beyond "no crash": an error names "fuzz.aliases:<line>: " and is
// EX_DATAERR; every accepted name is non-empty, lower-case and free of blanks, controls
// and quotes; every entry has at least one non-empty, trimmed target; and the table
// written back as "name: target, target" lines (a target quoted when it holds no quote
// itself) parses to the same table.
//
// fuzz_aliases is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/map/aliases.hpp"

using namespace tegami;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "aliases fuzz: invariant broken: %s\n", what);
    std::abort();
}

constexpr size_t kMaxInput = 64 * 1024;

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// A target as it can be written back: quoted unless it holds a quote (then it came
// with balanced quotes of its own) or ends in an odd run of backslashes (which would
// escape the closing quote; such a target cannot hold a comma outside quotes).
std::string target_text(const std::string& t) {
    size_t backslashes = 0;
    while (backslashes < t.size() && t[t.size() - 1 - backslashes] == '\\')
        ++backslashes;
    if (t.find('"') != std::string::npos || backslashes % 2 == 1) return t;
    return "\"" + t + "\"";
}

std::string write_table(const AliasTable& table) {
    std::string out;
    for (const auto& [name, targets] : table.entries) {
        out += name;
        out += ':';
        for (size_t i = 0; i < targets.size(); ++i) {
            out += i == 0 ? " " : ", ";
            out += target_text(targets[i]);
        }
        // A final backslash would continue the line; an empty last target is dropped.
        if (out.back() == '\\') out += ',';
        out += '\n';
    }
    return out;
}

}  // namespace

int fuzz_aliases(const uint8_t* data, size_t size) {
    if (size > kMaxInput) return 0;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto t = parse_aliases(text, "fuzz.aliases");
    if (!t) {
        require(t.error().exit == Exit::data_err, "error is not EX_DATAERR");
        require(t.error().message.rfind("fuzz.aliases:", 0) == 0, "error does not name the file");
        return 0;
    }
    for (const auto& [name, targets] : t->entries) {
        require(!name.empty(), "empty name");
        for (char ch : name) {
            auto c = static_cast<unsigned char>(ch);
            require(c > 0x20 && c != 0x7f && c != '"' && c != ':', "bad octet in a name");
            require(!(c >= 'A' && c <= 'Z'), "name not lower-cased");
        }
        require(!targets.empty(), "entry without targets");
        for (const auto& target : targets) {
            require(!target.empty(), "empty target");
            require(
                target.find('\n') == std::string::npos && target.find('\0') == std::string::npos,
                "newline or NUL in a target");
            // A target that was one quoted string keeps its inner blanks.
            if (target.find('"') != std::string::npos)
                require(!is_space(target.front()) && !is_space(target.back()),
                        "target not trimmed");
        }
    }
    std::string again = write_table(*t);
    auto t2 = parse_aliases(again, "fuzz.aliases");
    require(t2.ok(), "written-back table refused");
    require(t2->entries == t->entries, "written-back table parses differently");
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_aliases(data, size);
}
#endif
