// delivery_test.cpp - end to end through the real suite: a message accepted by smtpd is
// queued and delivered by tegami-local into the sandbox's mbox or Maildir; checks the
// delivered bytes exactly, alias expansion, several messages per session, parallel
// sessions (each message delivered exactly once) and the queue ids in the log.
#include <criterion/criterion.h>
#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace tegami_it;

namespace {

void start_with(const std::vector<std::string>& extra = {}) {
    Sandbox& s = sandbox();
    bool ok = s.start(extra);
    if (!ok) s.dump_log();
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
}

std::string rcpt_ok() {
    return mail_user() + "@localhost";
}

// The message as sent (dot-stuffed, CRLF) and as it must appear after the Received header
// in an mbox (unstuffed, LF, From_ lines quoted).
const std::string kSent =
    "From: Sender <sender@example.org>\r\n"
    "To: <RCPT>\r\n"
    "Subject: exact-bytes\r\n"
    "Message-Id: <exact-1@example.org>\r\n"
    "\r\n"
    "first line\r\n"
    "From the start of a line\r\n"
    ">From already quoted\r\n"
    "..leading dot\r\n"
    "...\r\n"
    "..\r\n"
    " From not at the start\r\n"
    "\tindented\r\n"
    "\r\n"
    "last line\r\n";
const std::string kStored =
    "From: Sender <sender@example.org>\n"
    "To: <RCPT>\n"
    "Subject: exact-bytes\n"
    "Message-Id: <exact-1@example.org>\n"
    "\n"
    "first line\n"
    ">From the start of a line\n"
    ">>From already quoted\n"
    ".leading dot\n"
    "..\n"
    ".\n"
    " From not at the start\n"
    "\tindented\n"
    "\n"
    "last line\n";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
        s.replace(pos, from.size(), to);
    return s;
}

// Splits an mbox into its messages (each starting with a "From " line at the start of
// the file or after an empty line).
std::vector<std::string> mbox_messages(const std::string& box) {
    std::vector<std::string> out;
    size_t start = 0;
    if (box.rfind("From ", 0) != 0) return out;
    for (size_t pos = box.find("\n\nFrom ", 0); pos != std::string::npos;
         pos = box.find("\n\nFrom ", pos + 1)) {
        out.push_back(box.substr(start, pos + 2 - start));
        start = pos + 2;
    }
    out.push_back(box.substr(start));
    return out;
}

// "From SENDER Www Mmm dd hh:mm:ss yyyy" (asctime layout, day padded with a space).
bool is_from_line(const std::string& line, const std::string& sender) {
    std::string head = "From " + sender + " ";
    if (line.rfind(head, 0) != 0) return false;
    std::string date = line.substr(head.size());
    const std::string layout = "AAA AAA _9 99:99:99 9999";
    if (date.size() != layout.size()) return false;
    for (size_t i = 0; i < layout.size(); ++i) {
        char c = date[i], l = layout[i];
        bool ok = l == 'A'   ? std::isalpha(static_cast<unsigned char>(c)) != 0
                  : l == '9' ? std::isdigit(static_cast<unsigned char>(c)) != 0
                  : l == '_' ? c == ' ' || std::isdigit(static_cast<unsigned char>(c)) != 0
                             : c == l;
        if (!ok) return false;
    }
    return true;
}

std::vector<std::string> dir_entries(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = opendir(path.c_str());
    if (d == nullptr) return names;
    for (dirent* e = readdir(d); e != nullptr; e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    return names;
}

}  // namespace

TestSuite(delivery, .fini = stop_sandbox, .timeout = 90);

