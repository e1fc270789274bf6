// mbox_journal_test.cpp - deliver/local/mbox_journal.cpp and its use by the mbox
// writer: journals that do not parse (bad cases first), each recovery outcome, and the
// two promises end to end in a mkdtemp() spool - an append cut by a crash is removed
// before the next delivery, and a message already appended is not appended again.
#include "deliver/local/mbox_journal.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "deliver/local/mbox.hpp"
#include "lib/core/unique_fd.hpp"
#include "tests/unit/test_files.hpp"

using namespace tegami;
using namespace tegami::local;

namespace {

struct Spool {
    std::string path;
    UniqueFd fd;
};

Spool make_spool() {
    char tmpl[] = "/tmp/tegami-journal-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    Spool s{tmpl, UniqueFd(open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC))};
    cr_assert(s.fd.valid());
    return s;
}

MailMessage msg(const char* qid, const char* body) {
    return MailMessage{"a@example.org", "bob@h", body, qid};
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1))
        ++n;
    return n;
}

}  // namespace

Test(mbox_journal, bad_journals_are_empty) {
    const char* bad[] = {
        "",
        "tegami-mbox-journal 2\n",
        "tegami-mbox-journal 1",  // no newline: cut
        "tegami-mbox-journal 1\ninode x\n",
        "tegami-mbox-journal 1\npending 10 5 Q1\n",  // shrinking append
        "tegami-mbox-journal 1\npending 1 2 Q1\npending 1 2 Q2\n",
        "tegami-mbox-journal 1\npending 1 2 Q/1\n",
        "tegami-mbox-journal 1\npending 1 2 Q1,,Q2\n",
        "tegami-mbox-journal 1\ndone Q1\n",
        "tegami-mbox-journal 1\ndone Q1 99999999999999999999999\n",
        "tegami-mbox-journal 1\nsomething else\n",
        "tegami-mbox-journal 1\ninode 1\ndone Q1 5\ndone",
    };
    for (const char* b : bad)
        cr_expect(!parse_journal(b).has_value(), "accepted: %s", b);
    MboxJournal j;
    j.inode = 42;
    j.done = {{"Q1", 10}, {"Q2", 20}};
    j.pending = MboxJournal::Pending{20, 35, {"Q3", "Q4"}};
    auto back = parse_journal(format_journal(j));
    cr_assert(back.has_value(), "%s", format_journal(j).c_str());
    cr_expect_eq(back->inode, 42u);
    cr_expect_eq(back->done.size(), 2u);
    cr_expect(back->delivered("Q2") && !back->delivered("Q3"));
    cr_assert(back->pending.has_value());
    cr_expect_eq(back->pending->qids.size(), 2u);
    j.pending->qids.clear();
    back = parse_journal(format_journal(j));
    cr_assert(back.has_value() && back->pending.has_value(), "%s", format_journal(j).c_str());
    cr_expect(back->pending->qids.empty());
}

Test(mbox_journal, recovery_outcomes) {
    Spool s = make_spool();
    std::string p = s.path + "/box";
    std::ofstream(p) << std::string(100, 'x');
    UniqueFd fd(open(p.c_str(), O_RDWR));
    struct Case {
        uint64_t inode;
        uint64_t size;
        uint64_t old_size, new_size;
        Recovery want;
        uint64_t size_after;
    };
    const Case cases[] = {
        {7, 100, 60, 100, Recovery::completed, 100},
        {7, 100, 100, 100, Recovery::completed, 100},
        {7, 100, 100, 140, Recovery::untouched, 100},
        {7, 100, 200, 300, Recovery::foreign, 100},  // smaller than before: not ours
        {7, 100, 10, 50, Recovery::foreign, 100},    // someone appended since
        {8, 100, 60, 140, Recovery::foreign, 100},   // another file
        {7, 100, 60, 140, Recovery::cut_back, 60},
    };
    for (const auto& c : cases) {
        MboxJournal j;
        j.inode = 7;
        j.pending = MboxJournal::Pending{c.old_size, c.new_size, {"Q9"}};
        uint64_t size = c.size;
        auto r = recover_mbox(j, fd.get(), c.inode, size);
        cr_assert(r.ok());
        cr_expect_eq(static_cast<int>(*r), static_cast<int>(c.want), "%llu-%llu at %llu",
                     (unsigned long long)c.old_size, (unsigned long long)c.new_size,
                     (unsigned long long)c.size);
        cr_expect_eq(size, c.size_after);
        cr_expect(!j.pending.has_value());
        cr_expect_eq(j.delivered("Q9"), c.want == Recovery::completed);
    }
    struct stat st {};
    fstat(fd.get(), &st);
    cr_expect_eq(st.st_size, 60, "the cut entry was truncated");
}

