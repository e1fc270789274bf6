// map_test.cpp - unit tests for lib/map/map.cpp, map_bdb.cpp, map_text.cpp and
// map_writer.cpp against real Berkeley DB files in a temporary directory: bad inputs
// first (bad specs, missing, empty, foreign, corrupt and wrong-kind files, empty keys,
// bad text lines), then key folding and NUL forms, huge values, MapRef reopening, and
// the writer's crash-safety rules (temporary file, mode, owner, append).
#include "lib/map/map.hpp"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "lib/map/map_text.hpp"
#include "lib/map/map_writer.hpp"
#include "tests/unit/test_files.hpp"

using tegami::Exit;
using namespace tegami::map;

namespace {

using tegami::test::rm_rf;
using tegami::test::write_file;

std::string temp_dir() {
    return tegami::test::temp_dir("tegami-map");
}

struct Rec {
    std::string key;
    std::string value;
};

// Writes a map of the given type with records stored exactly as given.
void make_db(MapType type, const std::string& file, const std::vector<Rec>& recs) {
    auto w = MapWriter::create(type, file, WriteOptions{});
    cr_assert(w.ok(), "create %s: %s", file.c_str(), w.ok() ? "" : w.error().message.c_str());
    for (const auto& r : recs) {
        auto p = w.value()->put(r.key, r.value, false);
        cr_assert(p.ok() && p.value(), "put %s", r.key.c_str());
    }
    auto c = w.value()->commit();
    cr_assert(c.ok(), "commit: %s", c.ok() ? "" : c.error().message.c_str());
}

std::vector<std::string> dir_entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    cr_assert(d != nullptr);
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
    return out;
}

std::optional<std::string> must_lookup(Map& m, std::string_view key) {
    auto r = m.lookup(key);
    cr_assert(r.ok(), "lookup %.*s: %s", static_cast<int>(key.size()), key.data(),
              r.ok() ? "" : r.error().message.c_str());
    return r.value();
}

}  // namespace

// ---- bad inputs

struct BadSpec {
    const char* spec;
    const char* error;
};

const BadSpec kBadSpecs[] = {
    {"", "map \"\" has no path"},
    {"hash:", "map \"hash:\" has no path"},
    {"dbm:/etc/mail/access",
     "unknown map type \"dbm\" in \"dbm:/etc/mail/access\" (hash, btree or text)"},
    {"HASH:/x", "unknown map type \"HASH\" in \"HASH:/x\" (hash, btree or text)"},
};

Test(map, bad_specs) {
    for (const auto& c : kBadSpecs) {
        auto r = parse_map_spec(c.spec);
        cr_assert(!r.ok(), "%s: parsed", c.spec);
        cr_expect(r.error().exit == Exit::config, "%s: exit", c.spec);
        cr_expect_eq(r.error().message, std::string(c.error), "%s: got %s", c.spec,
                     r.error().message.c_str());
        cr_expect(!open_map(c.spec).ok());
    }
}

struct GoodSpec {
    const char* spec;
    MapType type;
    const char* file;
    const char* name;
};

const GoodSpec kGoodSpecs[] = {
    {"/etc/mail/access", MapType::hash, "/etc/mail/access.db", "hash:/etc/mail/access"},
    {"hash:/etc/mail/access", MapType::hash, "/etc/mail/access.db", "hash:/etc/mail/access"},
    {"hash:/etc/mail/access.db", MapType::hash, "/etc/mail/access.db", "hash:/etc/mail/access.db"},
    {"btree:rel/map", MapType::btree, "rel/map.db", "btree:rel/map"},
    {"text:/etc/mail/access", MapType::text, "/etc/mail/access", "text:/etc/mail/access"},
    {"./dir:x/map", MapType::hash, "./dir:x/map.db", "hash:./dir:x/map"},
};

Test(map, good_specs) {
    for (const auto& c : kGoodSpecs) {
        auto r = parse_map_spec(c.spec);
        cr_assert(r.ok(), "%s: %s", c.spec, r.ok() ? "" : r.error().message.c_str());
        cr_expect(r->type == c.type, "%s: type", c.spec);
        cr_expect_eq(r->file, std::string(c.file), "%s: file %s", c.spec, r->file.c_str());
        cr_expect_eq(r->name, std::string(c.name), "%s: name %s", c.spec, r->name.c_str());
    }
}