Test(delivery, mbox_bytes_are_exact) {
    start_with();
    Sandbox& s = sandbox();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    std::string sent = replace_all(kSent, "RCPT", rcpt_ok());
    Reply r = smtp_send(c, "sender@example.org", {rcpt_ok()}, sent);
    std::string id = queued_id(r);
    IT_ASSERT(!id.empty(), "not queued: %d %s", r.code, r.text().c_str());
    c.cmd("QUIT");
    bool done = wait_until(
        [&] { return s.mbox(mail_user()).find("last line\n") != std::string::npos; }, 20000);
    IT_ASSERT(done, "not delivered to %s within 20 s", s.mbox_path(mail_user()).c_str());
    // Let a late duplicate show up before checking that there is none.
    wait_until([&] { return s.log().find(id + ": removed") != std::string::npos; }, 5000);
    std::string box = s.mbox(mail_user());

    size_t eol = box.find('\n');
    std::string from_line = box.substr(0, eol);
    IT_EXPECT(is_from_line(from_line, "sender@example.org"), "From_ line: \"%s\"",
              from_line.c_str());
    std::string rest = box.substr(eol + 1);
    std::string head = "Return-Path: <sender@example.org>\nDelivered-To: " + rcpt_ok() + "\n";
    IT_ASSERT(rest.rfind(head, 0) == 0, "want Return-Path and Delivered-To first:\n%s",
              rest.c_str());
    rest = rest.substr(head.size());
    IT_ASSERT(rest.rfind("Received: ", 0) == 0, "want the Received header next:\n%s", rest.c_str());
    // The Received header and its continuation lines.
    size_t end = 0;
    do {
        end = rest.find('\n', end) + 1;
    } while (end > 0 && end < rest.size() && (rest[end] == '\t' || rest[end] == ' '));
    std::string received = rest.substr(0, end);
    for (const std::string& want :
         {std::string("127.0.0.1"), std::string("by localhost.localdomain"), "with ESMTP id " + id,
          "for <" + rcpt_ok() + ">;"})
        IT_EXPECT(received.find(want) != std::string::npos, "Received lacks \"%s\":\n%s",
                  want.c_str(), received.c_str());
    IT_EXPECT(received.find('\r') == std::string::npos, "CR in the Received header");
    std::string body = rest.substr(end);
    std::string want = replace_all(kStored, "RCPT", rcpt_ok()) + "\n";
    IT_EXPECT(body == want, "stored message differs.\n--- got:\n%s--- want:\n%s", body.c_str(),
              want.c_str());
    IT_EXPECT(mbox_messages(box).size() == 1, "%zu messages in the mailbox, want 1",
              mbox_messages(box).size());
}

Test(delivery, log_lines_carry_the_queue_id) {
    start_with();
    Sandbox& s = sandbox();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r = smtp_send(c, "logcheck@example.org", {rcpt_ok()}, "Subject: log\r\n\r\nx\r\n");
    std::string id = queued_id(r);
    IT_ASSERT(!id.empty(), "not queued: %d %s", r.code, r.text().c_str());
    std::string to = id + ": to=<" + rcpt_ok() + ">, relay=local, ";
    bool sent = wait_until(
        [&] {
            std::string l = s.log();
            size_t p = l.find(to);
            return p != std::string::npos && l.find("status=sent", p) < l.find('\n', p);
        },
        20000);
    IT_EXPECT(sent, "no \"%s... status=sent\" line in the log", to.c_str());
    IT_EXPECT(s.log().find(id + ": from=<logcheck@example.org>") != std::string::npos,
              "no \"%s: from=<logcheck@example.org>\" line in the log", id.c_str());
}

Test(delivery, two_messages_in_one_session) {
    start_with();
    Sandbox& s = sandbox();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r1 = smtp_send(c, "one@example.org", {rcpt_ok()}, "Subject: first\r\n\r\nbody-one\r\n");
    Reply r2 = smtp_send(c, "two@example.org", {rcpt_ok()}, "Subject: second\r\n\r\nbody-two\r\n");
    IT_ASSERT(!queued_id(r1).empty() && !queued_id(r2).empty(), "not queued: %s / %s",
              r1.text().c_str(), r2.text().c_str());
    IT_EXPECT(queued_id(r1) != queued_id(r2), "same queue id twice");
    c.cmd("QUIT");
    bool both = wait_until(
        [&] {
            std::string b = s.mbox(mail_user());
            return b.find("body-one\n") != std::string::npos &&
                   b.find("body-two\n") != std::string::npos;
        },
        20000);
    IT_ASSERT(both, "both messages not delivered within 20 s");
    wait_until(
        [&] {
            std::string l = s.log();
            return l.find(queued_id(r1) + ": removed") != std::string::npos &&
                   l.find(queued_id(r2) + ": removed") != std::string::npos;
        },
        5000);
    std::vector<std::string> msgs = mbox_messages(s.mbox(mail_user()));
    IT_EXPECT(msgs.size() == 2, "%zu messages in the mailbox, want 2", msgs.size());
    for (const std::string& m : msgs) {
        bool one = m.find("body-one\n") != std::string::npos;
        std::string from = one ? "one@example.org" : "two@example.org";
        IT_EXPECT(m.rfind("From " + from + " ", 0) == 0, "From_ line of: %s", m.c_str());
        IT_EXPECT(m.find("Return-Path: <" + from + ">\n") != std::string::npos,
                  "Return-Path in: %s", m.c_str());
    }
}

