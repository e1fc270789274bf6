// mbox_test.cpp - unit tests for deliver/local/mbox.cpp on a mkdtemp() spool directory:
// refusals first (symlink, FIFO, hard link, wrong owner, bad names, held locks), then
// the written bytes (From_ line, quoting, CRLF -> LF, blank line), appending, stale
// dotlocks, and the cut back to the old size when a write fails (RLIMIT_FSIZE).
#include "deliver/local/mbox.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/core/unique_fd.hpp"
#include "tests/unit/deliver/local/fsync_spy.hpp"
#include "tests/unit/test_files.hpp"

using namespace tegami::local;
using tegami::Exit;
using tegami::UniqueFd;

namespace {

struct Spool {
    std::string path;
    UniqueFd fd;
};

Spool make_spool() {
    char tmpl[] = "/tmp/tegami-mbox-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    Spool s{tmpl, UniqueFd(open(tmpl, O_RDONLY | O_DIRECTORY))};
    cr_assert(s.fd.valid());
    return s;
}

const MailMessage kMsg{"alice@example.org", "bob@h", "Subject: hi\r\n\r\nFrom here\r\n>From x", ""};
const std::string kEntry =
    "From alice@example.org Thu Jan  1 00:00:00 1970\n"
    "Return-Path: <alice@example.org>\nDelivered-To: bob@h\n"
    "Subject: hi\n\n>From here\n>>From x\n\n";

MboxOptions quick() {
    MboxOptions o;
    o.lock_wait_ms = 300;
    o.retry_ms = 20;
    return o;
}

auto deliver(Spool& s, const std::string& user, uid_t owner, MboxOptions o = quick()) {
    return deliver_mbox(s.fd.get(), s.path, user, owner, kMsg, 0, o);
}

void setup() {
    setenv("TZ", "UTC", 1);
    tzset();
}

}  // namespace

TestSuite(mbox, .init = setup);

Test(mbox, refuse_bad_names) {
    Spool s = make_spool();
    for (const char* name : {"", ".", "..", "a/b", "../x"}) {
        auto r = deliver(s, name, geteuid());
        cr_expect(!r.ok() && r.error().exit == Exit::no_user, "\"%s\"", name);
    }
}

Test(mbox, refuse_symlink) {
    Spool s = make_spool();
    std::string target = s.path + "/target";
    std::ofstream(target) << "";
    cr_assert(symlink(target.c_str(), (s.path + "/bob").c_str()) == 0);
    auto r = deliver(s, "bob", geteuid());
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::cant_create);
    cr_expect_eq(r.error().message, std::string("mailbox is a symbolic link"));
    cr_expect_eq(tegami::test::read_file(target), std::string(), "target untouched");
    cr_expect(access((s.path + "/bob.lock").c_str(), F_OK) != 0, "dotlock removed");
}

Test(mbox, refuse_fifo_hardlink_owner) {
    Spool s = make_spool();
    cr_assert(mkfifo((s.path + "/fifo").c_str(), 0600) == 0);
    auto r = deliver(s, "fifo", geteuid());
    cr_expect(!r.ok() && r.error().exit == Exit::cant_create);

    std::ofstream(s.path + "/linked") << "x";
    cr_assert(link((s.path + "/linked").c_str(), (s.path + "/other").c_str()) == 0);
    r = deliver(s, "linked", geteuid());
    cr_expect(!r.ok() && r.error().message == "mailbox has 2 links");

    std::ofstream(s.path + "/bob") << "";
    r = deliver(s, "bob", geteuid() + 1);
    cr_expect(!r.ok() && r.error().exit == Exit::cant_create);
    cr_expect(r.error().message.find("owned by uid") != std::string::npos);
    cr_expect_eq(tegami::test::read_file(s.path + "/bob"), std::string());
}

Test(mbox, dotlock_held) {
    Spool s = make_spool();
    std::ofstream(s.path + "/bob.lock") << "1\n";
    auto r = deliver(s, "bob", geteuid());
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::temp_fail);
    cr_expect_eq(r.error().message, std::string("mailbox is dotlocked"));
    cr_expect(access((s.path + "/bob.lock").c_str(), F_OK) == 0, "someone else's lock stays");
    cr_expect(access((s.path + "/bob").c_str(), F_OK) != 0, "no mailbox created");
}

Test(mbox, stale_dotlock_removed) {
    Spool s = make_spool();
    std::string lock = s.path + "/bob.lock";
    std::ofstream(lock) << "1\n";
    utimbuf old{time(nullptr) - 600, time(nullptr) - 600};
    cr_assert(utime(lock.c_str(), &old) == 0);
    auto r = deliver(s, "bob", geteuid());
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect(access(lock.c_str(), F_OK) != 0);
}