Test(map, missing_file_is_no_input) {
    std::string dir = temp_dir();
    for (const char* t : {"hash:", "btree:", "text:", ""}) {
        auto r = open_map(std::string(t) + dir + "/nosuch");
        cr_assert(!r.ok(), "%s opened", t);
        cr_expect(r.error().exit == Exit::no_input, "%s: exit %d", t,
                  static_cast<int>(r.error().exit));
        cr_expect(r.error().message.find("No such file") != std::string::npos, "%s: %s", t,
                  r.error().message.c_str());
    }
    rm_rf(dir);
}

Test(map, not_a_database_is_config_error) {
    std::string dir = temp_dir();
    struct Case {
        const char* label;
        std::string content;
    };
    const Case cases[] = {
        {"empty file", ""},
        {"text file", "connect:1.2.3.4 REJECT\nfrom:spam.example REJECT\n"},
        {"one page of zeros", std::string(4096, '\0')},
        {"random bytes", std::string(8192, '\xa5')},
    };
    for (const auto& c : cases) {
        write_file(dir + "/m.db", c.content);
        for (const char* t : {"hash:", "btree:"}) {
            auto r = open_map(std::string(t) + dir + "/m");
            cr_assert(!r.ok(), "%s as %s opened", c.label, t);
            cr_expect(r.error().exit == Exit::config, "%s as %s: exit %d", c.label, t,
                      static_cast<int>(r.error().exit));
        }
    }
    cr_assert_eq(mkdir((dir + "/d.db").c_str(), 0700), 0);
    auto r = open_map("hash:" + dir + "/d");
    cr_assert(!r.ok());
    cr_expect_eq(r.error().message, dir + "/d.db: not a regular file");
    rm_rf(dir);
}

Test(map, wrong_kind_of_database) {
    std::string dir = temp_dir();
    make_db(MapType::btree, dir + "/b.db", {{"k", "v"}});
    make_db(MapType::hash, dir + "/h.db", {{"k", "v"}});
    auto r = open_map("hash:" + dir + "/b");
    cr_assert(!r.ok());
    cr_expect_eq(r.error().message, dir + "/b.db: is a btree database, not hash");
    r = open_map("btree:" + dir + "/h");
    cr_assert(!r.ok());
    cr_expect_eq(r.error().message, dir + "/h.db: is a hash database, not btree");
    rm_rf(dir);
}

Test(map, corrupt_file_is_an_error_not_a_crash) {
    std::string dir = temp_dir();
    std::vector<Rec> recs;
    recs.reserve(2000);
    for (int i = 0; i < 2000; ++i)
        recs.push_back({"key" + std::to_string(i), std::string(100, 'v')});
    make_db(MapType::hash, dir + "/m.db", recs);
    // The meta page overwritten: refused at open.
    {
        int fd = open((dir + "/m.db").c_str(), O_WRONLY);
        cr_assert(fd >= 0);
        std::string junk(512, 'J');
        cr_assert_eq(pwrite(fd, junk.data(), junk.size(), 0), 512);
        close(fd);
        auto r = open_map(dir + "/m");
        cr_assert(!r.ok());
        cr_expect(r.error().exit == Exit::config);
        cr_expect(r.error().message.find("not a Berkeley DB map") != std::string::npos, "%s",
                  r.error().message.c_str());
    }
    // Data pages truncated away: open may succeed; lookups answer or fail, never crash.
    make_db(MapType::hash, dir + "/t.db", recs);
    struct stat st {};
    cr_assert_eq(stat((dir + "/t.db").c_str(), &st), 0);
    cr_assert_eq(truncate((dir + "/t.db").c_str(), st.st_size / 3), 0);
    auto t = open_map(dir + "/t");
    if (t.ok()) {
        int answered = 0;
        for (int i = 0; i < 2000; i += 7) {
            auto r = t.value()->lookup("key" + std::to_string(i));
            if (r.ok() && r.value()) {
                cr_expect_eq(*r.value(), std::string(100, 'v'));
                ++answered;
            }
        }
        cr_expect(answered < 2000 / 7 + 1);
    }
    rm_rf(dir);
}

Test(map, empty_and_oversized_keys_are_not_found) {
    std::string dir = temp_dir();
    make_db(MapType::hash, dir + "/m.db", {{std::string("\0", 1), "nul"}, {"a", "b"}});
    auto m = open_map(dir + "/m");
    cr_assert(m.ok());
    cr_expect(!must_lookup(*m.value(), ""));
    cr_expect(!must_lookup(*m.value(), std::string(100000, 'a')));
    write_file(dir + "/t", "a b\n");
    auto t = open_map("text:" + dir + "/t");
    cr_assert(t.ok());
    cr_expect(!must_lookup(*t.value(), ""));
    rm_rf(dir);
}