Test(delivery, twenty_parallel_sessions_each_delivered_once) {
    start_with();
    Sandbox& s = sandbox();
    const int n = 20;
    std::atomic<int> accepted{0};
    std::vector<std::string> errors(n);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            SmtpClient c;
            if (!smtp_hello(c, s.port)) {
                errors[i] = "EHLO failed: " + c.transcript;
                return;
            }
            std::string tok = "parallel-token-" + std::to_string(i) + "-end";
            Reply r = smtp_send(c, "p" + std::to_string(i) + "@example.org", {rcpt_ok()},
                                "Subject: " + tok + "\r\nMessage-Id: <" + tok +
                                    "@example.org>\r\n\r\n" + tok + "\r\n");
            if (queued_id(r).empty())
                errors[i] = "not queued: " + std::to_string(r.code) + " " + r.text();
            else
                ++accepted;
            c.cmd("QUIT");
        });
    }
    for (std::thread& t : threads)
        t.join();
    for (int i = 0; i < n; ++i)
        IT_EXPECT(errors[i].empty(), "session %d: %s", i, errors[i].c_str());
    IT_ASSERT(accepted == n, "%d of %d accepted", accepted.load(), n);
    bool all = wait_until(
        [&] {
            std::string b = s.mbox(mail_user());
            for (int i = 0; i < n; ++i)
                if (b.find("\nparallel-token-" + std::to_string(i) + "-end\n") == std::string::npos)
                    return false;
            return true;
        },
        30000);
    IT_ASSERT(all, "not every message delivered within 30 s");
    wait_until([&] { return count_of(s.log(), ": removed") >= static_cast<size_t>(n); }, 5000);
    std::string box = s.mbox(mail_user());
    for (int i = 0; i < n; ++i) {
        size_t k = count_of(box, "\nparallel-token-" + std::to_string(i) + "-end\n");
        IT_EXPECT(k == 1, "token %d delivered %zu times", i, k);
    }
    IT_EXPECT(mbox_messages(box).size() == static_cast<size_t>(n), "%zu messages, want %d",
              mbox_messages(box).size(), n);
}

Test(delivery, alias_is_expanded) {
    Sandbox& s = sandbox();
    s.aliases = "# aliases\npostmaster: " + mail_user() + "\nteam-tg: postmaster\n";
    start_with();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r = smtp_send(c, "a@example.org", {"team-tg@localhost"},
                        "Subject: alias\r\n\r\nalias-body\r\n");
    IT_ASSERT(!queued_id(r).empty(), "alias recipient refused: %d %s", r.code, r.text().c_str());
    bool seen = wait_until(
        [&] { return s.mbox(mail_user()).find("alias-body\n") != std::string::npos; }, 20000);
    IT_ASSERT(seen, "alias not delivered to %s", mail_user().c_str());
    std::string box = s.mbox(mail_user());
    IT_EXPECT(box.find("Delivered-To: " + mail_user() + "@") != std::string::npos,
              "Delivered-To does not name the final user:\n%s", box.c_str());
    bool logged = wait_until(
        [&] { return s.log().find("orig_to=<team-tg@localhost>") != std::string::npos; }, 5000);
    IT_EXPECT(logged, "log lacks orig_to=<team-tg@localhost>");
}

Test(delivery, maildir_delivery) {
    Sandbox& s = sandbox();
    start_with({"mailbox_format=maildir"});
    std::string md = s.dir + "/maildirs/" + mail_user();
    if (geteuid() == 0) {
        // The recipient's own directory, as a home directory would be; local creates the
        // Maildir below it as the recipient.
        passwd* pw = getpwnam(mail_user().c_str());
        IT_ASSERT(pw != nullptr, "no passwd entry for %s", mail_user().c_str());
        mkdir((s.dir + "/maildirs").c_str(), 0755);
        mkdir(md.c_str(), 0700);
        IT_ASSERT(chown(md.c_str(), pw->pw_uid, pw->pw_gid) == 0, "chown %s", md.c_str());
    }
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r = smtp_send(c, "sender@example.org", {rcpt_ok()},
                        "Subject: maildir\r\n\r\nFrom here\r\n..dot\r\nmaildir-end\r\n");
    IT_ASSERT(!queued_id(r).empty(), "not queued: %d %s", r.code, r.text().c_str());
    bool seen = wait_until([&] { return dir_entries(md + "/new").size() >= 1; }, 20000);
    IT_ASSERT(seen, "nothing in %s/new within 20 s", md.c_str());
    std::vector<std::string> files = dir_entries(md + "/new");
    IT_EXPECT(files.size() == 1, "%zu files in new/", files.size());
    IT_EXPECT(dir_entries(md + "/tmp").empty(), "tmp/ not empty after delivery");
    std::string m = read_file(md + "/new/" + files[0]);
    std::string head = "Return-Path: <sender@example.org>\nDelivered-To: " + rcpt_ok() + "\n";
    IT_EXPECT(m.rfind(head, 0) == 0, "maildir file starts:\n%s", m.c_str());
    IT_EXPECT(m.find("\nReceived: ") != std::string::npos, "no Received header:\n%s", m.c_str());
    size_t body = m.find("\n\n");
    IT_ASSERT(body != std::string::npos, "no header/body separator");
    IT_EXPECT(m.substr(body) == "\n\nFrom here\n.dot\nmaildir-end\n",
              "maildir body differs (no From_ quoting in Maildir):\n%s", m.substr(body).c_str());
    IT_EXPECT(m.find('\r') == std::string::npos, "CR left in the maildir file");
    IT_EXPECT(read_file(s.mbox_path(mail_user())).empty(), "also delivered to the mbox");
}

