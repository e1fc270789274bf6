// smtp_client_test.cpp - tests for msp/sendmail/smtp_client.cpp's send_message against
// a scripted smtpd (a child process on a socketpair): where each recipient ends up
// (taken, refused, deferred) when smtpd answers RCPT, DATA or the end of data with a
// 4xx or a 5xx. Bad answers first.
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "msp/sendmail/smtp_client.hpp"

using namespace tegami::msp;

namespace {

struct Script {
    std::map<std::string, std::string> rcpt;  // address -> reply line (default 250)
    std::string data = "354 go ahead";
    std::string end = "250 2.0.0 Ok: queued";
    bool hang_up_after_first_rcpt = false;
};

void put(int fd, const std::string& line) {
    std::string l = line + "\r\n";
    (void)!::write(fd, l.data(), l.size());
}

bool get_line(int fd, std::string& buf, std::string& line) {
    for (;;) {
        size_t eol = buf.find("\r\n");
        if (eol != std::string::npos) {
            line = buf.substr(0, eol);
            buf.erase(0, eol + 2);
            return true;
        }
        char tmp[4096];
        ssize_t n = ::read(fd, tmp, sizeof tmp);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<size_t>(n));
    }
}

// The scripted smtpd; never returns.
[[noreturn]] void serve(int fd, const Script& s) {
    std::string buf, line;
    put(fd, "220 test ESMTP");
    while (get_line(fd, buf, line)) {
        if (line.rfind("EHLO", 0) == 0) {
            put(fd, "250-test");
            put(fd, "250 DSN");
        } else if (line.rfind("MAIL", 0) == 0 || line == "RSET") {
            put(fd, "250 2.1.0 Ok");
        } else if (line.rfind("RCPT TO:<", 0) == 0) {
            if (s.hang_up_after_first_rcpt) _exit(0);
            std::string addr = line.substr(9, line.find('>') - 9);
            auto it = s.rcpt.find(addr);
            put(fd, it == s.rcpt.end() ? "250 2.1.5 Ok" : it->second);
        } else if (line == "DATA") {
            put(fd, s.data);
            if (s.data[0] != '3') continue;
            while (get_line(fd, buf, line) && line != ".") {
            }
            put(fd, s.end);
        } else if (line == "QUIT") {
            put(fd, "221 bye");
            _exit(0);
        } else {
            put(fd, "500 what");
        }
    }
    _exit(0);
}

SendOutcome run(const Script& s, const std::vector<std::string>& rcpts) {
    int sv[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = ::fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        ::close(sv[0]);
        serve(sv[1], s);
    }
    ::close(sv[1]);
    SmtpClient c(sv[0], false, 10);
    SmtpReply g;
    cr_assert(c.open("client.test", g));
    QueuedMessage m;
    m.sender = "a@x.test";
    m.recipients = rcpts;
    m.message = "Subject: t\r\n\r\nbody\r\n";
    SendOutcome out = send_message(c, m);
    ::close(sv[0]);
    int st;
    ::waitpid(pid, &st, 0);
    return out;
}

std::vector<std::string> refused_of(const SendOutcome& o) {
    std::vector<std::string> v;
    for (const auto& r : o.refused)
        v.push_back(r.first);
    return v;
}

}  // namespace

Test(send_message, a_lost_connection_defers_everyone) {
    Script s;
    s.hang_up_after_first_rcpt = true;
    SendOutcome o = run(s, {"b@x.test", "c@x.test"});
    cr_expect(!o.accepted);
    cr_expect(o.temporary);
    cr_expect_eq(o.deferred, (std::vector<std::string>{"b@x.test", "c@x.test"}));
    cr_expect(o.refused.empty());
}

Test(send_message, a_4xx_for_one_rcpt_defers_that_recipient_only) {
    Script s;
    s.rcpt["c@x.test"] = "451 4.7.1 sending limit reached, try later";
    s.rcpt["d@x.test"] = "550 5.1.1 no such user";
    SendOutcome o = run(s, {"b@x.test", "c@x.test", "d@x.test", "e@x.test"});
    cr_expect(o.accepted, "b and e are taken");
    cr_expect(o.temporary);
    cr_expect_eq(o.deferred, std::vector<std::string>{"c@x.test"});
    cr_expect_eq(refused_of(o), std::vector<std::string>{"d@x.test"});
}

Test(send_message, every_rcpt_deferred_or_refused_sends_no_data) {
    Script s;
    s.rcpt["b@x.test"] = "450 4.2.1 try later";
    s.rcpt["c@x.test"] = "550 5.1.1 no such user";
    SendOutcome o = run(s, {"b@x.test", "c@x.test"});
    cr_expect(!o.accepted);
    cr_expect_eq(o.deferred, std::vector<std::string>{"b@x.test"});
    cr_expect_eq(refused_of(o), std::vector<std::string>{"c@x.test"});
}

Test(send_message, the_end_of_data_answer_applies_to_the_taken_recipients) {
    Script s;
    s.rcpt["c@x.test"] = "550 5.1.1 no such user";
    s.end = "451 4.3.0 queue trouble";
    SendOutcome o = run(s, {"b@x.test", "c@x.test", "d@x.test"});
    cr_expect(!o.accepted);
    cr_expect_eq(o.deferred, (std::vector<std::string>{"b@x.test", "d@x.test"}));
    cr_expect_eq(refused_of(o), std::vector<std::string>{"c@x.test"});
    Script p;
    p.end = "554 5.6.0 content refused";
    SendOutcome q = run(p, {"b@x.test", "d@x.test"});
    cr_expect(!q.accepted);
    cr_expect(!q.temporary);
    cr_expect_eq(refused_of(q), (std::vector<std::string>{"b@x.test", "d@x.test"}));
    cr_expect_eq(q.refused[0].second.code, 554);
}

Test(send_message, all_taken) {
    SendOutcome o = run(Script{}, {"b@x.test", "c@x.test"});
    cr_expect(o.accepted);
    cr_expect(!o.temporary);
    cr_expect(o.deferred.empty());
    cr_expect(o.refused.empty());
}