// A delivery child killed in the middle of an append leaves a pending line and part of
// an entry; the next delivery cuts it back before appending its own.
Test(mbox_journal, partial_append_cut_back_before_the_next_delivery) {
    Spool s = make_spool();
    auto r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), {msg("QA", "first\r\n")}, 0);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    std::string whole = tegami::test::read_file(s.path + "/bob");
    // What a killed child leaves: the pending line, then half an entry.
    {
        UniqueFd jfd(openat(s.fd.get(), ".bob.tegami", O_RDWR));
        cr_assert(jfd.valid(), "no journal next to the mailbox");
        auto j = read_journal(jfd.get());
        cr_assert(j.ok());
        j->pending = MboxJournal::Pending{whole.size(), whole.size() + 500, {"QB"}};
        cr_assert(write_journal(jfd.get(), *j, true).ok());
        std::ofstream(s.path + "/bob", std::ios::app)
            << "From a@example.org Thu Jan  1 00:00:00 1970\nSubject: ha";
    }
    r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), {msg("QC", "third\r\n")}, 0);
    cr_assert(r.ok());
    cr_expect(r->note.find("cut back") != std::string::npos, "note: %s", r->note.c_str());
    std::string box = tegami::test::read_file(s.path + "/bob");
    cr_expect_eq(box.substr(0, whole.size()), whole);
    cr_expect(box.find("Subject: ha") == std::string::npos, "the partial entry is still there");
    cr_expect_eq(count(box, "\nthird\n"), 1u);
    cr_expect_eq(count(box, "From a@example.org "), 2u);
    // QB was cut: a retry appends it.
    r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), {msg("QB", "second\r\n")}, 0);
    cr_assert(r.ok());
    cr_expect_eq(count(tegami::test::read_file(s.path + "/bob"), "\nsecond\n"), 1u);
}

// A message appended whole but whose success never reached the queue (a crash after the
// fsync) is not appended again when the queue retries it.
Test(mbox_journal, retried_delivery_is_not_repeated) {
    Spool s = make_spool();
    auto r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(),
                                {msg("QX", "once\r\n"), msg("QY", "other\r\n")}, 0);
    cr_assert(r.ok());
    r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(),
                           {msg("QX", "once\r\n"), msg("QZ", "new\r\n")}, 0);
    cr_assert(r.ok());
    cr_expect(r->note.find("1 already delivered") != std::string::npos, "note: %s",
              r->note.c_str());
    std::string box = tegami::test::read_file(s.path + "/bob");
    cr_expect_eq(count(box, "\nonce\n"), 1u);
    cr_expect_eq(count(box, "\nnew\n"), 1u);
    // The same when the child died after the append, before its journal update: the
    // pending line at the mailbox's size completes the batch.
    {
        UniqueFd jfd(openat(s.fd.get(), ".bob.tegami", O_RDWR));
        auto j = read_journal(jfd.get());
        cr_assert(j.ok());
        uint64_t size = tegami::test::read_file(s.path + "/bob").size();
        std::string entry = "From a@example.org Thu Jan  1 00:00:00 1970\n\nlate\n\n";
        j->pending = MboxJournal::Pending{size, size + entry.size(), {"QL"}};
        cr_assert(write_journal(jfd.get(), *j, true).ok());
        std::ofstream(s.path + "/bob", std::ios::app) << entry;
    }
    r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(), {msg("QL", "late\r\n")}, 0);
    cr_assert(r.ok());
    cr_expect_eq(count(tegami::test::read_file(s.path + "/bob"), "\nlate\n"), 1u);
    // The mailbox removed by its user and made again: what was delivered stays delivered
    // (not brought back), new mail goes in.
    unlink((s.path + "/bob").c_str());
    r = deliver_mbox_batch(s.fd.get(), s.path, "bob", geteuid(),
                           {msg("QX", "once\r\n"), msg("QW", "fresh\r\n")}, 0);
    cr_assert(r.ok());
    box = tegami::test::read_file(s.path + "/bob");
    cr_expect_eq(count(box, "\nfresh\n"), 1u);
    cr_expect_leq(count(box, "\nonce\n"), 1u);
}