// Item 0 of the local-delivery issue: smtpd parses a recipient once and every later
// process sees its canonical form. Each spelling below is accepted at RCPT and must reach
// the same mailbox (one message each), never bounce as "user unknown".
Test(delivery, recipient_spellings_reach_the_user) {
    Sandbox& s = sandbox();
    const std::string u = mail_user();
    s.aliases = "postmaster: " + u + "\njos\xc3\xa9: " + u + "\n";
    start_with();
    std::string upper = u;
    for (char& ch : upper)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    struct Form {
        const char* name;
        std::string rcpt;
    };
    const Form forms[] = {
        {"quoted", "\"" + u + "\"@localhost"},
        {"escaped", "\"" + u.substr(0, 1) + "\\" + u.substr(1) + "\"@localhost"},
        {"mixed-case", upper + "@LocalHost"},
    };
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    for (const Form& f : forms) {
        Reply r = smtp_send(c, "forms@example.org", {f.rcpt},
                            std::string("Subject: form\r\n\r\nform-") + f.name + "-end\r\n");
        IT_EXPECT(!queued_id(r).empty(), "%s <%s> refused: %d %s", f.name, f.rcpt.c_str(), r.code,
                  r.text().c_str());
    }
    // SMTPUTF8: a UTF-8 local part (an alias here) and a UTF-8 header.
    IT_ASSERT(c.cmd("MAIL FROM:<forms@example.org> SMTPUTF8").code == 250, "MAIL SMTPUTF8");
    Reply rr = c.cmd("RCPT TO:<jos\xc3\xa9@localhost>");
    IT_ASSERT(rr.code == 250, "UTF-8 RCPT: %d %s", rr.code, rr.text().c_str());
    IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
    c.send("Subject: caf\xc3\xa9\r\n\r\nform-utf8-end\r\n.\r\n");
    IT_EXPECT(!queued_id(c.reply(30000)).empty(), "UTF-8 message not queued");
    c.cmd("QUIT");
    const char* tokens[] = {"form-quoted-end", "form-escaped-end", "form-mixed-case-end",
                            "form-utf8-end"};
    bool all = wait_until(
        [&] {
            std::string b = s.mbox(u);
            for (const char* t : tokens)
                if (b.find(std::string("\n") + t + "\n") == std::string::npos) return false;
            return true;
        },
        20000);
    std::string box = s.mbox(u);
    for (const char* t : tokens)
        IT_EXPECT(count_of(box, std::string("\n") + t + "\n") == 1, "%s delivered %zu times", t,
                  count_of(box, std::string("\n") + t + "\n"));
    IT_ASSERT(all, "not every spelling delivered within 20 s");
    IT_EXPECT(s.log().find("status=bounced") == std::string::npos, "a spelling bounced");
    // The canonical address is what the queue logs; the quoted one is gone.
    IT_EXPECT(s.log().find("to=<" + u + "@localhost>") != std::string::npos,
              "no canonical to=<%s@localhost> in the log", u.c_str());
    IT_EXPECT(s.log().find("to=<\"") == std::string::npos, "a quoted address reached the log");
    IT_EXPECT(box.find("Delivered-To: " + u + "@localhost\n") != std::string::npos,
              "Delivered-To is not canonical:\n%s", box.c_str());
}

