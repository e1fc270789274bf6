// durable_names_test.cpp - the Berkeley DB store's handling of names and of an
// unrecoverable store (queue/store_bdb.cpp, queue/name_sync.cpp): the "past end of log"
// parser (bad lines first), small log files switching and syncing queue_dir at each
// switch, and a store whose last log file was lost: opening it fails with EX_DATAERR and
// the one message that names the file, the LSN and the recovery steps.
#include <criterion/criterion.h>
#include <dirent.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lib/core/log.hpp"
#include "queue/name_sync.hpp"
#include "queue/store.hpp"

using namespace tegami::queue;

namespace {

struct LineCase {
    const char* line;
    bool found;
    const char* file;
    const char* lsn;
};

const LineCase kLines[] = {
    {"", false, "", ""},
    {"BDB0061 PANIC: Invalid argument", false, "", ""},
    {"BDB2506 file envelopes.db has LSN 3/294818", false, "", ""},
    {"past end of log", true, "", ""},
    {"BDB2506 file envelopes.db has LSN 3/294818, past end of log at 2/28", true, "envelopes.db",
     "3/294818"},
    {"BDB2506 file bodies.db has LSN 12/7, past end of log at 11/1024", true, "bodies.db", "12/7"},
    {"has LSN 1/2, past end of log", true, "", "1/2"},
};

std::vector<std::string> log_files(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::string n = e.path().filename();
        if (n.starts_with("log.")) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string temp_dir() {
    char tmpl[] = "/tmp/tegami-names-test.XXXXXX";
    char* d = mkdtemp(tmpl);
    cr_assert(d != nullptr);
    return d;
}

Envelope env_of(int i) {
    Envelope e;
    char qid[17];
    std::snprintf(qid, sizeof qid, "%016d", i);
    e.queue_id = qid;
    e.sender = "a@example.org";
    e.arrival = 1700000000;
    e.protocol = "ESMTP";
    Recipient r;
    r.address = "b@example.org";
    e.recipients.push_back(r);
    return e;
}

// Puts n messages of about 4 KiB each and flushes.
void fill(QueueStore& s, int from, int n) {
    std::string body(4000, 'b');
    std::string err;
    for (int i = from; i < from + n; ++i)
        cr_assert_eq(s.put(env_of(i), body, err), PutStatus::ok, "%s", err.c_str());
    cr_assert(s.flush().ok());
}

// Whether the file holds nothing but zero bytes; *size is its size.
bool all_zeros(const std::string& path, uintmax_t* size) {
    *size = std::filesystem::file_size(path);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    bool zero = true;
    int c;
    while (zero && (c = std::fgetc(f)) != EOF)
        zero = c == 0;
    std::fclose(f);
    return zero;
}

}  // namespace

Test(durable_names, parse_unrecoverable_table) {
    for (const auto& c : kLines) {
        auto u = parse_unrecoverable(c.line);
        cr_expect_eq(u.found, c.found, "\"%s\"", c.line);
        cr_expect_eq(u.file, std::string(c.file), "\"%s\"", c.line);
        cr_expect_eq(u.lsn, std::string(c.lsn), "\"%s\"", c.line);
    }
}

Test(durable_names, message_names_file_lsn_and_steps) {
    std::string m = unrecoverable_message("/q", UnrecoverableStore{true, "envelopes.db", "3/9"});
    for (const char* want :
         {"/q", "envelopes.db", "LSN 3/9", "db_recover -c -h /q", "mv /q /q.broken"})
        cr_expect(m.find(want) != std::string::npos, "\"%s\" not in: %s", want, m.c_str());
    m = unrecoverable_message("/q", UnrecoverableStore{true, "", ""});
    cr_expect(m.find("a database has an LSN") != std::string::npos, "%s", m.c_str());
}

// With 256 KiB log files, ~1.5 MiB of messages switch log files several times; each
// log file they add costs one directory fsync in the hook, and the store reopens intact.
Test(durable_names, log_switches_sync_the_directory) {
    std::string dir = temp_dir() + "/q";
    uint64_t before = 0;
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok(), "%s", s.ok() ? "" : s.error().message.c_str());
        // Creating the databases may already have switched log files (their first
        // pages are logged whole): count only the files the messages add.
        size_t opened_with = log_files(dir).size();
        before = name_sync_stats().dir_syncs;
        fill(**s, 0, 400);
        size_t added = log_files(dir).size() - opened_with;
        uint64_t syncs = name_sync_stats().dir_syncs - before;
        cr_expect_geq(added, 5u, "%zu log files added", added);
        cr_expect_geq(syncs, added, "%zu new log files, %lu directory fsyncs", added,
                      static_cast<unsigned long>(syncs));
        cr_expect((*s)->close().ok());
    }
    auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
    cr_assert(s.ok());
    int n = 0;
    (void)(*s)->scan([&](Envelope&&) { ++n; }, [](const tegami::Error&) { cr_expect(false); });
    cr_expect_eq(n, 400);
    s->reset();
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

