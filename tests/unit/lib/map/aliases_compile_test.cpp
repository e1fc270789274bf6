// aliases_compile_test.cpp - unit tests for lib/map/aliases_compile.cpp (newaliases)
// and for AliasFile reading the compiled map (lib/map/aliases.cpp): bad inputs first
// (missing source, a parse error that must leave the old map alone, an unsafe
// directory, a map without sendmail's "@" sentinel), then the stored format, the
// summary line, and which of map and text AliasFile believes.
#include "lib/map/aliases_compile.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "lib/map/aliases.hpp"
#include "lib/map/map.hpp"
#include "lib/map/map_writer.hpp"
#include "tests/unit/test_files.hpp"

using namespace tegami;

namespace {

using tegami::test::rm_rf;
using tegami::test::write_file;

std::string temp_dir() {
    return tegami::test::temp_dir("tegami-newaliases");
}

std::map<std::string, std::string> records(const std::string& db_base) {
    std::map<std::string, std::string> out;
    auto r = map::for_each_record("hash:" + db_base, [&](std::string_view k, std::string_view v) {
        out.emplace(std::string(k), std::string(v));
        return true;
    });
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    return out;
}

std::string fixture(const char* name) {
    std::string here = __FILE__;
    return here.substr(0, here.rfind('/')) + "/fixtures/" + name;
}

}  // namespace

Test(newaliases, missing_source) {
    std::string dir = temp_dir();
    auto r = compile_aliases(dir + "/aliases");
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::no_input);
    rm_rf(dir);
}

Test(newaliases, parse_error_names_line_and_keeps_old_map) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    write_file(a, "postmaster: root\n");
    cr_assert(compile_aliases(a).ok());
    write_file(a, "postmaster: bob\nbroken line\n");
    auto r = compile_aliases(a);
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::data_err);
    cr_expect_eq(r.error().message, a + ":2: missing ':' after alias name");
    auto recs = records(a);
    cr_expect_eq(recs[std::string("postmaster\0", 11)], std::string("root\0", 5), "old map kept");
    rm_rf(dir);
}

Test(newaliases, world_writable_directory_refused) {
    std::string dir = temp_dir();
    cr_assert_eq(chmod(dir.c_str(), 0777), 0);
    write_file(dir + "/aliases", "postmaster: root\n");
    auto r = compile_aliases(dir + "/aliases");
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::software);
    cr_expect(access((dir + "/aliases.db").c_str(), F_OK) != 0);
    rm_rf(dir);
}

Test(newaliases, sendmail_format_and_summary) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    write_file(a,
               "# comment\nPostmaster: root\nstaff: alice,\n  bob, \"|/usr/bin/vacation -a x, "
               "y\"\nlog: /var/log/copy, :include:/etc/mail/list\n");
    chmod(a.c_str(), 0644);
    auto r = compile_aliases(a);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    auto recs = records(a);
    cr_expect_eq(recs.size(), 4u);
    cr_expect_eq(recs[std::string("@\0", 2)], std::string("@\0", 2), "sentinel");
    cr_expect_eq(recs[std::string("postmaster\0", 11)], std::string("root\0", 5));
    cr_expect_eq(recs[std::string("staff\0", 6)],
                 std::string("alice, bob, \"|/usr/bin/vacation -a x, y\"\0", 41));
    cr_expect_eq(recs[std::string("log\0", 4)],
                 std::string("/var/log/copy, :include:/etc/mail/list\0", 39));
    cr_expect_eq(r.value().aliases, 3u);
    cr_expect_eq(r.value().longest, 40u);
    cr_expect_eq(r.value().bytes, 10u + 4u + 5u + 40u + 3u + 38u);
    cr_expect_eq(aliases_summary_line("/etc/aliases", r.value()),
                 "/etc/aliases: 3 aliases, longest 40 bytes, 100 bytes total");
    struct stat st {};
    cr_assert_eq(stat((a + ".db").c_str(), &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0644u, "as readable as the source: %o", st.st_mode & 0777);
    rm_rf(dir);
}

Test(newaliases, run_newaliases_exit_codes) {
    std::string dir = temp_dir();
    std::string conf = dir + "/t.conf";
    FILE* devnull = std::fopen("/dev/null", "w");
    cr_expect_eq(run_newaliases(dir + "/nosuch.conf", "newaliases", devnull, devnull), 78);
    write_file(conf, "aliases = " + dir + "/aliases\n");
    cr_expect_eq(run_newaliases(conf, "newaliases", devnull, devnull), 66);
    write_file(dir + "/aliases", "x\n");
    cr_expect_eq(run_newaliases(conf, "newaliases", devnull, devnull), 65);
    write_file(dir + "/aliases", "postmaster: root\n");
    cr_expect_eq(run_newaliases(conf, "newaliases", devnull, devnull), 0);
    // A name defined twice: built (exit 0), the warning on stderr, the later entry used.
    write_file(dir + "/aliases", "postmaster: root\nstaff: a\nstaff: b\n");
    std::FILE* err = std::tmpfile();
    cr_expect_eq(run_newaliases(conf, "newaliases", devnull, err), 0);
    std::rewind(err);
    char line[512] = {};
    cr_expect(std::fgets(line, sizeof line, err) != nullptr);
    cr_expect(std::string(line).find("newaliases: warning: " + dir +
                                     "/aliases:3: duplicate alias \"staff\"") == 0,
              "%s", line);
    std::fclose(err);
    AliasFile af(dir + "/aliases");
    cr_assert(af.refresh().ok());
    const auto* t = af.find("staff");
    cr_assert(t != nullptr);
    cr_expect(*t == std::vector<std::string>{"b"});
    std::fclose(devnull);
    rm_rf(dir);
}