// Several recipients of one message reaching one user (directly, through an alias, and
// through a list naming both) get one copy, and every recipient is reported sent.
Test(delivery, one_copy_per_mailbox_for_one_message) {
    Sandbox& s = sandbox();
    const std::string u = mail_user();
    s.aliases = "postmaster: " + u + "\nteam-tg: " + u + "\nall-tg: team-tg, " + u + "\n";
    start_with();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r =
        smtp_send(c, "a@example.org", {u + "@localhost", "team-tg@localhost", "all-tg@localhost"},
                  "Subject: overlap\r\n\r\noverlap-body-end\r\n");
    std::string qid = queued_id(r);
    IT_ASSERT(!qid.empty(), "not queued: %d %s", r.code, r.text().c_str());
    c.cmd("QUIT");
    bool removed =
        wait_until([&] { return s.log().find(qid + ": removed") != std::string::npos; }, 20000);
    IT_ASSERT(removed, "message not finished within 20 s");
    size_t copies = count_of(s.mbox(u), "\noverlap-body-end\n");
    IT_EXPECT(copies == 1, "%zu copies delivered, want 1", copies);
    std::string log = s.log();
    size_t sent = 0;
    for (size_t p = log.find(qid + ": to="); p != std::string::npos;
         p = log.find(qid + ": to=", p + 1)) {
        size_t eol = log.find('\n', p);
        std::string line = log.substr(p, eol - p);
        if (line.find("delay=") != std::string::npos &&
            line.find("status=sent") != std::string::npos)
            ++sent;
    }
    IT_EXPECT(sent == 3, "%zu recipients reported sent by the queue, want 3", sent);
}

namespace {

// A world-readable directory for the restricted program directory and the outputs of
// program and file targets (they run as default_user, not as the test).
struct ProgDir {
    std::string dir;
    ProgDir() {
        char tmpl[] = "/tmp/tegami-prog-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return;
        dir = tmpl;
        chmod(dir.c_str(), 0755);
        mkdir((dir + "/smrsh").c_str(), 0755);
        mkdir((dir + "/out").c_str(), 01777);
        chmod((dir + "/out").c_str(), 01777);
        // tg-record OUT: writes its uid, its environment and its input to OUT.
        write_file(dir + "/record.sh",
                   "#!/bin/sh\n{ echo \"uid=$(id -u)\"; env | sort; echo ---; cat; } > \"$1\"\n");
        write_file(dir + "/hang.sh", "#!/bin/sh\nsleep 60\n");
        write_file(dir + "/tempfail.sh", "#!/bin/sh\necho 'try me later'\nexit 75\n");
        write_file(dir + "/nouser.sh", "#!/bin/sh\necho 'no such mailbox here'\nexit 67\n");
        for (const char* s : {"record", "hang", "tempfail", "nouser"}) {
            std::string script = dir + "/" + s + ".sh";
            chmod(script.c_str(), 0755);
            symlink(script.c_str(), (dir + "/smrsh/tg-" + s).c_str());
        }
    }
    ~ProgDir() {
        if (!dir.empty() && getenv("TEGAMI_KEEP") == nullptr)
            run_command({"/bin/rm", "-rf", dir}, 10);
    }
};

// The queue's final log line for a queue ID and an address: "status=... (...)".
std::string final_line(const std::string& log, const std::string& qid, const std::string& to) {
    std::string found;
    std::string key = qid + ": to=<" + to + ">";
    for (size_t p = log.find(key); p != std::string::npos; p = log.find(key, p + 1)) {
        std::string line = log.substr(p, log.find('\n', p) - p);
        if (line.find("delay=") != std::string::npos) found = line;
    }
    return found;
}

}  // namespace

