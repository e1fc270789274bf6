// smtp_test.cpp - the SMTP dialogue of the real tegami-smtpd on the MTA port, driven over
// a loopback socket: extensions, enhanced status codes, refusals, limits, bad input,
// pipelining, and the end-of-data rules that stop SMTP smuggling. Bad inputs first.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace tegami_it;

namespace {

void start_default() {
    Sandbox& s = sandbox();
    bool ok = s.start();
    if (!ok) s.dump_log();
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
}

// A session that has greeted and said EHLO.
void hello(SmtpClient& c) {
    bool ok = smtp_hello(c, sandbox().port);
    IT_ASSERT(ok, "greeting/EHLO failed:\n%s", c.transcript.c_str());
}

std::string rcpt_ok() {
    return mail_user() + "@localhost";
}

void expect_reply(const Reply& r, int code, const char* enhanced, const char* what) {
    IT_EXPECT(r.code == code && r.enhanced() == enhanced, "%s: want %d %s, got %d \"%s\"", what,
              code, enhanced, r.code, r.text().c_str());
}

// Sends a good message with the given marker and waits until it is in the mailbox:
// everything the session accepted before it has been through the queue by then.
void deliver_marker(SmtpClient& c, const std::string& marker) {
    Reply r = smtp_send(c, "marker@example.org", {rcpt_ok()},
                        "Subject: " + marker + "\r\n\r\n" + marker + "\r\n");
    IT_ASSERT(r.code == 250, "marker message refused: %d %s", r.code, r.text().c_str());
    bool seen = wait_until(
        [&] { return sandbox().mbox(mail_user()).find(marker) != std::string::npos; }, 20000);
    IT_ASSERT(seen, "marker %s not delivered within 20 s", marker.c_str());
}

// A message whose body carries an SMTP transaction after a fake end of data.
void smuggling_case(const std::string& fake_end, const std::string& name) {
    start_default();
    SmtpClient c;
    hello(c);
    IT_ASSERT(c.cmd("MAIL FROM:<honest@example.org>").code == 250, "MAIL");
    IT_ASSERT(c.cmd("RCPT TO:<" + rcpt_ok() + ">").code == 250, "RCPT");
    IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
    std::string data = "Subject: honest\r\n\r\nhonest body" + fake_end +
                       "MAIL FROM:<smuggler@evil.example>\r\n"
                       "RCPT TO:<" +
                       rcpt_ok() +
                       ">\r\n"
                       "DATA\r\n"
                       "Subject: smuggled-" +
                       name + "\r\n\r\nsmuggled-" + name + "\r\n.\r\n";
    IT_ASSERT(c.send(data), "send");
    // Exactly one reply, after the real CRLF.CRLF: the bare line end refuses the message.
    Reply r = c.reply();
    expect_reply(r, 550, "5.6.0", ("end of data with smuggled " + name).c_str());
    // No reply left over from the smuggled commands: the next reply answers NOOP.
    Reply n = c.cmd("NOOP");
    expect_reply(n, 250, "2.0.0", "NOOP after the refused message");
    deliver_marker(c, "after-smuggling-" + name);
    std::string box = sandbox().mbox(mail_user());
    IT_EXPECT(box.find("smuggled-" + name) == std::string::npos, "smuggled message delivered");
    IT_EXPECT(box.find("honest body") == std::string::npos, "refused message delivered");
    IT_EXPECT(sandbox().log().find("smuggler@evil.example") == std::string::npos,
              "smuggled sender reached the queue");
    c.cmd("QUIT");
}

}  // namespace

TestSuite(smtp, .fini = stop_sandbox, .timeout = 60);

// ---- bad input and refusals

Test(smtp, mail_before_ehlo_is_a_bad_sequence) {
    start_default();
    SmtpClient c;
    IT_ASSERT(c.connect(sandbox().port), "connect");
    IT_ASSERT(c.reply().code == 220, "greeting");
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 503, "5.5.1", "MAIL before EHLO");
    expect_reply(c.cmd("EHLO client.example.org"), 250, "", "EHLO");
    expect_reply(c.cmd("RCPT TO:<" + rcpt_ok() + ">"), 503, "5.5.1", "RCPT before MAIL");
    expect_reply(c.cmd("DATA"), 503, "5.5.1", "DATA before MAIL");
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0", "MAIL");
    Reply d = c.cmd("DATA");
    IT_EXPECT((d.code == 503 || d.code == 554) && d.enhanced().rfind("5.5.", 0) == 0,
              "DATA before RCPT: %d %s", d.code, d.text().c_str());
    Reply m = c.cmd("MAIL FROM:<b@example.org>");
    IT_EXPECT(m.code == 503 && m.enhanced().rfind("5.5.", 0) == 0, "nested MAIL: %d %s", m.code,
              m.text().c_str());
    expect_reply(c.cmd("RSET"), 250, "2.0.0", "RSET");
    expect_reply(c.cmd("RCPT TO:<" + rcpt_ok() + ">"), 503, "5.5.1", "RCPT after RSET");
    expect_reply(c.cmd("QUIT"), 221, "2.0.0", "QUIT");
}

