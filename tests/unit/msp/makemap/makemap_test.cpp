// makemap_test.cpp - unit tests for msp/makemap/makemap.cpp: makemap::run driven with
// in-memory input and output over real Berkeley DB files; bad input first (bad lines
// named by number, duplicates, unwritable and missing maps), then every flag's effect
// checked by reading the map back through lib/map and by -u.
#include "msp/makemap/makemap.hpp"
#include "tests/unit/test_files.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using namespace tegami;

namespace {

using tegami::test::rm_rf;

std::string temp_dir() {
    return tegami::test::temp_dir("tegami-makemap");
}

struct Run {
    int rc;
    std::string out;
    std::string err;
};

Run run(const makemap::Options& opt, const std::string& input) {
    std::string in_copy = input;
    std::FILE* in = in_copy.empty() ? std::fopen("/dev/null", "r")
                                    : fmemopen(in_copy.data(), in_copy.size(), "r");
    char* out_buf = nullptr;
    size_t out_len = 0;
    char* err_buf = nullptr;
    size_t err_len = 0;
    std::FILE* out = open_memstream(&out_buf, &out_len);
    std::FILE* err = open_memstream(&err_buf, &err_len);
    int rc = makemap::run(opt, in, out, err);
    std::fclose(in);
    std::fclose(out);
    std::fclose(err);
    Run r{rc, std::string(out_buf, out_len), std::string(err_buf, err_len)};
    free(out_buf);
    free(err_buf);
    return r;
}

makemap::Options opts(const std::string& map, map::MapType type = map::MapType::hash) {
    makemap::Options o;
    o.type = type;
    o.map_name = map;
    return o;
}

std::string dump(makemap::Options o) {
    o.dump = true;
    Run r = run(o, "");
    cr_expect_eq(r.rc, 0, "dump: %s", r.err.c_str());
    return r.out;
}

}  // namespace

Test(makemap, bad_lines_are_named_and_skipped) {
    std::string dir = temp_dir();
    std::string m = dir + "/access";
    Run r = run(opts(m, map::MapType::btree), "# ok\n good 1\nnovalue\nk v\n\tx y\nk2 v2");
    cr_expect_eq(r.rc, 65);
    cr_expect_eq(r.err, "makemap: " + m + ": line 2: syntax error (leading space)\n" +
                            "makemap: " + m + ": line 3: no RHS for LHS novalue\n" +
                            "makemap: " + m + ": line 5: syntax error (leading space)\n");
    cr_expect_eq(dump(opts(m, map::MapType::btree)),
                 "k\tv\nk2\tv2\n");  // built from the good lines
    rm_rf(dir);
}

Test(makemap, duplicate_key_warns_and_keeps_first) {
    std::string dir = temp_dir();
    std::string m = dir + "/access";
    Run r = run(opts(m, map::MapType::btree), "a 1\nA 2\nb 3\n");
    cr_expect_eq(r.rc, 65);
    cr_expect_eq(r.err, "makemap: " + m + ": line 2: key a: duplicate key\n");
    cr_expect_eq(dump(opts(m, map::MapType::btree)), "a\t1\nb\t3\n");
    rm_rf(dir);
}

Test(makemap, unwritable_and_missing_maps) {
    std::string dir = temp_dir();
    Run r = run(opts(dir + "/nosuchdir/m"), "a 1\n");
    cr_expect_eq(r.rc, 73);
    cr_expect(r.err.rfind("makemap: error opening type hash map " + dir + "/nosuchdir/m: ", 0) == 0,
              "%s", r.err.c_str());
    makemap::Options d = opts(dir + "/nosuch");
    d.dump = true;
    r = run(d, "");
    cr_expect_eq(r.rc, 73);
    cr_expect(r.err.find("No such file or directory") != std::string::npos, "%s", r.err.c_str());
    // A map of the wrong kind is not dumped as if it were one.
    cr_expect_eq(run(opts(dir + "/h"), "a 1\n").rc, 0);
    makemap::Options b = opts(dir + "/h", map::MapType::btree);
    b.dump = true;
    cr_expect_eq(run(b, "").rc, 73);
    rm_rf(dir);
}