Test(mbox, fcntl_lock_held) {
    Spool s = make_spool();
    std::string path = s.path + "/bob";
    std::ofstream(path) << "";
    int p[2];
    cr_assert(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path.c_str(), O_WRONLY);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0) _exit(1);
        if (write(p[1], "x", 1) != 1) _exit(1);
        sleep(5);
        _exit(0);
    }
    char c;
    cr_assert(read(p[0], &c, 1) == 1);
    auto r = deliver(s, "bob", geteuid());
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    cr_assert(!r.ok());
    cr_expect_eq(r.error().message, std::string("mailbox is locked"));
    cr_expect(access((s.path + "/bob.lock").c_str(), F_OK) != 0, "dotlock removed");
}

Test(mbox, create_and_append) {
    Spool s = make_spool();
    auto r = deliver(s, "bob", geteuid());
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect_eq(r->path, s.path + "/bob");
    std::string path = s.path + "/bob";
    cr_expect_eq(tegami::test::read_file(path), kEntry);
    struct stat st {};
    cr_assert(stat(path.c_str(), &st) == 0);
    cr_expect_eq(st.st_mode & 0777, 0600u);
    cr_expect_eq(st.st_uid, geteuid());

    r = deliver(s, "bob", geteuid());
    cr_assert(r.ok());
    cr_expect_eq(tegami::test::read_file(path), kEntry + kEntry);
    cr_expect(access((s.path + "/bob.lock").c_str(), F_OK) != 0, "dotlock removed");
}

Test(mbox, null_sender_and_existing_content) {
    Spool s = make_spool();
    std::ofstream(s.path + "/bob") << "old\n\n";
    MailMessage m{"", "bob@h", "x", ""};
    auto r = deliver_mbox(s.fd.get(), s.path, "bob", geteuid(), m, 0, quick());
    cr_assert(r.ok());
    cr_expect_eq(tegami::test::read_file(s.path + "/bob"),
                 std::string("old\n\nFrom MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
                             "Return-Path: <>\nDelivered-To: bob@h\nx\n\n"));
}

// A batch larger than a write piece (256 KiB), From lines near the pieces' ends: the
// mailbox holds exactly the entries, one after the other, and the journal ends where
// the file does.
Test(mbox, large_batch_written_in_pieces) {
    Spool s = make_spool();
    std::string body;
    for (int i = 0; body.size() < 700 * 1024; ++i)
        body += i % 997 == 0 ? "From the line\r\n" : std::string(76, char('a' + i % 26)) + "\r\n";
    std::string tail = body.substr(1000);
    std::vector<MailMessage> msgs{{"a@b", "bob@h", body, "Q1"},
                                  {"", "bob@h", tail, "Q2"},
                                  {"c@d", "bob@h", "no newline", "Q3"}};
    auto r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), msgs, 0, quick());
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    std::string want = mbox_entry(msgs[0], 0) + mbox_entry(msgs[1], 0) + mbox_entry(msgs[2], 0);
    std::string got = tegami::test::read_file(s.path + "/bob");
    cr_expect_eq(got.size(), want.size());
    cr_expect(got == want, "the mailbox is the three entries");
    std::string journal = tegami::test::read_file(s.path + "/.bob.tegami");
    cr_expect(journal.find("done Q3 " + std::to_string(want.size()) + "\n") != std::string::npos,
              "journal: %s", journal.c_str());
}

// A small batch is made once in memory: the same entries, and the journal's offsets are
// the sizes of what was written.
Test(mbox, small_batch_made_in_memory) {
    Spool s = make_spool();
    std::vector<MailMessage> msgs{
        {"a@b", "bob@h", "Subject: 1\r\n\r\nFrom me\r\n>From x\r\n", "Q1"},
        {"", "bob@h", "Subject: 2\r\n\r\nbare\nlf", "Q2"},
        {"c@d", "bob@h", "no newline", "Q3"}};
    auto r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), msgs, 0, quick());
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    std::string want = mbox_entry(msgs[0], 0) + mbox_entry(msgs[1], 0) + mbox_entry(msgs[2], 0);
    cr_expect(tegami::test::read_file(s.path + "/bob") == want, "the mailbox is the three entries");
    std::string journal = tegami::test::read_file(s.path + "/.bob.tegami");
    cr_expect(journal.find("done Q3 " + std::to_string(want.size()) + "\n") != std::string::npos,
              "journal: %s", journal.c_str());
    // Delivered again (a retry after a lost result): nothing is appended.
    auto again = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), msgs, 0, quick());
    cr_assert(again.ok());
    cr_expect(tegami::test::read_file(s.path + "/bob") == want, "no duplicate");
}