Test(smtp, unknown_local_user_is_refused_at_rcpt) {
    start_default();
    SmtpClient c;
    hello(c);
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0", "MAIL");
    expect_reply(c.cmd("RCPT TO:<no-such-user-tg1@localhost>"), 550, "5.1.1", "unknown user");
    expect_reply(c.cmd("RCPT TO:<no-such-user-tg1@localhost.localdomain>"), 550, "5.1.1",
                 "unknown user at the host name");
    expect_reply(c.cmd("RCPT TO:<" + rcpt_ok() + ">"), 250, "2.1.5", "known user");
}

Test(smtp, other_domains_are_not_relayed) {
    start_default();
    SmtpClient c;
    hello(c);
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0", "MAIL");
    expect_reply(c.cmd("RCPT TO:<someone@example.com>"), 550, "5.7.1", "other domain");
    expect_reply(c.cmd("RCPT TO:<" + mail_user() + "@localhost.example.com>"), 550, "5.7.1",
                 "look-alike domain");
    Reply pct = c.cmd("RCPT TO:<someone%example.com@localhost>");
    IT_EXPECT(pct.code == 550, "percent hack must not relay: %d %s", pct.code, pct.text().c_str());
    Reply route = c.cmd("RCPT TO:<@localhost:someone@example.com>");
    IT_EXPECT(route.code >= 500 && route.code < 600, "source route must not relay: %d %s",
              route.code, route.text().c_str());
    // RFC 5321 3.3: no valid recipients is 554 (or 503) to DATA.
    Reply d = c.cmd("DATA");
    IT_EXPECT((d.code == 554 || d.code == 503) && d.enhanced().rfind("5.5.", 0) == 0,
              "DATA without an accepted recipient: %d %s", d.code, d.text().c_str());
}

Test(smtp, size_parameter_over_the_limit_is_refused) {
    start_default();
    SmtpClient c;
    hello(c);
    expect_reply(c.cmd("MAIL FROM:<a@example.org> SIZE=10240001"), 552, "5.3.4", "SIZE > limit");
    // A SIZE beyond any integer may be refused as too big or as bad syntax.
    Reply huge = c.cmd("MAIL FROM:<a@example.org> SIZE=99999999999999999999999");
    IT_EXPECT((huge.code == 552 && huge.enhanced() == "5.3.4") ||
                  (huge.code == 501 && huge.enhanced().rfind("5.5.", 0) == 0),
              "huge SIZE: %d %s", huge.code, huge.text().c_str());
    expect_reply(c.cmd("MAIL FROM:<a@example.org> SIZE=10240000"), 250, "2.1.0", "SIZE = limit");
}

Test(smtp, body_over_the_limit_is_refused_after_data) {
    Sandbox& s = sandbox();
    bool ok = s.start({"message_size_limit=20000"});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    SmtpClient c;
    Reply e;
    IT_ASSERT(smtp_hello(c, s.port, &e), "EHLO");
    IT_EXPECT(e.text().find("SIZE 20000") != std::string::npos, "EHLO: %s", e.text().c_str());
    std::string body = "Subject: big-one\r\n\r\n";
    for (int i = 0; i < 400; ++i)
        body += std::string(78, 'b') + "\r\n";
    Reply r = smtp_send(c, "a@example.org", {rcpt_ok()}, body);
    expect_reply(r, 552, "5.3.4", "body over the limit");
    deliver_marker(c, "after-big-message");
    IT_EXPECT(s.mbox(mail_user()).find("Subject: big-one") == std::string::npos,
              "big message delivered");
}

Test(smtp, bare_lf_in_data_is_refused_after_the_real_end) {
    start_default();
    SmtpClient c;
    hello(c);
    Reply r = smtp_send(c, "a@example.org", {rcpt_ok()},
                        "Subject: bare-lf\r\n\r\nline one\nline two\r\n");
    expect_reply(r, 550, "5.6.0", "bare LF");
    deliver_marker(c, "after-bare-lf");
    IT_EXPECT(sandbox().mbox(mail_user()).find("Subject: bare-lf") == std::string::npos,
              "message with bare LF delivered");
}