Test(makemap, keys_folded_unless_f) {
    std::string dir = temp_dir();
    std::string m = dir + "/m";
    cr_expect_eq(run(opts(m, map::MapType::btree), "Connect:10.0.0.1 RELAY\n").rc, 0);
    cr_expect_eq(dump(opts(m, map::MapType::btree)), "connect:10.0.0.1\tRELAY\n");
    makemap::Options f = opts(m, map::MapType::btree);
    f.fold_case = false;
    cr_expect_eq(run(f, "Connect:10.0.0.1 RELAY\n").rc, 0);
    cr_expect_eq(dump(f), "Connect:10.0.0.1\tRELAY\n");
    rm_rf(dir);
}

Test(makemap, replace_append_empty_nul_separator_comment_verbose_dups) {
    std::string dir = temp_dir();
    std::string m = dir + "/m";
    // -r: the last line for a key wins, no warning.
    makemap::Options r = opts(m, map::MapType::btree);
    r.replace = true;
    Run x = run(r, "a 1\na 2\n");
    cr_expect_eq(x.rc, 0, "%s", x.err.c_str());
    cr_expect_eq(dump(r), "a\t2\n");
    // -o: records added to the old map.
    makemap::Options o = opts(m, map::MapType::btree);
    o.append = true;
    cr_expect_eq(run(o, "b 3\n").rc, 0);
    cr_expect_eq(dump(o), "a\t2\nb\t3\n");
    // -e: an empty value is allowed.
    makemap::Options e = opts(m, map::MapType::btree);
    e.allow_empty = true;
    cr_expect_eq(run(e, "k\n").rc, 0);
    cr_expect_eq(dump(e), "k\t\n");
    // -N: key and value stored with their NUL; -u prints them without.
    makemap::Options n = opts(m);
    n.include_nul = true;
    cr_expect_eq(run(n, "PostMaster root\n").rc, 0);
    cr_expect_eq(dump(n), "postmaster\troot\n");
    auto mp = map::open_map(m);
    cr_assert(mp.ok());
    cr_expect_eq(mp.value()->lookup("postmaster").value().value_or("-"), "root");
    // -t: the delimiter splits input and joins the dump.
    makemap::Options t = opts(m, map::MapType::btree);
    t.separator = ':';
    cr_expect_eq(run(t, "user@example.org:local:bob x\n").rc, 0);
    cr_expect_eq(dump(t), "user@example.org:local:bob x\n");
    // -D: another comment character; "#" is then data.
    makemap::Options c = opts(m, map::MapType::btree);
    c.comment = '%';
    cr_expect_eq(run(c, "%comment\n#x 1\n").rc, 0);
    cr_expect_eq(dump(c), "#x\t1\n");
    // -v: each record echoed.
    makemap::Options v = opts(m, map::MapType::btree);
    v.verbose = true;
    cr_expect_eq(run(v, "A 1\n").out, "key=`a', val=`1'\n");
    // -d: several values for one key.
    makemap::Options d = opts(m, map::MapType::btree);
    d.allow_dups = true;
    cr_expect_eq(run(d, "a 1\na 2\n").rc, 0);
    cr_expect_eq(dump(d), "a\t1\na\t2\n");
    // -c: a cache size is accepted and the map still works.
    makemap::Options cs = opts(m);
    cs.cache_size = 1024 * 1024;
    cr_expect_eq(run(cs, "z 26\n").rc, 0);
    cr_expect_eq(dump(cs), "z\t26\n");
    rm_rf(dir);
}

Test(makemap, long_lines_and_many_records) {
    std::string dir = temp_dir();
    std::string m = dir + "/m";
    std::string in = "long " + std::string(100000, 'v') + "\n";
    for (int i = 0; i < 5000; ++i)
        in += "key" + std::to_string(i) + " value" + std::to_string(i) + "\n";
    Run r = run(opts(m), in);
    cr_expect_eq(r.rc, 0, "%s", r.err.c_str());
    auto mp = map::open_map(m);
    cr_assert(mp.ok());
    cr_expect_eq(mp.value()->lookup("long").value().value_or("").size(), 100000u);
    cr_expect_eq(mp.value()->lookup("KEY4999").value().value_or("-"), "value4999");
    rm_rf(dir);
}