// A mapped body's pages are given back as it is sized and written (MailMessage::mapped):
// two bodies of 8 MiB read through their mappings leave this process's RssFile about
// where it was; unmarked, the same delivery leaves them resident. The mailboxes are the same.
Test(mbox, mapped_body_pages_given_back) {
    Spool s = make_spool();
    std::string file = s.path + "/body";
    {
        std::string line = std::string(76, 'x') + "\r\n";
        std::ofstream f(file, std::ios::binary);
        for (size_t n = 0; n < 8u << 20; n += line.size())
            f << line;
    }
    UniqueFd fd(open(file.c_str(), O_RDONLY));
    cr_assert(fd.valid());
    struct stat st {};
    cr_assert(fstat(fd.get(), &st) == 0);
    long grew[2] = {0, 0};
    for (int mapped = 0; mapped < 2; ++mapped) {
        tegami::UniqueMapping map;
        cr_assert(map.map(fd.get(), static_cast<size_t>(st.st_size)));
        tegami::UniqueMapping map2;
        cr_assert(map2.map(fd.get(), static_cast<size_t>(st.st_size)));
        std::vector<MailMessage> batch{{"a@b", "bob@h", map.view(), "", mapped == 1},
                                       {"c@d", "bob@h", map2.view(), "", mapped == 1}};
        long before = tegami::test::rss_file_kib();
        auto r = deliver_mbox_batch(s.fd.get(), s.path, mapped ? "m1" : "m0", geteuid(), batch, 0,
                                    quick());
        cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
        grew[mapped] = tegami::test::rss_file_kib() - before;
    }
    cr_expect_gt(grew[0], 12 * 1024, "unmarked: RssFile grew by %ld KiB", grew[0]);
    cr_expect_lt(grew[1], 1024, "mapped: RssFile grew by %ld KiB", grew[1]);
    cr_expect(tegami::test::read_file(s.path + "/m0") == tegami::test::read_file(s.path + "/m1"),
              "the same mailbox either way");
}

Test(mbox, write_failure_truncates) {
    Spool s = make_spool();
    std::string path = s.path + "/bob";
    std::string old(1000, 'o');
    std::ofstream(path) << old;
    signal(SIGXFSZ, SIG_IGN);
    rlimit rl{1100, 1100};
    cr_assert(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    std::string big(4000, 'b');
    MailMessage m{"a@b", "bob@h", big, ""};
    auto r = deliver_mbox(s.fd.get(), s.path, "bob", geteuid(), m, 0, quick());
    cr_assert(!r.ok());
    cr_expect(r.error().exit == Exit::temp_fail);
    cr_expect(r.error().message.find("write mailbox") == 0, "%s", r.error().message.c_str());
    cr_expect_eq(tegami::test::read_file(path), old, "cut back to the old size");
}

Test(mbox, dotlock_skipped_when_dir_not_writable) {
    if (geteuid() == 0) cr_skip_test("root writes any directory");
    Spool s = make_spool();
    std::ofstream(s.path + "/bob") << "";
    cr_assert(chmod(s.path.c_str(), 0555) == 0);
    auto r = deliver(s, "bob", geteuid());
    chmod(s.path.c_str(), 0755);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect(r->note.find("dotlock skipped") == 0);
    cr_expect_eq(tegami::test::read_file(s.path + "/bob"), kEntry);
}

// A new mailbox's name is made durable (fsync of the spool directory, after the
// mailbox's own fsync) before success; appending to an existing one syncs the file only.
// The dotlock needs no directory fsync: if its removal is lost to a power failure, the
// stale lock is broken after stale_lock_sec (stale_dotlock_removed).
Test(mbox, new_mailbox_name_is_durable) {
    Spool s = make_spool();
    (void)tegami::test::fsync_spy_take();
    cr_assert(deliver(s, "bob", geteuid()).ok());
    auto synced = tegami::test::fsync_spy_take();
    cr_assert_eq(synced.size(), 2u);
    cr_expect_eq(synced[0], s.path + "/bob");
    cr_expect_eq(synced[1], s.path);
    cr_assert(deliver(s, "bob", geteuid()).ok());
    synced = tegami::test::fsync_spy_take();
    cr_assert_eq(synced.size(), 1u, "existing mailbox: the file only");
    cr_expect_eq(synced[0], s.path + "/bob");
}