// The reclaimer's upkeep (maintain) writes the next log file ahead: all zeros, the log
// file size, linked in under Berkeley DB's name, no temporary left. Messages then switch
// into it, the one after is made ready in turn, and a store closed with a ready file
// unused (or with a leftover temporary) reopens with every message and takes more.
Test(durable_names, the_next_log_file_is_written_ahead) {
    std::string dir = temp_dir() + "/q";
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok(), "%s", s.ok() ? "" : s.error().message.c_str());
        fill(**s, 0, 10);
        std::string last_before = log_files(dir).back();
        (*s)->maintain();
        auto files = log_files(dir);
        cr_assert_gt(files.back(), last_before, "no log file after %s", last_before.c_str());
        uintmax_t size = 0;
        cr_expect(all_zeros(dir + "/" + files.back(), &size), "%s", files.back().c_str());
        cr_expect_eq(size, kMinLogFileSize);
        cr_expect_not(std::filesystem::exists(dir + "/log-prepare.tmp"));
        std::string ready = files.back();
        // Into it and past it: 60 messages of 4 KiB fill a 256 KiB file.
        fill(**s, 10, 60);
        usleep(250 * 1000);  // maintain looks at most every 200 ms
        (*s)->maintain();
        files = log_files(dir);
        cr_expect_gt(files.back(), ready, "no file ready after %s", ready.c_str());
        cr_expect(all_zeros(dir + "/" + files.back(), &size), "%s", files.back().c_str());
        cr_expect((*s)->close().ok());
    }
    // A prepared file the stop left unused, and a temporary of an interrupted one.
    uintmax_t unused_size = 0;
    cr_expect(all_zeros(dir + "/" + log_files(dir).back(), &unused_size),
              "the ready file is not the last");
    FILE* t = std::fopen((dir + "/log-prepare.tmp").c_str(), "w");
    cr_assert(t);
    std::fputs("partial", t);
    std::fclose(t);
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok(), "%s", s.ok() ? "" : s.error().message.c_str());
        cr_expect_not(std::filesystem::exists(dir + "/log-prepare.tmp"));
        int n = 0;
        (void)(*s)->scan([&](Envelope&&) { ++n; }, [](const tegami::Error&) { cr_expect(false); });
        cr_expect_eq(n, 70);
        fill(**s, 70, 100);
        cr_expect((*s)->close().ok());
    }
    auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
    cr_assert(s.ok(), "%s", s.ok() ? "" : s.error().message.c_str());
    int n = 0;
    (void)(*s)->scan([&](Envelope&&) { ++n; }, [](const tegami::Error&) { cr_expect(false); });
    cr_expect_eq(n, 170);
    s->reset();
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