// Item 1 of the issue: every target kind of the aliases file, end to end.
Test(delivery, alias_programs_files_errors_lists_and_details, .timeout = 120) {
    Sandbox& s = sandbox();
    ProgDir p;
    IT_ASSERT(!p.dir.empty(), "mkdtemp");
    const std::string u = mail_user();
    const std::string out = p.dir + "/out";
    s.aliases = "postmaster: " + u + "\n" + "prog-tg: \"|tg-record " + out + "/prog.txt\"\n" +
                "shell-tg: \"|/bin/sh -c date\"\n" + "notlisted-tg: \"|/bin/true\"\n" +
                "hang-tg: \"|tg-hang\"\n" + "tempfail-tg: \"|tg-tempfail\"\n" +
                "nouser-tg: \"|tg-nouser\"\n" + "file-tg: " + out + "/file.mbox\n" +
                "err-tg: error:5.2.2:552 over quota\n" + "list-tg: " + u + ",\n  postmaster\n" +
                "owner-list-tg: " + u + "\n" + "special+tg: " + u + "\n";
    start_with({"smrsh_dir = " + p.dir + "/smrsh", "program_timeout = 2s"});
    struct Send {
        std::string rcpt;
        std::string token;
    };
    const Send sends[] = {
        {"prog-tg@localhost", "prog"},           {"shell-tg@localhost", "shell"},
        {"notlisted-tg@localhost", "notlisted"}, {"hang-tg@localhost", "hang"},
        {"tempfail-tg@localhost", "tempfail"},   {"nouser-tg@localhost", "nouser"},
        {"file-tg@localhost", "file"},           {"err-tg@localhost", "err"},
        {"list-tg@localhost", "list"},           {u + "+box@localhost", "detail"},
    };
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    std::vector<std::string> qids;
    for (const Send& x : sends) {
        Reply r = smtp_send(c, "tg-sender@example.org", {x.rcpt},
                            "Subject: " + x.token + "\r\n\r\nbody-" + x.token + "-end\r\n");
        qids.push_back(queued_id(r));
        IT_EXPECT(!qids.back().empty(), "%s refused: %d %s", x.rcpt.c_str(), r.code,
                  r.text().c_str());
    }
    c.cmd("QUIT");
    // Every one reaches a final status or (hang, tempfail) a deferral.
    bool done = wait_until(
        [&] {
            std::string log = s.log();
            for (size_t i = 0; i < qids.size(); ++i)
                if (final_line(log, qids[i], sends[i].rcpt).empty()) return false;
            return true;
        },
        40000);
    std::string log = s.log();
    auto line = [&](size_t i) { return final_line(log, qids[i], sends[i].rcpt); };
    IT_ASSERT(done, "not every message reached a result within 40 s");
    IT_EXPECT(line(0).find("status=sent") != std::string::npos, "prog: %s", line(0).c_str());
    std::string rec = read_file(out + "/prog.txt");
    IT_EXPECT(rec.find("\nbody-prog-end\n") != std::string::npos, "program input:\n%s",
              rec.c_str());
    IT_EXPECT(rec.find("Return-Path: <tg-sender@example.org>") != std::string::npos,
              "program input lacks Return-Path:\n%s", rec.c_str());
    IT_EXPECT(rec.find("\nPATH=/usr/bin:/bin\n") != std::string::npos, "PATH not clean:\n%s",
              rec.c_str());
    IT_EXPECT(rec.find("TEGAMI") == std::string::npos && rec.find("CRITERION") == std::string::npos,
              "environment leaked into the program:\n%s", rec.c_str());
    IT_EXPECT(rec.find("SENDER=tg-sender@example.org") != std::string::npos, "no SENDER:\n%s",
              rec.c_str());
    if (geteuid() == 0) {
        passwd* nobody = getpwnam("nobody");
        IT_ASSERT(nobody != nullptr, "no user nobody");
        IT_EXPECT(rec.rfind("uid=" + std::to_string(nobody->pw_uid) + "\n", 0) == 0,
                  "program did not run as default_user nobody:\n%s", rec.c_str());
    }
    IT_EXPECT(line(1).find("dsn=5.3.0") != std::string::npos &&
                  line(1).find("status=bounced") != std::string::npos,
              "shell metacharacters: %s", line(1).c_str());
    IT_EXPECT(line(2).find("dsn=5.3.0") != std::string::npos &&
                  line(2).find("restricted directory") != std::string::npos,
              "program outside smrsh_dir: %s", line(2).c_str());
    IT_EXPECT(line(3).find("status=deferred") != std::string::npos &&
                  line(3).find("timed out") != std::string::npos,
              "hanging program: %s", line(3).c_str());
    IT_EXPECT(line(4).find("status=deferred") != std::string::npos &&
                  line(4).find("try me later") != std::string::npos,
              "EX_TEMPFAIL: %s", line(4).c_str());
    IT_EXPECT(line(5).find("dsn=5.1.1") != std::string::npos &&
                  line(5).find("status=bounced") != std::string::npos,
              "EX_NOUSER: %s", line(5).c_str());
    IT_EXPECT(line(6).find("status=sent") != std::string::npos, "file: %s", line(6).c_str());
    std::string fbox = read_file(out + "/file.mbox");
    IT_EXPECT(fbox.rfind("From tg-sender@example.org ", 0) == 0 &&
                  fbox.find("\nbody-file-end\n") != std::string::npos,
              "file target content:\n%s", fbox.c_str());
    IT_EXPECT(line(7).find("dsn=5.2.2") != std::string::npos &&
                  line(7).find("over quota") != std::string::npos,
              "error: target: %s", line(7).c_str());
    IT_EXPECT(line(8).find("status=sent") != std::string::npos, "list: %s", line(8).c_str());
    IT_EXPECT(line(9).find("status=sent") != std::string::npos, "detail: %s", line(9).c_str());
    std::string box = s.mbox(u);
    std::vector<std::string> msgs = mbox_messages(box);
    bool list_seen = false, detail_seen = false;
    for (const std::string& m : msgs) {
        if (m.find("\nbody-list-end\n") != std::string::npos) {
            IT_EXPECT(!list_seen, "list mail delivered twice to %s", u.c_str());
            list_seen = true;
            IT_EXPECT(m.rfind("From owner-list-tg@", 0) == 0 &&
                          m.find("Return-Path: <owner-list-tg@") != std::string::npos,
                      "list mail not sent as owner-list-tg:\n%s", m.c_str());
        }
        if (m.find("\nbody-detail-end\n") != std::string::npos) {
            detail_seen = true;
            IT_EXPECT(m.find("Delivered-To: " + u + "+box@localhost\n") != std::string::npos,
                      "Delivered-To lacks the detail:\n%s", m.c_str());
        }
    }
    IT_EXPECT(list_seen && detail_seen, "list %d detail %d in the mailbox", list_seen, detail_seen);
}

