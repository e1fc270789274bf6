// delivery_test.cpp - unit tests for deliver/local/delivery.cpp: the exit status ->
// result table (signals and unknown codes first), and deliver_as_current_user writing an
// mbox and a Maildir under a temporary directory, as the test's own user.
#include "deliver/local/delivery.hpp"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <string>

using namespace tegami::local;

namespace {

struct StatusCase {
    int wait_status;
    uint32_t status;
    const char* dsn;
};

const StatusCase kStatus[] = {
    {SIGKILL, 4, "4.3.0"},  // killed: WIFSIGNALED
    {SIGSEGV, 4, "4.3.0"},
    {W_EXITCODE(EX_SOFTWARE, 0), 4, "4.3.0"},
    {W_EXITCODE(1, 0), 4, "4.3.0"},
    {W_EXITCODE(EX_TEMPFAIL, 0), 4, "4.2.0"},
    {W_EXITCODE(EX_CANTCREAT, 0), 4, "4.2.0"},
    {W_EXITCODE(EX_IOERR, 0), 4, "4.3.0"},
    {W_EXITCODE(EX_OSERR, 0), 4, "4.3.0"},
    {W_EXITCODE(EX_NOUSER, 0), 5, "5.1.1"},
    {W_EXITCODE(EX_NOPERM, 0), 5, "5.2.0"},
    {W_EXITCODE(EX_DATAERR, 0), 5, "5.6.0"},
    {W_EXITCODE(0, 0), 2, "2.0.0"},
};

}  // namespace

Test(delivery, outcome_table) {
    for (const auto& c : kStatus) {
        Outcome o = outcome_from_wait(c.wait_status, "why", false);
        cr_expect_eq(o.status, c.status, "status %#x", c.wait_status);
        cr_expect_eq(o.dsn, std::string(c.dsn), "status %#x: %s", c.wait_status, o.dsn.c_str());
    }
    cr_expect_eq(outcome_from_wait(W_EXITCODE(0, 0), "", false).text,
                 std::string("delivered to mailbox"));
    cr_expect_eq(outcome_from_wait(W_EXITCODE(0, 0), "", true).text,
                 std::string("delivered to maildir"));
    cr_expect_eq(outcome_from_wait(W_EXITCODE(EX_TEMPFAIL, 0), "", false).text,
                 std::string("delivery failed (exit 75)"));
    cr_expect_eq(outcome_from_wait(SIGKILL, "", false).text,
                 std::string("delivery process killed by signal 9"));
}

Test(delivery, mbox_and_maildir_as_current_user) {
    char tmpl[] = "/tmp/tegami-delivery-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    tegami::Config cfg = tegami::default_config();
    cfg.mail_spool_dir = dir + "/nosuchdir";
    cfg.maildir = dir + "/md/%u/";
    cfg.hostname = "mx.example";
    ChildSpec spec{&cfg, LocalUser{"bob", 1000, 1000, "/home/bob"},
                   MailMessage{"a@b", "bob@mx.example", "x\r\n"}, false, 1};
    std::string report;
    cr_expect_eq(deliver_as_current_user(spec, geteuid(), report), EX_TEMPFAIL);
    cr_expect(report.find("nosuchdir") != std::string::npos, "%s", report.c_str());

    cfg.mail_spool_dir = dir;
    cr_expect_eq(deliver_as_current_user(spec, geteuid(), report), 0, "%s", report.c_str());
    cr_expect_eq(report, dir + "/bob");
    cr_expect_eq(deliver_as_current_user(spec, geteuid() + 1, report), EX_CANTCREAT);

    cfg.mailbox_format = tegami::MailboxFormat::maildir;
    cr_expect_eq(deliver_as_current_user(spec, geteuid(), report), 0, "%s", report.c_str());
    cr_expect(report.starts_with(dir + "/md/bob/new/"), "%s", report.c_str());
}