struct BadLine {
    const char* label;
    std::string line;
    char sep;
    bool allow_empty;
    const char* error;
};

const BadLine kBadLines[] = {
    {"leading space", "  key value", '\0', false, "line 7: syntax error (leading space)"},
    {"leading tab", "\tkey value", '\0', false, "line 7: syntax error (leading space)"},
    {"no value", "key", '\0', false, "line 7: no RHS for LHS key"},
    {"only spaces after key", "Key   \t ", '\0', false, "line 7: no RHS for LHS key"},
    {"empty key with separator", ":value", ':', false, "line 7: empty key"},
    {"no value with separator", "key:", ':', false, "line 7: no RHS for LHS key"},
    {"nul byte", std::string("key va\0lue", 10), '\0', false, "line 7: NUL byte in line"},
    {"empty key, empty allowed", ":", ':', true, "line 7: empty key"},
};

Test(map, text_lines_bad) {
    for (const auto& c : kBadLines) {
        TextOptions opt;
        opt.separator = c.sep;
        opt.allow_empty = c.allow_empty;
        auto r = parse_text_line(c.line, 7, opt);
        cr_assert(!r.ok(), "%s: parsed", c.label);
        cr_expect(r.error().exit == Exit::data_err, "%s: exit", c.label);
        cr_expect_eq(r.error().message, std::string(c.error), "%s: got %s", c.label,
                     r.error().message.c_str());
    }
}

struct GoodLine {
    const char* label;
    const char* line;
    char sep;
    bool fold;
    bool allow_empty;
    bool skipped;
    const char* key;
    const char* value;
};

const GoodLine kGoodLines[] = {
    {"blank", "", '\0', true, false, true, "", ""},
    {"comment", "# Connect:1.2.3.4 OK", '\0', true, false, true, "", ""},
    {"cr only", "\r", '\0', true, false, true, "", ""},
    {"simple", "Connect:10.0.0.1 RELAY", '\0', true, false, false, "connect:10.0.0.1", "RELAY"},
    {"no folding (-f)", "Connect:10.0.0.1 RELAY", '\0', false, false, false, "Connect:10.0.0.1",
     "RELAY"},
    {"tabs and spaces", "From:spam.example\t \tERROR:550 go away  ", '\0', true, false, false,
     "from:spam.example", "ERROR:550 go away  "},
    {"crlf", "a b\r", '\0', true, false, false, "a", "b"},
    {"separator", "user@Example.ORG:local:bob", ':', true, false, false, "user@example.org",
     "local:bob"},
    {"separator keeps spaces in key", "a b:c", ':', true, false, false, "a b", "c"},
    {"empty allowed (-e)", "key", '\0', true, true, false, "key", ""},
    {"value with hash", "k v#1", '\0', true, false, false, "k", "v#1"},
};

Test(map, text_lines_good) {
    for (const auto& c : kGoodLines) {
        TextOptions opt;
        opt.separator = c.sep;
        opt.fold_case = c.fold;
        opt.allow_empty = c.allow_empty;
        auto r = parse_text_line(c.line, 1, opt);
        cr_assert(r.ok(), "%s: %s", c.label, r.ok() ? "" : r.error().message.c_str());
        cr_assert_eq(!r.value(), c.skipped, "%s: skipped", c.label);
        if (c.skipped) continue;
        cr_expect_eq(r.value()->key, std::string(c.key), "%s: key %s", c.label,
                     r.value()->key.c_str());
        cr_expect_eq(r.value()->value, std::string(c.value), "%s: value %s", c.label,
                     r.value()->value.c_str());
    }
}

Test(map, text_map_bad_line_names_file_and_line) {
    std::string dir = temp_dir();
    write_file(dir + "/t", "# c\na b\n bad\n");
    auto r = open_map("text:" + dir + "/t");
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::config);
    cr_expect_eq(r.error().message, dir + "/t: line 3: syntax error (leading space)");
    rm_rf(dir);
}

// ---- good inputs