// Item 6: a message already delivered to this mailbox (its Delivered-To) or with more
// Received fields than max_hop_count bounces with 5.4.6; the bounce reaches the sender.
Test(delivery, loops_bounce_with_5_4_6) {
    Sandbox& s = sandbox();
    const std::string u = mail_user();
    s.aliases = "postmaster: " + u + "\n";
    start_with({"max_hop_count = 5"});
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r1 =
        smtp_send(c, "loop@example.org", {u + "@localhost"},
                  "Delivered-To: " + u + "@LOCALHOST\r\nSubject: looped\r\n\r\nloop-one\r\n");
    std::string hops;
    for (int i = 0; i < 5; ++i)
        hops += "Received: from hop" + std::to_string(i) + ".example.org by x; date\r\n";
    // smtpd adds its own Received: six in all, one more than allowed.
    Reply r2 = smtp_send(c, "loop@example.org", {u + "@localhost"},
                         hops + "Subject: hops\r\n\r\nloop-two\r\n");
    // Four besides smtpd's own: five in all, allowed.
    Reply r3 =
        smtp_send(c, "loop@example.org", {u + "@localhost"},
                  hops.substr(hops.find("Received", 1)) + "Subject: ok\r\n\r\nloop-three\r\n");
    // A Delivered-To after 22 KiB of other header fields: past what local reads first.
    std::string filler;
    for (int i = 0; i < 25; ++i)
        filler += "X-Filler-" + std::to_string(i) + ": " + std::string(880, 'f') + "\r\n";
    Reply r4 = smtp_send(
        c, "loop@example.org", {u + "@localhost"},
        filler + "Delivered-To: " + u + "@localhost\r\nSubject: deep\r\n\r\n" + "loop-four\r\n");
    c.cmd("QUIT");
    std::string q1 = queued_id(r1), q2 = queued_id(r2), q3 = queued_id(r3), q4 = queued_id(r4);
    IT_ASSERT(!q1.empty() && !q2.empty() && !q3.empty() && !q4.empty(), "not queued");
    bool done = wait_until(
        [&] {
            std::string l = s.log();
            return l.find(q1 + ": removed") != std::string::npos &&
                   l.find(q2 + ": removed") != std::string::npos &&
                   l.find(q3 + ": removed") != std::string::npos &&
                   l.find(q4 + ": removed") != std::string::npos;
        },
        20000);
    IT_ASSERT(done, "messages not finished within 20 s");
    std::string log = s.log();
    std::string l1 = final_line(log, q1, u + "@localhost");
    std::string l2 = final_line(log, q2, u + "@localhost");
    std::string l3 = final_line(log, q3, u + "@localhost");
    IT_EXPECT(l1.find("dsn=5.4.6") != std::string::npos &&
                  l1.find("already delivered to") != std::string::npos,
              "Delivered-To loop: %s", l1.c_str());
    IT_EXPECT(
        l2.find("dsn=5.4.6") != std::string::npos && l2.find("too many hops") != std::string::npos,
        "hop count: %s", l2.c_str());
    IT_EXPECT(l3.find("status=sent") != std::string::npos, "five hops: %s", l3.c_str());
    std::string l4 = final_line(log, q4, u + "@localhost");
    IT_EXPECT(l4.find("dsn=5.4.6") != std::string::npos &&
                  l4.find("already delivered to") != std::string::npos,
              "Delivered-To past 16 KiB of header: %s", l4.c_str());
    std::string box = s.mbox(u);
    IT_EXPECT(box.find("\nloop-one\n") == std::string::npos, "looped message delivered");
    IT_EXPECT(box.find("\nloop-two\n") == std::string::npos,
              "message over the hop limit delivered");
    IT_EXPECT(box.find("\nloop-three\n") != std::string::npos, "message within the hop limit lost");
    IT_EXPECT(box.find("\nloop-four\n") == std::string::npos, "deep Delivered-To loop delivered");
    IT_EXPECT(log.find(q1 + ": sender non-delivery notification") != std::string::npos,
              "no bounce for the loop");
}