Test(smtp, bare_cr_in_data_is_refused_after_the_real_end) {
    start_default();
    SmtpClient c;
    hello(c);
    Reply r = smtp_send(c, "a@example.org", {rcpt_ok()},
                        "Subject: bare-cr\r\n\r\nline one\rline two\r\n");
    expect_reply(r, 550, "5.6.0", "bare CR");
    deliver_marker(c, "after-bare-cr");
    IT_EXPECT(sandbox().mbox(mail_user()).find("Subject: bare-cr") == std::string::npos,
              "message with bare CR delivered");
}

Test(smtp, lf_dot_lf_does_not_end_data) {
    smuggling_case("\n.\n", "lf-dot-lf");
}

Test(smtp, crlf_dot_lf_does_not_end_data) {
    smuggling_case("\r\n.\n", "crlf-dot-lf");
}

Test(smtp, lf_dot_crlf_does_not_end_data) {
    smuggling_case("\n.\r\n", "lf-dot-crlf");
}

Test(smtp, cr_dot_cr_does_not_end_data) {
    smuggling_case("\r.\r", "cr-dot-cr");
}

Test(smtp, command_line_too_long) {
    start_default();
    SmtpClient c;
    hello(c);
    expect_reply(c.cmd("NOOP " + std::string(2000, 'x')), 500, "5.5.2", "2000-byte command");
    expect_reply(c.cmd("NOOP"), 250, "2.0.0", "NOOP after a long line");
    expect_reply(c.cmd("MAIL FROM:<" + std::string(100000, 'a') + "@example.org>"), 500, "5.5.2",
                 "100 KB command");
    expect_reply(c.cmd("NOOP"), 250, "2.0.0", "NOOP after a 100 KB line");
}

Test(smtp, bare_lf_in_a_command_is_refused) {
    start_default();
    SmtpClient c;
    hello(c);
    IT_ASSERT(c.send("NOOP\n"), "send");
    Reply r = c.reply();
    IT_EXPECT(r.code == 500 && r.enhanced().rfind("5.5.", 0) == 0, "bare LF command: %d %s", r.code,
              r.text().c_str());
    expect_reply(c.cmd("NOOP"), 250, "2.0.0", "NOOP after it");
}

Test(smtp, too_many_errors_close_the_session) {
    start_default();
    SmtpClient c;
    hello(c);
    // The 20th error (smtpd_error_limit's default) is answered, then 421 follows at
    // once, without another command.
    for (int i = 1; i <= 20; ++i) {
        Reply r = c.cmd("BOGUS" + std::to_string(i));
        IT_ASSERT(r.code == 500, "error %d: got %d \"%s\"", i, r.code, r.text().c_str());
    }
    expect_reply(c.reply(), 421, "4.7.0", "right after the 20th error");
    IT_EXPECT(c.closed_by_peer(), "connection still open after 421");
}

Test(smtp, error_limit_is_configurable) {
    Sandbox& s = sandbox();
    bool ok = s.start({"smtpd_error_limit=3"});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    for (int i = 1; i <= 3; ++i) {
        Reply r = c.cmd("RCPT TO:<x@localhost>");  // 503: no MAIL
        IT_ASSERT(r.code == 503, "error %d: got %d \"%s\"", i, r.code, r.text().c_str());
    }
    expect_reply(c.reply(), 421, "4.7.0", "right after the 3rd error");
    IT_EXPECT(c.closed_by_peer(), "connection still open after 421");
}

// ---- what a client sees when all is well

Test(smtp, greeting_and_ehlo_extensions) {
    start_default();
    SmtpClient c;
    IT_ASSERT(c.connect(sandbox().port), "connect");
    Reply g = c.reply();
    IT_EXPECT(g.code == 220 && g.lines.back().rfind("localhost.localdomain", 0) == 0,
              "greeting: %d %s", g.code, g.text().c_str());
    Reply e = c.cmd("EHLO client.example.org");
    IT_ASSERT(e.code == 250 && e.lines.size() >= 6, "EHLO: %d %s", e.code, e.text().c_str());
    IT_EXPECT(e.lines[0].rfind("localhost.localdomain", 0) == 0, "EHLO first line: %s",
              e.lines[0].c_str());
    std::vector<std::string> ext(e.lines.begin() + 1, e.lines.end());
    for (const char* want :
         {"PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8"}) {
        bool found = false;
        for (const std::string& l : ext)
            found = found || l == want;
        IT_EXPECT(found, "EHLO does not list %s:\n%s", want, e.text().c_str());
    }
    Reply h = c.cmd("HELO client.example.org");
    IT_EXPECT(h.code == 250 && h.lines.size() == 1, "HELO: %d %s", h.code, h.text().c_str());
}

