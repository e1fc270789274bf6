// delivery_test.cpp - unit tests for deliver/local/delivery.cpp: the exit status ->
// result table (signals and unknown codes first), and deliver_as_current_user writing an
// mbox and a Maildir under a temporary directory, as the test's own user.
#include "deliver/local/delivery.hpp"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <fstream>
#include <sstream>

#include <string>

#include "deliver/local/write_all.hpp"
#include "tests/unit/test_files.hpp"

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

Test(delivery, report_lines) {
    // Bad lines end the parse: a line cut short or without a numeric code is not a report.
    cr_expect_eq(parse_reports("").size(), 0u);
    cr_expect_eq(parse_reports("0 /var/mail/bob").size(), 0u, "no newline: cut");
    cr_expect_eq(parse_reports("x1 bad\n0 ok\n").size(), 0u);
    cr_expect_eq(parse_reports("1234 too long\n").size(), 0u);
    auto r = parse_reports("0 /var/mail/bob\n75 mailbox is locked\n0 x");
    cr_assert_eq(r.size(), 2u);
    cr_expect_eq(r[0].code, 0);
    cr_expect_eq(r[0].text, "/var/mail/bob");
    cr_expect_eq(r[1].code, 75);
    cr_expect_eq(r[1].text, "mailbox is locked");
}

Test(delivery, mbox_and_maildir_as_current_user) {
    char tmpl[] = "/tmp/tegami-delivery-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    tegami::Config cfg = tegami::default_config();
    cfg.mail_spool_dir = dir + "/nosuchdir";
    cfg.maildir = dir + "/md/%u/";
    cfg.hostname = "mx.example";
    ChildSpec spec{&cfg,
                   LocalUser{"bob", 1000, 1000, "/home/bob"},
                   {MailMessage{"a@b", "bob@mx.example", "x\r\n", ""}},
                   false,
                   1,
                   TargetKind::mailbox,
                   "",
                   {}};
    auto reports = deliver_as_current_user(spec, geteuid());
    cr_assert_eq(reports.size(), 1u);
    cr_expect_eq(reports[0].code, EX_TEMPFAIL);
    cr_expect(reports[0].text.find("nosuchdir") != std::string::npos, "%s",
              reports[0].text.c_str());

    cfg.mail_spool_dir = dir;
    reports = deliver_as_current_user(spec, geteuid());
    cr_expect_eq(reports[0].code, 0, "%s", reports[0].text.c_str());
    cr_expect_eq(reports[0].text, dir + "/bob");
    cr_expect_eq(deliver_as_current_user(spec, geteuid() + 1)[0].code, EX_CANTCREAT);

    // A batch: three messages, one append; every message reported.
    spec.msgs.push_back(MailMessage{"c@d", "bob@mx.example", "y\r\n", ""});
    spec.msgs.push_back(MailMessage{"", "bob@mx.example", "z\r\n", ""});
    reports = deliver_as_current_user(spec, geteuid());
    cr_assert_eq(reports.size(), 3u);
    for (const auto& r : reports)
        cr_expect_eq(r.code, 0, "%s", r.text.c_str());
    std::string box = tegami::test::read_file(dir + "/bob");
    cr_expect(box.find("From a@b ") != std::string::npos &&
                  box.find("From c@d ") != std::string::npos &&
                  box.find("From MAILER-DAEMON ") != std::string::npos,
              "%s", box.c_str());
    spec.msgs.resize(1);

    cfg.mailbox_format = tegami::MailboxFormat::maildir;
    reports = deliver_as_current_user(spec, geteuid());
    cr_expect_eq(reports[0].code, 0, "%s", reports[0].text.c_str());
    std::string report = reports[0].text;
    cr_expect(report.starts_with(dir + "/md/bob/new/"), "%s", report.c_str());
}