// Item 3: virtual domains through a virtusertable (a text map here): user@domain,
// user+*@domain, the @domain catch-all with %1, error: entries refused at RCPT, and a
// remote target handed back to the queue, which adds it to the envelope and routes it.
Test(delivery, virtusertable_maps_virtual_domains) {
    Sandbox& s = sandbox();
    const std::string u = mail_user();
    s.aliases = "postmaster: " + u + "\n";
    char tmpl[] = "/tmp/tegami-virt-XXXXXX";
    IT_ASSERT(mkdtemp(tmpl) != nullptr, "mkdtemp");
    std::string vmap = std::string(tmpl) + "/virtusertable";
    chmod(tmpl, 0755);
    write_file(vmap,
               "# virtual users\n"
               "info@virt.test " +
                   u +
                   "\n"
                   "sales+*@virt.test " +
                   u +
                   "\n"
                   "gone@virt.test error:5.2.1:550 account disabled\n"
                   "ext@virt.test someone@remote.example\n"
                   "@virt.test error:5.1.1:550 no such user here\n"
                   "@other.test %1\n");
    chmod(vmap.c_str(), 0644);
    start_with({"virtual_domains = virt.test, other.test", "virtual_map = text:" + vmap});
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    IT_ASSERT(c.cmd("MAIL FROM:<v@example.org>").code == 250, "MAIL");
    struct R {
        std::string rcpt;
        int code;
        const char* enhanced;
    };
    const R rcpts[] = {
        {"info@VIRT.test", 250, "2.1.5"},        {"sales+q3@virt.test", 250, "2.1.5"},
        {u + "@other.test", 250, "2.1.5"},       {"ext@virt.test", 250, "2.1.5"},
        {"nobody-here@virt.test", 550, "5.1.1"}, {"gone@virt.test", 550, "5.2.1"},
        {"x@notvirtual.test", 550, "5.7.1"},
    };
    for (const R& r : rcpts) {
        Reply rr = c.cmd("RCPT TO:<" + r.rcpt + ">");
        IT_EXPECT(rr.code == r.code && rr.enhanced() == r.enhanced, "RCPT %s: %d %s",
                  r.rcpt.c_str(), rr.code, rr.text().c_str());
    }
    IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
    c.send("Subject: virtual\r\n\r\nvirtual-body-end\r\n.\r\n");
    std::string qid = queued_id(c.reply(30000));
    IT_ASSERT(!qid.empty(), "not queued");
    c.cmd("QUIT");
    bool done = wait_until(
        [&] {
            std::string l = s.log();
            return !final_line(l, qid, "info@virt.test").empty() &&
                   !final_line(l, qid, "sales+q3@virt.test").empty() &&
                   !final_line(l, qid, u + "@other.test").empty() &&
                   !final_line(l, qid, "ext@virt.test").empty();
        },
        20000);
    std::string log = s.log();
    IT_ASSERT(done, "not every virtual recipient reached a result");
    for (const std::string& a :
         {std::string("info@virt.test"), std::string("sales+q3@virt.test"), u + "@other.test"})
        IT_EXPECT(final_line(log, qid, a).find("status=sent") != std::string::npos, "%s: %s",
                  a.c_str(), final_line(log, qid, a).c_str());
    std::string ext = final_line(log, qid, "ext@virt.test");
    IT_EXPECT(ext.find("status=sent") != std::string::npos, "remote virtual target: %s",
              ext.c_str());
    IT_EXPECT(log.find(qid + ": <ext@virt.test> expanded to <someone@remote.example>") !=
                  std::string::npos,
              "the remote target was not added to the envelope");
    size_t copies = count_of(s.mbox(u), "\nvirtual-body-end\n");
    IT_EXPECT(copies == 1, "%zu copies for three virtual addresses of one user", copies);
    run_command({"/bin/rm", "-rf", tmpl}, 10);
}
