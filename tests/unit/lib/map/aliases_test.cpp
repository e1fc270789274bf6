// aliases_test.cpp - unit tests for lib/map/aliases.cpp: parse_aliases on bad and good
// files (table-driven, bad inputs first) and AliasFile::refresh against a temporary file.
#include "lib/map/aliases.hpp"
#include "tests/unit/test_files.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

using tegami::AliasFile;
using tegami::AliasTable;
using tegami::Exit;
using tegami::parse_aliases;

namespace {

using tegami::test::write_file;

struct BadCase {
    const char* label;
    std::string text;
    const char* error;  // the exact message
};

const BadCase kBad[] = {
    {"missing colon", "postmaster root\n", "t:1: missing ':' after alias name"},
    {"missing colon later", "# c\na: b\n\nbob alice\n", "t:4: missing ':' after alias name"},
    {"empty name", ": root\n", "t:1: empty alias name"},
    {"blank name", "   \n\t\n  : root\n", "t:3: continuation line without an entry"},
    {"name with space", "a b: c\n", "t:1: bad character in alias name"},
    {"continuation first", "  bob\n", "t:1: continuation line without an entry"},
    {"continuation after blank", "a: b\n\n\tc\n", "t:3: continuation line without an entry"},
    {"no targets", "a:\n", "t:1: alias has no targets"},
    {"only commas", "a: , ,\n", "t:1: alias has no targets"},
    {"unterminated quote", "a: \"|cmd x\n", "t:1: unterminated quoted string"},
    {"nul byte", std::string("a: b\0c\n", 7), "t:1: NUL byte in line"},
};

struct Want {
    const char* name;
    std::vector<std::string> targets;
};

struct GoodCase {
    const char* label;
    const char* text;
    std::vector<Want> want;
};

const GoodCase kGood[] = {
    {"empty", "", {}},
    {"comments only", "# one\n   # two\n\n", {}},
    {"simple", "postmaster: root\n", {{"postmaster", {"root"}}}},
    {"no final newline", "a: b", {{"a", {"b"}}}},
    {"crlf", "a: b,c\r\n", {{"a", {"b", "c"}}}},
    {"case folding",
     "PostMaster: Root, Bob@Example.ORG\n",
     {{"postmaster", {"Root", "Bob@Example.ORG"}}}},
    {"continuation", "staff: a,\n  b,\n\tc\nx: y\n", {{"staff", {"a", "b", "c"}}, {"x", {"y"}}}},
    {"backslash continuation", "staff: a, \\\nb\n", {{"staff", {"a", "b"}}}},
    {"comment inside entry", "staff: a,\n# b,\n  c\n", {{"staff", {"a", "c"}}}},
    {"quoted command",
     "prog: \"|/usr/bin/vacation -a x, y\", bob\n",
     {{"prog", {"|/usr/bin/vacation -a x, y", "bob"}}}},
    {"file and include",
     "log: /var/log/mail.copy, :include:/etc/mail/list\n",
     {{"log", {"/var/log/mail.copy", ":include:/etc/mail/list"}}}},
    {"backslash user",
     "bob: \\bob, bob@elsewhere.example\n",
     {{"bob", {"\\bob", "bob@elsewhere.example"}}}},
    {"empty items skipped", "a: b,,c,\n", {{"a", {"b", "c"}}}},
};

}  // namespace

Test(aliases, bad_files) {
    for (const auto& c : kBad) {
        auto r = parse_aliases(c.text, "t");
        cr_assert(!r.ok(), "%s: parsed", c.label);
        cr_expect(r.error().exit == Exit::data_err, "%s: exit code", c.label);
        cr_expect_eq(r.error().message, std::string(c.error), "%s: got \"%s\"", c.label,
                     r.error().message.c_str());
    }
}

Test(aliases, good_files) {
    for (const auto& c : kGood) {
        auto r = parse_aliases(c.text, "t");
        cr_assert(r.ok(), "%s: %s", c.label, r.ok() ? "" : r.error().message.c_str());
        const AliasTable& t = r.value();
        cr_expect_eq(t.entries.size(), c.want.size(), "%s: entry count %zu", c.label,
                     t.entries.size());
        for (const auto& w : c.want) {
            auto it = t.entries.find(w.name);
            cr_assert(it != t.entries.end(), "%s: %s missing", c.label, w.name);
            cr_expect(it->second == w.targets, "%s: targets of %s differ", c.label, w.name);
        }
    }
}

// A name defined twice (any case, one entry continued over lines): a warning naming both
// lines, and the later entry is the one used, as sendmail's newaliases does.
Test(aliases, a_duplicate_name_warns_and_the_later_entry_wins) {
    auto r = parse_aliases("a: b,\n  c\nx: y\nA: z\na: last\n", "t");
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect(r.value().entries.at("a") == std::vector<std::string>{"last"});
    cr_expect(r.value().entries.at("x") == std::vector<std::string>{"y"});
    cr_assert_eq(r.value().warnings.size(), 2u);
    cr_expect_eq(r.value().warnings[0],
                 std::string("t:4: duplicate alias \"a\" (first at line 1); this later entry "
                             "is used"));
    cr_expect_eq(r.value().warnings[1],
                 std::string("t:5: duplicate alias \"a\" (first at line 4); this later entry "
                             "is used"));
    auto clean = parse_aliases("a: b\n", "t");
    cr_expect(clean.ok() && clean.value().warnings.empty());
}

namespace {

std::string temp_dir() {
    return tegami::test::temp_dir("tegami-aliases");
}

}  // namespace

Test(aliases, file_missing_is_empty) {
    std::string dir = temp_dir();
    AliasFile f(dir + "/aliases");
    cr_assert(f.refresh().ok());
    cr_expect(f.table().entries.empty());
    cr_expect(f.find("postmaster") == nullptr);
    rmdir(dir.c_str());
}

Test(aliases, file_reread_on_change_and_kept_on_error) {
    std::string dir = temp_dir();
    std::string path = dir + "/aliases";
    write_file(path, "Postmaster: root\n");
    AliasFile f(path);
    cr_assert(f.refresh().ok());
    cr_assert(f.find("POSTMASTER") != nullptr);
    cr_expect_eq((*f.find("postmaster"))[0], std::string("root"));

    write_file(path, "postmaster: root\nbroken line\n");
    auto r = f.refresh();
    cr_assert(!r.ok());
    cr_expect_eq(r.error().message, path + ":2: missing ':' after alias name");
    cr_expect(f.find("postmaster") != nullptr, "old table kept");
    cr_expect(!f.refresh().ok(), "still broken");

    write_file(path, "postmaster: alice, bob\n");
    cr_assert(f.refresh().ok());
    cr_expect_eq(f.find("postmaster")->size(), 2u);

    unlink(path.c_str());
    cr_assert(f.refresh().ok());
    cr_expect(f.find("postmaster") == nullptr, "removed file = empty table");
    rmdir(dir.c_str());
}