Test(smtp, every_reply_after_the_greeting_has_an_enhanced_code) {
    start_default();
    SmtpClient c;
    hello(c);
    // EHLO/HELO success replies are exempt (RFC 2034 section 4); 354 carries none.
    const std::vector<std::string> cmds = {
        "NOOP",
        "VRFY " + mail_user(),
        "HELP",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<" + rcpt_ok() + ">",
        "RCPT TO:<no-such-user-tg1@localhost>",
        "RCPT TO:<x@example.com>",
        "RCPT TO:<broken",
        "MAIL FROM:<b@example.org>",
        "RSET",
        "EXPN postmaster",
        "BOGUS",
        "DATA",
        "MAIL FROM:<a@example.org> NOSUCHPARAM=1",
        "MAIL FROM:broken",
        "RSET",
        "QUIT",
    };
    for (const std::string& cmd : cmds) {
        Reply r = c.cmd(cmd);
        IT_ASSERT(r.code > 0, "no reply to %s", cmd.c_str());
        std::string enh = r.enhanced();
        IT_EXPECT(!enh.empty() && enh[0] == static_cast<char>('0' + r.code / 100),
                  "%s: reply without a matching enhanced code: %d %s", cmd.c_str(), r.code,
                  r.text().c_str());
    }
}

Test(smtp, vrfy_does_not_disclose) {
    start_default();
    SmtpClient c;
    hello(c);
    Reply known = c.cmd("VRFY " + mail_user());
    Reply unknown = c.cmd("VRFY no-such-user-tg1");
    IT_EXPECT(known.code == 252 && known.enhanced().rfind("2.", 0) == 0, "VRFY user: %d %s",
              known.code, known.text().c_str());
    IT_EXPECT(unknown.code == 252 && unknown.text() == known.text(),
              "VRFY tells users apart: \"%s\" vs \"%s\"", known.text().c_str(),
              unknown.text().c_str());
}

Test(smtp, queued_reply_names_the_queue_id) {
    start_default();
    SmtpClient c;
    hello(c);
    Reply r = smtp_send(c, "a@example.org", {rcpt_ok()}, "Subject: id\r\n\r\nbody\r\n");
    std::string id = queued_id(r);
    IT_EXPECT(!id.empty(), "want \"250 2.0.0 Ok: queued as <16-char id>\", got %d \"%s\"", r.code,
              r.text().c_str());
    Reply r2 = smtp_send(c, "a@example.org", {rcpt_ok()}, "Subject: id2\r\n\r\nbody\r\n");
    std::string id2 = queued_id(r2);
    IT_EXPECT(!id2.empty() && id2 != id, "second id \"%s\" after \"%s\"", id2.c_str(), id.c_str());
    expect_reply(c.cmd("QUIT"), 221, "2.0.0", "QUIT");
    IT_EXPECT(c.closed_by_peer(), "connection open after QUIT");
}