Test(map, hash_and_btree_lookups_fold_keys) {
    std::string dir = temp_dir();
    for (MapType t : {MapType::hash, MapType::btree}) {
        std::string base = dir + "/" + map_type_name(t);
        make_db(t, base + ".db", {{"connect:10.0.0.1", "RELAY"}, {"from:spam.example", "REJECT"}});
        auto m = open_map(std::string(map_type_name(t)) + ":" + base);
        cr_assert(m.ok(), "%s", m.ok() ? "" : m.error().message.c_str());
        cr_expect_eq(m.value()->name(), std::string(map_type_name(t)) + ":" + base);
        cr_expect_eq(must_lookup(*m.value(), "Connect:10.0.0.1").value_or("-"), "RELAY");
        cr_expect_eq(must_lookup(*m.value(), "FROM:SPAM.EXAMPLE").value_or("-"), "REJECT");
        cr_expect(!must_lookup(*m.value(), "connect:10.0.0.2"));
    }
    rm_rf(dir);
}

Test(map, mixed_case_keys_of_makemap_f) {
    std::string dir = temp_dir();
    make_db(MapType::hash, dir + "/m.db",
            {{"Bob@Example.ORG", "exact"}, {"bob@example.org", "low"}});
    auto m = open_map(dir + "/m");
    cr_assert(m.ok());
    cr_expect_eq(must_lookup(*m.value(), "BOB@EXAMPLE.ORG").value_or("-"), "low");
    make_db(MapType::hash, dir + "/f.db", {{"Bob@Example.ORG", "exact"}});
    auto f = open_map(dir + "/f");
    cr_assert(f.ok());
    cr_expect_eq(must_lookup(*f.value(), "Bob@Example.ORG").value_or("-"), "exact");
    cr_expect(!must_lookup(*f.value(), "bob@example.org"));
    rm_rf(dir);
}

Test(map, keys_with_trailing_nul_of_makemap_n) {
    std::string dir = temp_dir();
    make_db(MapType::hash, dir + "/n.db",
            {{std::string("postmaster\0", 11), std::string("root\0", 5)},
             {std::string("@\0", 2), std::string("@\0", 2)}});
    auto m = open_map(dir + "/n");
    cr_assert(m.ok());
    for (int i = 0; i < 2; ++i) {  // twice: the remembered form must not hide the other
        cr_expect_eq(must_lookup(*m.value(), "PostMaster").value_or("-"), "root");
        cr_expect_eq(must_lookup(*m.value(), "@").value_or("-"), "@");
        cr_expect(!must_lookup(*m.value(), "nosuch"));
    }
    // A map with both forms: each key found whichever form it was stored in.
    make_db(MapType::btree, dir + "/both.db",
            {{std::string("a\0", 2), std::string("1\0", 2)}, {"b", "2"}});
    auto b = open_map("btree:" + dir + "/both");
    cr_assert(b.ok());
    for (int i = 0; i < 2; ++i) {
        cr_expect_eq(must_lookup(*b.value(), "b").value_or("-"), "2");
        cr_expect_eq(must_lookup(*b.value(), "a").value_or("-"), "1");
    }
    rm_rf(dir);
}

Test(map, huge_value_round_trip) {
    std::string dir = temp_dir();
    std::string big(4u * 1024u * 1024u, 'x');
    for (size_t i = 0; i < big.size(); i += 997)
        big[i] = static_cast<char>('a' + i % 26);
    make_db(MapType::hash, dir + "/m.db", {{"big", big}, {"small", "s"}});
    auto m = open_map(dir + "/m");
    cr_assert(m.ok());
    auto v = must_lookup(*m.value(), "big");
    cr_assert(v.has_value());
    cr_expect(*v == big, "value of %zu bytes differs", v->size());
    cr_expect_eq(must_lookup(*m.value(), "small").value_or("-"), "s");
    rm_rf(dir);
}

Test(map, text_map_first_line_wins) {
    std::string dir = temp_dir();
    write_file(dir + "/t", "# access\n\nConnect:1.2.3.4 REJECT\nconnect:1.2.3.4 OK\nx y z\n");
    auto m = open_map("text:" + dir + "/t");
    cr_assert(m.ok(), "%s", m.ok() ? "" : m.error().message.c_str());
    cr_expect_eq(must_lookup(*m.value(), "CONNECT:1.2.3.4").value_or("-"), "REJECT");
    cr_expect_eq(must_lookup(*m.value(), "x").value_or("-"), "y z");
    rm_rf(dir);
}