// The loss the hooks prevent, made by hand: a checkpoint wrote pages that refer to the
// newest log file, then that file goes away. The store must refuse to open, naming the
// file, the LSN and the recovery steps, with EX_DATAERR (not 74, not a crash).
Test(durable_names, lost_log_file_is_unrecoverable) {
    std::string dir = temp_dir();
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok());
        fill(**s, 0, 200);
        cr_assert((*s)->checkpoint().ok());
        fill(**s, 200, 100);
        cr_assert((*s)->checkpoint().ok());
        cr_assert((*s)->close().ok());
    }
    auto files = log_files(dir);
    cr_assert_geq(files.size(), 1u);
    std::filesystem::remove(dir + "/" + files.back());
    auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
    cr_assert(!s.ok(), "a store without its last log file opened");
    const auto& e = s.error();
    cr_expect_eq(e.exit, tegami::Exit::data_err, "exit %d: %s", static_cast<int>(e.exit),
                 e.message.c_str());
    cr_expect(e.message.find("unrecoverable") != std::string::npos, "%s", e.message.c_str());
    cr_expect(e.message.find("db_recover -c -h " + dir) != std::string::npos, "%s",
              e.message.c_str());
    std::filesystem::remove_all(dir);
}

// A queue small enough that its databases' metadata pages never change after they were
// made (every message fits on the first leaf page): Berkeley DB's own check at open sees
// nothing wrong when the last log file is lost, so the store's checkpoint mark must.
Test(durable_names, lost_log_file_of_a_small_queue_is_unrecoverable) {
    std::string dir = temp_dir();
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok());
        std::string body(300, 'b');
        std::string err;
        for (int round = 0; round < 200; ++round) {
            cr_assert_eq((*s)->put(env_of(round), body, err), PutStatus::ok, "%s", err.c_str());
            cr_assert((*s)->remove(env_of(round).queue_id).ok());
        }
        cr_assert((*s)->close().ok());
    }
    auto files = log_files(dir);
    cr_assert_geq(files.size(), 1u);
    std::filesystem::remove(dir + "/" + files.back());
    auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
    cr_assert(!s.ok(), "a store without its last log file opened");
    const auto& e = s.error();
    cr_expect_eq(e.exit, tegami::Exit::data_err, "exit %d: %s", static_cast<int>(e.exit),
                 e.message.c_str());
    cr_expect(e.message.find("unrecoverable: checkpoint.lsn has LSN ") != std::string::npos, "%s",
              e.message.c_str());
    cr_expect(e.message.find("db_recover -c -h " + dir) != std::string::npos, "%s",
              e.message.c_str());
    std::filesystem::remove_all(dir);
}

// The mark never refuses a store whose log is whole: checkpointed, filled further and
// closed three times over, the store reopens with every message.
Test(durable_names, checkpoint_mark_accepts_a_whole_log) {
    std::string dir = temp_dir();
    for (int pass = 0; pass < 3; ++pass) {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok(), "pass %d: %s", pass, s.ok() ? "" : s.error().message.c_str());
        fill(**s, pass * 100, 100);
        cr_assert((*s)->checkpoint().ok());
        cr_assert((*s)->close().ok());
    }
    auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
    cr_assert(s.ok());
    int n = 0;
    (void)(*s)->scan([&](Envelope&&) { ++n; }, [](const tegami::Error&) { cr_expect(false); });
    cr_expect_eq(n, 300);
    s->reset();
    std::filesystem::remove_all(dir);
}

// A mark that is not one (torn, or written by hand) is ignored, not obeyed.
Test(durable_names, a_garbled_checkpoint_mark_is_ignored) {
    std::string dir = temp_dir();
    {
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_assert(s.ok());
        fill(**s, 0, 10);
        cr_assert((*s)->close().ok());
    }
    for (const char* bad : {"", "9999999999/0000000001", "junk\n", "0000000099/00000000x1\n"}) {
        FILE* f = std::fopen((dir + "/checkpoint.lsn").c_str(), "w");
        cr_assert(f != nullptr);
        std::fputs(bad, f);
        std::fclose(f);
        auto s = open_bdb_store(dir, 1024 * 1024, kMinLogFileSize);
        cr_expect(s.ok(), "mark \"%s\": %s", bad, s.ok() ? "" : s.error().message.c_str());
    }
    std::filesystem::remove_all(dir);
}