Test(smtp, pipelined_transaction) {
    start_default();
    SmtpClient c;
    hello(c);
    IT_ASSERT(c.send("MAIL FROM:<pipe@example.org>\r\n"
                     "RCPT TO:<" +
                     rcpt_ok() +
                     ">\r\n"
                     "RCPT TO:<no-such-user-tg1@localhost>\r\n"
                     "RCPT TO:<postmaster@localhost>\r\n"
                     "DATA\r\n"),
              "send");
    expect_reply(c.reply(), 250, "2.1.0", "pipelined MAIL");
    expect_reply(c.reply(), 250, "2.1.5", "pipelined RCPT");
    expect_reply(c.reply(), 550, "5.1.1", "pipelined unknown RCPT");
    expect_reply(c.reply(), 250, "2.1.5", "pipelined alias RCPT");
    Reply d = c.reply();
    IT_ASSERT(d.code == 354, "pipelined DATA: %d %s", d.code, d.text().c_str());
    IT_ASSERT(c.send("Subject: pipelined-token\r\n\r\npipelined body\r\n.\r\n"
                     "MAIL FROM:<pipe2@example.org>\r\n"
                     "RCPT TO:<" +
                     rcpt_ok() +
                     ">\r\n"
                     "DATA\r\n"),
              "send");
    Reply q = c.reply(30000);
    IT_EXPECT(!queued_id(q).empty(), "pipelined end of data: %d %s", q.code, q.text().c_str());
    expect_reply(c.reply(), 250, "2.1.0", "second pipelined MAIL");
    expect_reply(c.reply(), 250, "2.1.5", "second pipelined RCPT");
    IT_ASSERT(c.reply().code == 354, "second DATA");
    IT_ASSERT(c.send("Subject: pipelined-second\r\n\r\nsecond\r\n.\r\nQUIT\r\n"), "send");
    IT_EXPECT(!queued_id(c.reply(30000)).empty(), "second message not queued");
    expect_reply(c.reply(), 221, "2.0.0", "pipelined QUIT");
    bool both = wait_until(
        [&] {
            std::string box = sandbox().mbox(mail_user());
            return box.find("pipelined-token") != std::string::npos &&
                   box.find("pipelined-second") != std::string::npos;
        },
        20000);
    IT_EXPECT(both, "pipelined messages not delivered");
}

Test(smtp, eight_bit_and_smtputf8_parameters) {
    start_default();
    SmtpClient c;
    hello(c);
    expect_reply(c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8"), 250, "2.1.0",
                 "MAIL with BODY=8BITMIME SMTPUTF8");
    expect_reply(c.cmd("RCPT TO:<" + rcpt_ok() + ">"), 250, "2.1.5", "RCPT");
    IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
    IT_ASSERT(c.send("Subject: =?UTF-8?Q?h=C3=A9?=\r\n\r\nd\xc3\xa9j\xc3\xa0 vu 8bit\r\n.\r\n"),
              "send");
    Reply r = c.reply(30000);
    IT_EXPECT(!queued_id(r).empty(), "8-bit message: %d %s", r.code, r.text().c_str());
    bool seen = wait_until(
        [&] {
            return sandbox().mbox(mail_user()).find("d\xc3\xa9j\xc3\xa0 vu 8bit\n") !=
                   std::string::npos;
        },
        20000);
    IT_EXPECT(seen, "8-bit body not delivered byte for byte");
}

Test(smtp, null_sender_and_bare_postmaster_are_accepted) {
    start_default();
    SmtpClient c;
    hello(c);
    // RFC 5321 4.5.1: "postmaster" without a domain must be accepted; so must <> (bounces).
    expect_reply(c.cmd("MAIL FROM:<>"), 250, "2.1.0", "null sender");
    expect_reply(c.cmd("RCPT TO:<postmaster>"), 250, "2.1.5", "bare postmaster");
    IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
    IT_ASSERT(c.send("Subject: null-sender\r\n\r\nnull-sender-body\r\n.\r\n"), "send");
    Reply r = c.reply(30000);
    IT_EXPECT(!queued_id(r).empty(), "not queued: %d %s", r.code, r.text().c_str());
    bool seen = wait_until(
        [&] { return sandbox().mbox(mail_user()).find("null-sender-body") != std::string::npos; },
        20000);
    IT_ASSERT(seen, "message from <> to postmaster not delivered");
    std::string box = sandbox().mbox(mail_user());
    IT_EXPECT(box.rfind("From MAILER-DAEMON ", 0) == 0 &&
                  box.find("\nReturn-Path: <>\n") != std::string::npos,
              "null sender not shown as MAILER-DAEMON / <>:\n%s", box.c_str());
}

Test(smtp, client_limit_refuses_further_sessions) {
    Sandbox& s = sandbox();
    bool ok = s.start({"smtpd_client_limit=2"});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    SmtpClient a, b, c;
    IT_ASSERT(smtp_hello(a, s.port) && smtp_hello(b, s.port), "two sessions");
    IT_ASSERT(c.connect(s.port), "connect");
    expect_reply(c.reply(), 421, "4.7.0", "third session");
    IT_EXPECT(c.closed_by_peer(), "third session left open");
    expect_reply(a.cmd("NOOP"), 250, "2.0.0", "first session still served");
    a.cmd("QUIT");
    IT_EXPECT(a.closed_by_peer(), "QUIT");
    bool again = wait_until(
        [&] {
            SmtpClient d;
            return d.connect(s.port) && d.reply().code == 220;
        },
        5000);
    IT_EXPECT(again, "no new session served after one ended");
}