// A full file system and an exhausted quota keep their own codes; a reason that only
// looks like one does not; program exit statuses map as sendmail's.
Test(delivery, storage_codes_and_program_statuses) {
    Outcome o =
        outcome_from_code(EX_TEMPFAIL, storage_error("write mailbox", ENOSPC).message, false);
    cr_expect_eq(o.status, 4u);
    cr_expect_eq(o.dsn, "4.3.1", "%s", o.dsn.c_str());
    cr_expect(o.text.find("mail system full") == 0, "%s", o.text.c_str());
    o = outcome_from_code(EX_TEMPFAIL, storage_error("fsync mailbox", EDQUOT).message, false);
    cr_expect_eq(o.dsn, "4.2.2");
    o = outcome_from_code(EX_TEMPFAIL, storage_error("write mailbox", EIO).message, false);
    cr_expect_eq(o.dsn, "4.2.0");
    o = outcome_from_code(EX_TEMPFAIL, "4.x.1 odd text", false);
    cr_expect_eq(o.dsn, "4.2.0");
    o = outcome_from_code(EX_NOUSER, "5.9.9 not used for permanent codes", false);
    cr_expect_eq(o.dsn, "5.1.1");
    struct P {
        int code;
        uint32_t status;
        const char* dsn;
    };
    const P progs[] = {{0, 2, "2.0.0"},          {EX_TEMPFAIL, 4, "4.3.0"},
                       {EX_OSERR, 4, "4.3.0"},   {EX_IOERR, 4, "4.3.0"},
                       {EX_NOUSER, 5, "5.1.1"},  {EX_NOHOST, 5, "5.1.2"},
                       {EX_DATAERR, 5, "5.6.0"}, {EX_NOPERM, 5, "5.7.1"},
                       {EX_CONFIG, 5, "5.3.5"},  {EX_UNAVAILABLE, 5, "5.3.0"},
                       {1, 5, "5.3.0"}};
    for (const auto& p : progs) {
        o = outcome_from_code(p.code, "why", false, TargetKind::program);
        cr_expect_eq(o.status, p.status, "exit %d", p.code);
        cr_expect_eq(o.dsn, std::string(p.dsn), "exit %d: %s", p.code, o.dsn.c_str());
    }
}

namespace {

// An executable script in dir; returns its path.
std::string script(const std::string& dir, const char* name, const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << text << "\n";
    chmod(path.c_str(), 0700);
    return path;
}

ChildSpec program_spec(const tegami::Config& cfg, const std::string& command,
                       std::string_view body) {
    ChildSpec spec;
    spec.config = &cfg;
    spec.user = LocalUser{"bob", 1000, 1000, "/"};
    spec.msgs = {MailMessage{"a@b", "bob@mx.example", body, ""}};
    spec.kind = TargetKind::program;
    spec.target = command;
    return spec;
}

std::string big_body() {
    std::string body = "Subject: to a program\r\n\r\n";
    for (int i = 0; body.size() < 2u << 20; ++i)
        body += i % 61 == 0 ? "From a line\r\n" : std::string(size_t(i % 80), 'p') + "\r\n";
    return body + "no final newline";
}

}  // namespace

// A program reads what maildir_file makes, octet for octet, whatever the size of the
// pieces it is made and written in; a body larger than the pipe and than several pieces.
Test(delivery, program_input_in_pieces_same_bytes) {
    char tmpl[] = "/tmp/tegami-delivery-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    std::string cat = script(dir, "cat.sh", "exec cat > \"$1\"");
    tegami::Config cfg = tegami::default_config();
    cfg.smrsh_dir = dir;
    std::string body = big_body();
    for (std::string_view b : {std::string_view(body), std::string_view("x"), std::string_view()}) {
        std::string want = maildir_file(MailMessage{"a@b", "bob@mx.example", b, ""});
        for (size_t piece : {size_t{1}, size_t{100}, size_t{65536}, kWritePiece}) {
            if (b.size() > 1000 && piece < 100) continue;  // a line a write: slow, no new case
            ChildSpec spec = program_spec(cfg, cat + " " + dir + "/out", b);
            spec.write_piece = piece;
            auto reports = deliver_as_current_user(spec, geteuid());
            cr_assert_eq(reports.size(), 1u);
            cr_expect_eq(reports[0].code, 0, "%s", reports[0].text.c_str());
            std::string got = tegami::test::read_file(dir + "/out");
            cr_expect_eq(got.size(), want.size(), "%zu-octet body, piece %zu", b.size(), piece);
            cr_expect(got == want, "%zu-octet body, piece %zu: the same bytes", b.size(), piece);
        }
    }
}

