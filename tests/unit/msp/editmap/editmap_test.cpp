// editmap_test.cpp - tests for msp/editmap/editmap.cpp against real Berkeley DB files in
// a scratch directory: bad inputs first (missing map, missing key), then query, update,
// delete, -N and -f.
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lib/core/sysexits.hpp"
#include "lib/map/map_writer.hpp"
#include "msp/editmap/editmap.hpp"

using namespace tegami;

namespace {

std::string scratch() {
    char tmpl[] = "/tmp/editmap-test.XXXXXX";
    const char* d = mkdtemp(tmpl);
    cr_assert(d);
    return d;
}

void make_map(const std::string& path, bool nul) {
    auto w = map::MapWriter::create(map::MapType::hash, path + ".db", {});
    cr_assert(w);
    std::string k = "connect:10.0.0.1", v = "REJECT";
    if (nul) {
        k.push_back('\0');
        v.push_back('\0');
    }
    cr_assert(w.value()->put(k, v, false));
    cr_assert(w.value()->commit());
}

struct Out {
    int rc;
    std::string out, err;
};

Out run(editmap::Mode mode, const std::string& map, const std::string& key,
        const std::string& value = "", bool nul = false, bool fold = true) {
    editmap::Options o;
    o.mode = mode;
    o.map_name = map;
    o.key = key;
    o.value = value;
    o.include_nul = nul;
    o.fold_case = fold;
    char* ob = nullptr;
    char* eb = nullptr;
    size_t on = 0, en = 0;
    std::FILE* out = open_memstream(&ob, &on);
    std::FILE* err = open_memstream(&eb, &en);
    int rc = editmap::run(o, out, err);
    std::fclose(out);
    std::fclose(err);
    Out r{rc, ob ? ob : "", eb ? eb : ""};
    std::free(ob);
    std::free(eb);
    return r;
}

}  // namespace

Test(editmap, bad_inputs_get_sendmails_exit_codes) {
    std::string d = scratch();
    Out r = run(editmap::Mode::query, d + "/nosuch", "k");
    cr_expect_eq(r.rc, EX_CANTCREAT, "%s", r.err.c_str());
    cr_expect(r.err.find("error opening type hash map") != std::string::npos);
    r = run(editmap::Mode::update, d + "/nosuch", "k", "v");
    cr_expect_eq(r.rc, EX_CANTCREAT);
    struct stat st;
    cr_expect(::stat((d + "/nosuch.db").c_str(), &st) != 0, "a missing map is not created");
    make_map(d + "/access", false);
    r = run(editmap::Mode::query, d + "/access", "connect:10.9.9.9");
    cr_expect_eq(r.rc, EX_UNAVAILABLE);
    cr_expect_eq(r.out, "");
    r = run(editmap::Mode::remove, d + "/access", "connect:10.9.9.9");
    cr_expect_eq(r.rc, EX_IOERR);
    cr_expect(r.err.find("not found") != std::string::npos, "%s", r.err.c_str());
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "connect:10.0.0.1").out, "REJECT\n",
                 "a failed delete leaves the map as it was");
}

Test(editmap, query_update_delete) {
    std::string d = scratch();
    make_map(d + "/access", false);
    ::chmod((d + "/access.db").c_str(), 0640);
    Out r = run(editmap::Mode::query, d + "/access", "Connect:10.0.0.1");
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(r.out, "REJECT\n");
    r = run(editmap::Mode::update, d + "/access", "From:Spam@X.example", "ERROR:550 go away");
    cr_expect_eq(r.rc, 0, "%s", r.err.c_str());
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "from:spam@x.example").out,
                 "ERROR:550 go away\n", "keys are folded to lower case, as makemap does");
    r = run(editmap::Mode::update, d + "/access", "connect:10.0.0.1", "OK");
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "connect:10.0.0.1").out, "OK\n",
                 "-u replaces");
    r = run(editmap::Mode::remove, d + "/access", "CONNECT:10.0.0.1");
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "connect:10.0.0.1").rc, EX_UNAVAILABLE);
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "from:spam@x.example").rc, 0,
                 "the other keys stay");
    struct stat st;
    cr_assert(::stat((d + "/access.db").c_str(), &st) == 0);
    cr_expect_eq(st.st_mode & 07777, 0640u, "the map keeps its mode");
    r = run(editmap::Mode::update, d + "/access", "Exact:Case", "v", false, false);
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(run(editmap::Mode::query, d + "/access", "Exact:Case", "", false, false).out,
                 "v\n", "-f keeps the case");
}

Test(editmap, nul_terminated_maps) {
    std::string d = scratch();
    make_map(d + "/virt", true);
    cr_expect_eq(run(editmap::Mode::query, d + "/virt", "connect:10.0.0.1").out, "REJECT\n");
    cr_expect_eq(run(editmap::Mode::update, d + "/virt", "a@b", "c", true).rc, 0);
    cr_expect_eq(run(editmap::Mode::query, d + "/virt", "a@b", "", true).out, "c\n");
    cr_expect_eq(run(editmap::Mode::remove, d + "/virt", "a@b", "", true).rc, 0);
    cr_expect_eq(run(editmap::Mode::remove, d + "/virt", "connect:10.0.0.1", "", false).rc,
                 EX_IOERR, "-x without -N does not match the NUL-terminated key");
}