Test(map, for_each_record_gives_raw_records) {
    std::string dir = temp_dir();
    make_db(MapType::btree, dir + "/m.db", {{"b", std::string("2\0", 2)}, {"a", "1"}});
    std::vector<Rec> got;
    auto r = for_each_record("btree:" + dir + "/m", [&](std::string_view k, std::string_view v) {
        got.push_back({std::string(k), std::string(v)});
        return true;
    });
    cr_assert(r.ok());
    cr_assert_eq(got.size(), 2u);
    cr_expect_eq(got[0].key, "a");  // btree order
    cr_expect_eq(got[1].value, std::string("2\0", 2));
    auto missing =
        for_each_record(dir + "/nosuch", [](std::string_view, std::string_view) { return true; });
    cr_expect(!missing.ok() && missing.error().exit == Exit::no_input);
    rm_rf(dir);
}

// ---- MapRef

Test(map, mapref_unconfigured_missing_then_created_then_replaced) {
    MapRef none("");
    cr_expect(!none.configured());
    auto n = none.lookup("x");
    cr_expect(n.ok() && !n.value());

    std::string dir = temp_dir();
    MapRef ref("hash:" + dir + "/m");
    cr_expect(ref.configured());
    auto r = ref.lookup("k");
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::no_input);

    make_db(MapType::hash, dir + "/m.db", {{"k", "one"}});
    ref.invalidate();
    r = ref.lookup("k");
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect_eq(r.value().value_or("-"), "one");

    make_db(MapType::hash, dir + "/m.db", {{"k", "two"}});
    usleep(1100 * 1000);  // the once-a-second check, with no invalidate()
    r = ref.lookup("k");
    cr_assert(r.ok());
    cr_expect_eq(r.value().value_or("-"), "two");

    unlink((dir + "/m.db").c_str());
    ref.invalidate();
    r = ref.lookup("k");
    cr_expect(!r.ok() && r.error().exit == Exit::no_input);
    rm_rf(dir);
}

Test(map, mapref_text_map_reopened_on_size_change) {
    std::string dir = temp_dir();
    write_file(dir + "/t", "k one\n");
    MapRef ref("text:" + dir + "/t");
    cr_expect_eq(ref.lookup("k").value().value_or("-"), "one");
    write_file(dir + "/t", "k three\n");
    ref.invalidate();
    cr_expect_eq(ref.lookup("K").value().value_or("-"), "three");
    rm_rf(dir);
}

// ---- writer

Test(map, writer_refuses_bad_options_and_paths) {
    std::string dir = temp_dir();
    auto r = MapWriter::create(MapType::text, dir + "/m", WriteOptions{});
    cr_expect(!r.ok() && r.error().exit == Exit::usage);
    r = MapWriter::create(MapType::hash, dir + "/nosuchdir/m.db", WriteOptions{});
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::cant_create, "exit %d", static_cast<int>(r.error().exit));
    cr_expect(dir_entries(dir).empty());
    rm_rf(dir);
}

Test(map, writer_duplicates_replace_and_dups) {
    std::string dir = temp_dir();
    auto w = MapWriter::create(MapType::hash, dir + "/m.db", WriteOptions{});
    cr_assert(w.ok());
    cr_expect(w.value()->put("k", "1", false).value());
    cr_expect(!w.value()->put("k", "2", false).value(), "duplicate refused");
    cr_expect(w.value()->put("k", "3", true).value(), "replace");
    cr_assert(w.value()->commit().ok());
    cr_expect(!w.value()->put("x", "y", false).ok(), "put after commit");
    auto m = open_map(dir + "/m");
    cr_expect_eq(must_lookup(*m.value(), "k").value_or("-"), "3");

    WriteOptions dups;
    dups.allow_dups = true;
    auto d = MapWriter::create(MapType::btree, dir + "/d.db", dups);
    cr_assert(d.ok());
    cr_expect(d.value()->put("k", "1", false).value());
    cr_expect(d.value()->put("k", "2", false).value());
    cr_assert(d.value()->commit().ok());
    int n = 0;
    cr_assert(for_each_record("btree:" + dir + "/d", [&](std::string_view, std::string_view) {
                  ++n;
                  return true;
              }).ok());
    cr_expect_eq(n, 2);
    rm_rf(dir);
}

Test(map, writer_uncommitted_leaves_old_map_and_no_temporary) {
    std::string dir = temp_dir();
    make_db(MapType::hash, dir + "/m.db", {{"k", "old"}});
    {
        auto w = MapWriter::create(MapType::hash, dir + "/m.db", WriteOptions{});
        cr_assert(w.ok());
        cr_expect(w.value()->put("k", "new", false).value());
        cr_expect_eq(dir_entries(dir).size(), 2u, "the temporary beside the map");
    }
    auto names = dir_entries(dir);
    cr_assert_eq(names.size(), 1u);
    cr_expect_eq(names[0], "m.db");
    auto m = open_map(dir + "/m");
    cr_expect_eq(must_lookup(*m.value(), "k").value_or("-"), "old");
    rm_rf(dir);
}