// A program that exits without reading the whole message (its pipe breaks under the
// writer: EPIPE) is judged by its exit status alone, as before: 0 delivered, 75 deferred,
// 67 and 1 permanent; one killed by a signal defers.
Test(delivery, program_that_stops_reading) {
    char tmpl[] = "/tmp/tegami-delivery-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    tegami::Config cfg = tegami::default_config();
    cfg.smrsh_dir = dir;
    std::string body = big_body();
    struct Case {
        const char* name;
        const char* text;
        int code;
        uint32_t status;
        const char* dsn;
    };
    const Case cases[] = {
        {"none0.sh", "exit 0", 0, 2, "2.0.0"},
        {"some0.sh", "head -c 5000 > /dev/null; exit 0", 0, 2, "2.0.0"},
        {"none75.sh", "exit 75", EX_TEMPFAIL, 4, "4.3.0"},
        {"some75.sh", "head -c 300000 > /dev/null; echo busy; exit 75", EX_TEMPFAIL, 4, "4.3.0"},
        {"none67.sh", "echo no such user; exit 67", EX_NOUSER, 5, "5.1.1"},
        {"some1.sh", "head -c 70000 > /dev/null; exit 1", 1, 5, "5.3.0"},
        {"kill.sh", "head -c 1000 > /dev/null; kill -9 $$", EX_TEMPFAIL, 4, "4.3.0"},
    };
    for (const Case& c : cases) {
        for (size_t piece : {size_t{4096}, kWritePiece}) {
            ChildSpec spec = program_spec(cfg, script(dir, c.name, c.text), body);
            spec.write_piece = piece;
            auto reports = deliver_as_current_user(spec, geteuid());
            cr_assert_eq(reports.size(), 1u);
            cr_expect_eq(reports[0].code, c.code, "%s, piece %zu: %d %s", c.name, piece,
                         reports[0].code, reports[0].text.c_str());
            Outcome o =
                outcome_from_code(reports[0].code, reports[0].text, false, TargetKind::program);
            cr_expect_eq(o.status, c.status, "%s", c.name);
            cr_expect_eq(o.dsn, std::string(c.dsn), "%s: %s", c.name, o.dsn.c_str());
        }
    }
}

// A /dev/null file target (the classic "nobody: /dev/null" alias) discards the message
// and succeeds, as sendmail and Postfix do: it is not refused as a non-regular mailbox,
// and no lock or journal is made in /dev.
Test(delivery, dev_null_file_target_discards) {
    tegami::Config cfg = tegami::default_config();
    ChildSpec spec;
    spec.config = &cfg;
    spec.user = LocalUser{"nobody", geteuid(), getegid(), "/"};
    spec.msgs = {MailMessage{"a@b", "devnull@mx.example", "x\r\n", ""},
                 MailMessage{"c@d", "devnull@mx.example", "y\r\n", ""}};
    spec.kind = TargetKind::file;
    spec.target = "/dev/null";
    auto reports = deliver_as_current_user(spec, geteuid());
    cr_assert_eq(reports.size(), 2u);
    for (const auto& r : reports)
        cr_expect_eq(r.code, 0, "%s", r.text.c_str());
    struct stat st {};
    cr_expect(::lstat("/dev/null.lock", &st) != 0, "no dotlock left in /dev");
    cr_expect(::lstat("/dev/.null.tegami", &st) != 0, "no journal in /dev");
    cr_expect_eq(outcome_from_code(0, "", false, TargetKind::file).status, 2u);
}

// The forms smrsh(8) documents for .forward files, "|exec /usr/bin/procmail" and
// "|exec prog args || exit 75": "exec" is skipped and "|| exit N" is the status when
// the program fails; every other use of | and & is still refused.
Test(delivery, smrsh_exec_and_or_exit_forms) {
    char tmpl[] = "/tmp/tegami-delivery-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    std::string ok = script(dir, "ok.sh", "cat > /dev/null; exit 0");
    std::string fail = script(dir, "fail.sh", "cat > /dev/null; echo no; exit 1");
    tegami::Config cfg = tegami::default_config();
    cfg.smrsh_dir = dir;
    auto cmd = program_command("exec /usr/bin/ok.sh -f- x || exit 75", dir);
    cr_assert(cmd.ok(), "%s", cmd.ok() ? "" : cmd.error().message.c_str());
    cr_expect(cmd->argv == (std::vector<std::string>{ok, "-f-", "x"}), "%s", cmd->argv[0].c_str());
    cr_expect(cmd->or_exit == std::optional<int>(75));
    for (const char* bad :
         {"ok.sh | ok.sh", "ok.sh || ok.sh", "ok.sh && exit 75", "ok.sh || exit",
          "ok.sh || exit 75 x", "ok.sh || exit 999", "exec", "ok.sh || exec ok.sh"})
        cr_expect_not(program_command(bad, dir).ok(), "\"%s\" refused", bad);
    struct Case {
        std::string command;
        int code;
    };
    const Case cases[] = {
        {"exec " + ok, 0},
        {"exec " + fail + " || exit 75", EX_TEMPFAIL},
        {fail + "   ||   exit 67", EX_NOUSER},
        {"exec " + ok + " || exit 75", 0},
        {"exec " + fail, 1},
    };
    for (const Case& c : cases) {
        ChildSpec spec = program_spec(cfg, c.command, "x\r\n");
        auto reports = deliver_as_current_user(spec, geteuid());
        cr_assert_eq(reports.size(), 1u);
        cr_expect_eq(reports[0].code, c.code, "%s: %d %s", c.command.c_str(), reports[0].code,
                     reports[0].text.c_str());
    }
}