Test(alias_map, compiled_map_preferred_over_text) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    write_file(a, "postmaster: root\nstaff: alice, \"|/bin/prog a, b\"\n");
    cr_assert(compile_aliases(a).ok());
    write_file(a, "postmaster: textonly\n");  // newer than the map: map still wins
    AliasFile f(a);
    cr_assert(f.refresh().ok());
    cr_expect(f.from_map());
    cr_assert(f.find("POSTMASTER") != nullptr);
    cr_expect_eq((*f.find("postmaster"))[0], "root");
    const auto* staff = f.find("staff");
    cr_assert(staff != nullptr);
    cr_assert_eq(staff->size(), 2u);
    cr_expect_eq((*staff)[1], "|/bin/prog a, b");
    cr_expect(f.find("@") == nullptr, "the sentinel is not an alias");

    // Rebuilt map seen at the next refresh.
    cr_assert(compile_aliases(a).ok());
    cr_assert(f.refresh().ok());
    cr_expect_eq((*f.find("postmaster"))[0], "textonly");
    cr_expect(f.find("staff") == nullptr);

    // Map removed: back to the text.
    unlink((a + ".db").c_str());
    write_file(a, "postmaster: fromtext\n");
    cr_assert(f.refresh().ok());
    cr_expect(!f.from_map());
    cr_expect_eq((*f.find("postmaster"))[0], "fromtext");
    rm_rf(dir);
}

Test(alias_map, map_without_sentinel_not_used) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    write_file(a, "postmaster: fromtext\n");
    AliasFile f(a);
    cr_assert(f.refresh().ok());
    auto w = map::MapWriter::create(map::MapType::hash, a + ".db", map::WriteOptions{});
    cr_assert(w.ok());
    cr_assert(
        w.value()->put(std::string("postmaster\0", 11), std::string("half\0", 5), false).ok());
    cr_assert(w.value()->commit().ok());
    auto r = f.refresh();
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::temp_fail);
    cr_expect_eq((*f.find("postmaster"))[0], "fromtext", "previous table kept");
    rm_rf(dir);
}

Test(alias_map, corrupt_map_is_an_error_and_keeps_table) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    write_file(a, "postmaster: root\n");
    cr_assert(compile_aliases(a).ok());
    AliasFile f(a);
    cr_assert(f.refresh().ok());
    write_file(a + ".db", "this is not a database\n");
    cr_expect(!f.refresh().ok());
    cr_expect_eq((*f.find("postmaster"))[0], "root");
    rm_rf(dir);
}

Test(alias_map, reads_sendmail_written_aliases_db) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    std::string cmd = "cp '" + fixture("sendmail-aliases.db") + "' '" + a + ".db'";
    cr_assert_eq(system(cmd.c_str()), 0);
    AliasFile f(a);  // no text file at all
    auto r = f.refresh();
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_assert(f.find("Staff") != nullptr);
    cr_expect_eq(f.find("staff")->size(), 3u);
    cr_expect_eq((*f.find("staff"))[2], "|/usr/bin/vacation -a x, y");
    cr_expect_eq((*f.find("postmaster"))[0], "root");
    rm_rf(dir);
}

Test(alias_map, reads_aliases_db_written_by_sendmail_newaliases) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    std::string cmd = "cp '" + fixture("sendmail-newaliases.db") + "' '" + a + ".db'";
    cr_assert_eq(system(cmd.c_str()), 0);
    AliasFile f(a);
    auto r = f.refresh();
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect(f.from_map());
    cr_expect_eq(f.table().entries.size(), 3u);
    const auto* staff = f.find("STAFF");
    cr_assert(staff != nullptr);
    cr_assert_eq(staff->size(), 3u);
    cr_expect_eq((*staff)[0], "alice");
    cr_expect_eq((*staff)[1], "bob");
    cr_expect_eq((*staff)[2], "|/usr/bin/vacation -a x, y");
    cr_expect_eq((*f.find("mailer-daemon"))[0], "postmaster");
    rm_rf(dir);
}

Test(alias_map, unreadable_records_are_skipped_others_kept) {
    std::string dir = temp_dir();
    std::string a = dir + "/aliases";
    auto w = map::MapWriter::create(map::MapType::hash, a + ".db", map::WriteOptions{});
    cr_assert(w.ok());
    auto put = [&](const std::string& k, const std::string& v) {
        cr_assert(w.value()->put(k + std::string(1, '\0'), v + std::string(1, '\0'), false).ok());
    };
    put("good", "alice");
    put("bad key", "bob");
    put("colon:key", "bob");
    put("quote", "\"|unterminated");
    put("empty", "");
    put("multi", "carol,\n\tdave");
    put("@", "@");
    cr_assert(w.value()->commit().ok());
    AliasFile f(a);
    cr_assert(f.refresh().ok());
    cr_expect_eq(f.table().entries.size(), 2u);
    cr_expect_eq((*f.find("good"))[0], "alice");
    cr_assert(f.find("multi") != nullptr);
    cr_expect_eq(f.find("multi")->size(), 2u);
    cr_expect(f.find("quote") == nullptr);
    cr_expect(f.find("empty") == nullptr);
    cr_expect(f.find("colon") == nullptr);
    rm_rf(dir);
}