Test(map, writer_reader_keeps_old_file_open_across_replace) {
    std::string dir = temp_dir();
    make_db(MapType::hash, dir + "/m.db", {{"k", "old"}});
    auto m = open_map(dir + "/m");
    cr_assert(m.ok());
    make_db(MapType::hash, dir + "/m.db", {{"k", "new"}});
    cr_expect_eq(must_lookup(*m.value(), "k").value_or("-"), "old",
                 "open handle reads whole old map");
    auto m2 = open_map(dir + "/m");
    cr_expect_eq(must_lookup(*m2.value(), "k").value_or("-"), "new");
    rm_rf(dir);
}

Test(map, writer_modes_new_0640_replaced_keeps_mode) {
    std::string dir = temp_dir();
    mode_t old_umask = umask(0);
    make_db(MapType::hash, dir + "/m.db", {{"k", "v"}});
    struct stat st {};
    cr_assert_eq(stat((dir + "/m.db").c_str(), &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0640u, "mode %o", st.st_mode & 07777);
    cr_assert_eq(chmod((dir + "/m.db").c_str(), 0600), 0);
    make_db(MapType::hash, dir + "/m.db", {{"k", "v2"}});
    cr_assert_eq(stat((dir + "/m.db").c_str(), &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0600u, "mode %o", st.st_mode & 07777);
    umask(old_umask);
    rm_rf(dir);
}

Test(map, writer_append_keeps_old_records) {
    std::string dir = temp_dir();
    make_db(MapType::btree, dir + "/m.db", {{"a", "1"}, {"b", "2"}});
    WriteOptions app;
    app.append = true;
    auto w = MapWriter::create(MapType::btree, dir + "/m.db", app);
    cr_assert(w.ok(), "%s", w.ok() ? "" : w.error().message.c_str());
    cr_expect(!w.value()->put("a", "x", false).value(), "old key is a duplicate");
    cr_expect(w.value()->put("c", "3", false).value());
    cr_assert(w.value()->commit().ok());
    auto m = open_map("btree:" + dir + "/m");
    cr_expect_eq(must_lookup(*m.value(), "a").value_or("-"), "1");
    cr_expect_eq(must_lookup(*m.value(), "b").value_or("-"), "2");
    cr_expect_eq(must_lookup(*m.value(), "c").value_or("-"), "3");
    rm_rf(dir);
}

// ---- maps written by Debian's sendmail-bin 8.17.1.9 makemap (fixtures/README)

namespace {

std::string fixture(const char* name) {
    std::string here = __FILE__;
    return here.substr(0, here.rfind('/')) + "/fixtures/" + name;
}

}  // namespace

Test(map, reads_sendmail_makemap_files) {
    struct Case {
        const char* spec;
        const char* key;
        const char* value;
    };
    const Case cases[] = {
        {"hash:sendmail-hash", "Connect:10.0.0.1", "RELAY"},
        {"hash:sendmail-hash", "FROM:spam.example", "ERROR:550 5.7.1 go away"},
        {"hash:sendmail-hash", "to:user@example.org", "OK"},
        {"hash:sendmail-nul", "Connect:10.0.0.1", "RELAY"},
        {"hash:sendmail-nul", "From:Spam.Example", "ERROR:550 5.7.1 go away"},
        {"btree:sendmail-btree-f", "Connect:10.0.0.1", "RELAY"},
        {"btree:sendmail-btree-f", "To:User@Example.ORG", "OK"},
    };
    for (const auto& c : cases) {
        std::string spec = c.spec;
        size_t colon = spec.find(':');
        spec = spec.substr(0, colon + 1) + fixture(spec.substr(colon + 1).c_str());
        auto m = open_map(spec);
        cr_assert(m.ok(), "%s: %s", c.spec, m.ok() ? "" : m.error().message.c_str());
        cr_expect_eq(must_lookup(*m.value(), c.key).value_or("-"), std::string(c.value), "%s %s",
                     c.spec, c.key);
    }
    auto f = open_map("btree:" + fixture("sendmail-btree-f"));
    cr_assert(f.ok());
    cr_expect(!must_lookup(*f.value(), "to:user@example.org"), "-f map keeps case");
    auto wrong = open_map("btree:" + fixture("sendmail-hash"));
    cr_expect(!wrong.ok() && wrong.error().exit == Exit::config);
}
