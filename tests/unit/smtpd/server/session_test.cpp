// session_test.cpp - scripted-I/O tests for smtpd/server/session.cpp and verbs.cpp:
// the SMTP state machine driven with no sockets (input bytes in, reply bytes out)
// through a fake SessionHost. Bad inputs first: sequencing errors, syntax, limits,
// smuggling; then transactions, pipelining, suspension, draining.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "smtpd/server/policy.hpp"
#include "smtpd/server/session.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {

struct FakeHost : SessionHost {
    std::string out;
    std::vector<ipc::SubmitMsg> submitted;
    std::string suspend_at;  // verb name whose policy step suspends
    bool reject_policy = false;
    int ids = 0;

    void write(std::string_view b) override { out.append(b); }
    LocalKind classify_local(std::string_view l) override {
        if (l == "alice" || l == "bob") return LocalKind::user;
        if (iequals(l, "postmaster") || l == "staff") return LocalKind::alias;
        if (l == "root") return LocalKind::root_user;
        return LocalKind::unknown;
    }
    std::string new_queue_id() override { return "QID" + std::to_string(++ids); }
    std::string date() override { return "Thu, 1 Jan 1970 00:00:00 +0000"; }
    void submit(ipc::SubmitMsg m) override { submitted.push_back(std::move(m)); }
    PolicyChain chain;  // the real stages, relay control included
    std::vector<std::string> mechs;
    int tls_requests = 0;
    std::vector<std::string> stages;
    bool reject_connect = false;
    std::vector<std::string> eod_headers;
    void start_tls() override { ++tls_requests; }
    bool auth_hook = false;
    std::optional<Reply> auth(SessionState& st, std::string_view arg) override {
        if (!auth_hook) return SessionHost::auth(st, arg);
        if (arg == "LATER") {
            st.phase = Phase::waiting;
            return std::nullopt;
        }
        st.phase = Phase::sasl;
        return make_reply(334, "", "");
    }
    std::optional<Reply> auth_line(SessionState& st, std::string_view line) override {
        st.phase = Phase::command;
        if (line != "c2VjcmV0") return make_reply(535, "5.7.8", "Authentication failed");
        st.auth_login = "bob";
        st.may_relay = true;
        return make_reply(235, "2.7.0", "Authentication successful");
    }
    std::vector<std::string> auth_mechanisms(const SessionState&) override { return mechs; }
    PolicyVerdict policy(const SessionState& st, const VerbSpec& v, const CommandArgs& a) override {
        stages.push_back(v.name);
        if (suspend_at == v.name) return PolicyVerdict{PolicyStep::suspend, {}};
        if (reject_connect && v.stage == PolicyStage::connect)
            return PolicyVerdict{PolicyStep::reject, make_reply(554, "5.7.1", "Go away")};
        if (v.stage == PolicyStage::end_of_data && !eod_headers.empty()) {
            PolicyVerdict pv;
            pv.headers = eod_headers;
            return pv;
        }
        if (reject_policy && v.stage != PolicyStage::connect)
            return PolicyVerdict{PolicyStep::reject, make_reply(554, "5.7.1", "No")};
        return chain.run(st, v, a);
    }
    std::string take() { return std::exchange(out, std::string()); }
    std::vector<uint64_t> delays;  // SessionHost::delay requests, in order
    void delay(uint64_t seconds) override { delays.push_back(seconds); }
};

std::shared_ptr<const Config> config(uint64_t size_limit = 1000, uint64_t rcpt_limit = 3,
                                     uint64_t error_limit = 20) {
    Config c = default_config();
    c.hostname = "mx.test";
    c.local_domains = {"mx.test", "Localhost"};
    c.smtpd_banner = "mx.test ESMTP Tegami";
    c.message_size_limit = size_limit;
    c.smtpd_recipient_limit = rcpt_limit;
    c.smtpd_error_limit = error_limit;
    // No error sleep or tarpit unless a test asks for them (they have tests of their own).
    c.smtpd_soft_error_limit = 0;
    c.smtpd_unknown_recipient_tarpit = 0;
    c.smtpd_unknown_recipient_limit = 0;
    return std::make_shared<const Config>(c);
}

struct Fixture {
    FakeHost host;
    Session s;
    explicit Fixture(std::shared_ptr<const Config> c = config(), Role role = Role::mta)
        : s(host, std::move(c), ClientInfo{"127.0.0.1", "localhost"}, role) {
        s.start();
        host.take();
    }
    // Feeds everything the session will take; returns the replies.
    std::string run(std::string_view in) {
        size_t used = 0;
        while (used < in.size()) {
            size_t n = s.feed(in.substr(used));
            if (n == 0) break;
            used += n;
        }
        last_used = used;
        return host.take();
    }
    size_t last_used = 0;
};

struct Step {
    const char* in;
    const char* expect;  // the exact replies
};

void script(Fixture& f, const std::vector<Step>& steps) {
    for (const auto& st : steps) {
        std::string got = f.run(st.in);
        cr_expect_eq(got, std::string(st.expect), "after %s", st.in);
    }
}

const char* kEhlo = "EHLO c.test\r\n";
const char* kEhloReply =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 SMTPUTF8\r\n";

}  // namespace

Test(session, sequencing_errors) {
    Fixture f;
    script(f, {
                  {"MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n"},
                  {"RCPT TO:<alice@mx.test>\r\n", "503 5.5.1 Error: need MAIL command\r\n"},
                  {"DATA\r\n", "503 5.5.1 Error: need MAIL command\r\n"},
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Error: nested MAIL command\r\n"},
                  {"DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n"},
              });
}

Test(session, syntax_and_parameter_errors) {
    Fixture f;
    script(f, {
                  {"EHLO\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n"},
                  {"FOO bar\r\n", "500 5.5.2 Error: command not recognized\r\n"},
                  {"HELO c.test\r\n", "250 mx.test\r\n"},
                  {"MAIL FROM:<a@b.test> SIZE=10\r\n",
                   "555 5.5.4 Error: ESMTP parameters need EHLO\r\n"},
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test> FOO=1\r\n", "555 5.5.4 Unsupported parameter\r\n"},
                  {"MAIL FROM:<a@b.test> SIZE=1001\r\n",
                   "552 5.3.4 Message size exceeds fixed limit\r\n"},
                  {"MAIL FROM:a@b.test\r\n", "501 5.1.7 Bad sender address syntax: missing <\r\n"},
                  {"MAIL FROM:<\xc3\xa9@b.test>\r\n",
                   "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 addresses\r\n"},
                  {"MAIL FROM:<> SIZE=1000 BODY=8BITMIME\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<\xc3\xa9@mx.test>\r\n",
                   "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 addresses\r\n"},
                  {"RCPT TO:<alice@mx.test> NOTIFY=NEVER,SUCCESS\r\n",
                   "501 5.5.4 Bad parameter value: NOTIFY=NEVER cannot be combined\r\n"},
                  {"RCPT TO:<alice@mx.test> XFOO=1\r\n", "555 5.5.4 Unsupported parameter\r\n"},
                  {"VRFY\r\n", "501 5.5.4 Syntax: VRFY address\r\n"},
                  {"EXPN staff\r\n", "502 5.5.1 Error: EXPN is disabled\r\n"},
                  // RFC 5321 4.1.1.5: RSET takes no argument; a refused RSET resets nothing.
                  {"RSET everything\r\n", "501 5.5.4 Syntax: RSET\r\n"},
                  {"RCPT TO:<alice@mx.test>\r\n", "250 2.1.5 Ok\r\n"},
                  {"RSET \r\n", "250 2.0.0 Ok\r\n"},
                  {"RCPT TO:<alice@mx.test>\r\n", "503 5.5.1 Error: need MAIL command\r\n"},
              });
}

Test(session, long_lines_and_bare_line_ends) {
    Fixture f;
    std::string long_line = "NOOP " + std::string(1100, 'x') + "\r\n";
    std::string max_line = "NOOP " + std::string(1024 - 7, 'x') + "\r\n";
    cr_assert_eq(max_line.size(), 1024u);
    script(f, {
                  {long_line.c_str(), "500 5.5.2 Error: line too long\r\n"},
                  {max_line.c_str(), "250 2.0.0 Ok\r\n"},
                  {"NOOP\n", "500 5.5.2 Error: bare CR or LF in command\r\n"},
                  {"NO\rOP\r\n", "500 5.5.2 Error: bare CR or LF in command\r\n"},
                  {"NOOP\r\r\n", "500 5.5.2 Error: bare CR or LF in command\r\n"},
                  {"NOOP\r\n", "250 2.0.0 Ok\r\n"},
              });
    // A long line arriving in pieces is discarded without being kept.
    std::string piece(600, 'y');
    cr_expect_eq(f.run("NOOP "), "");
    cr_expect_eq(f.run(piece), "");
    cr_expect_eq(f.run(piece), "");
    cr_expect_eq(f.run("\r\nNOOP\r\n"),
                 std::string("500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"));
}

Test(session, recipient_policy) {
    Fixture f(config(1000, 3));
    script(
        f,
        {
            {kEhlo, kEhloReply},
            {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
            {"RCPT TO:<alice@other.test>\r\n", "550 5.7.1 <alice@other.test>: Relaying denied\r\n"},
            {"RCPT TO:<nobody@mx.test>\r\n",
             "550 5.1.1 <nobody@mx.test>: Recipient address rejected: User unknown in local "
             "recipient table\r\n"},
            {"RCPT TO:<root@mx.test>\r\n",
             "550 5.1.1 <root@mx.test>: mail for uid 0 is not delivered here; alias it\r\n"},
            {"RCPT TO:<u@[198.51.100.7]>\r\n", "550 5.7.1 <u@[198.51.100.7]>: Relaying denied\r\n"},
            {"RCPT TO:<alice@MX.TEST>\r\n", "250 2.1.5 Ok\r\n"},
            {"RCPT TO:<staff@localhost>\r\n", "250 2.1.5 Ok\r\n"},
            {"RCPT TO:<Postmaster>\r\n", "250 2.1.5 Ok\r\n"},
            {"RCPT TO:<bob@mx.test>\r\n", "452 4.5.3 Error: too many recipients\r\n"},
        });
    const auto& tx = *f.s.state().tx;
    cr_assert_eq(tx.recipients.size(), 3u);
    cr_expect_eq(tx.recipients[0], std::string("alice@mx.test"));
    cr_expect_eq(tx.recipients[2], std::string("Postmaster@mx.test"));
}

Test(session, error_limit_closes_with_421) {
    Fixture f(config(1000, 3, 3));
    std::string got = f.run("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
    cr_expect_eq(got, std::string("500 5.5.2 Error: command not recognized\r\n"
                                  "500 5.5.2 Error: command not recognized\r\n"
                                  "500 5.5.2 Error: command not recognized\r\n"
                                  "421 4.7.0 mx.test Error: too many errors\r\n"));
    cr_expect(f.s.closing());
    cr_expect_eq(f.last_used, 15u);  // NOOP never read
}

Test(session, data_smuggling_is_refused) {
    Fixture f;
    f.run(kEhlo);
    f.run("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\n");
    cr_expect_eq(f.run("DATA\r\n"), std::string("354 End data with <CR><LF>.<CR><LF>\r\n"));
    std::string got = f.run("x\n.\nMAIL FROM:<evil@b.test>\r\nRCPT TO:<bob@mx.test>\r\n.\r\n");
    cr_expect_eq(got, std::string("550 5.6.0 Message contains bare CR or LF\r\n"));
    cr_expect(f.host.submitted.empty());
    cr_expect(!f.s.state().tx);
    // The same for "\r.\r\n" and "\r\n.\n" inside the data.
    f.run("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n");
    got = f.run("a\r.\r\nb\r\n.\nc\r\n.\r\n");
    cr_expect_eq(got, std::string("550 5.6.0 Message contains bare CR or LF\r\n"));
    cr_expect(f.host.submitted.empty());
}

Test(session, data_limits) {
    Fixture f(config(100));
    f.run("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\n");
    f.run("DATA\r\n");
    std::string got = f.run(std::string(999, 'z') + "\r\n.\r\n");
    cr_expect_eq(got, std::string("550 5.6.0 Message contains lines longer than 1000 octets\r\n"));
    f.run("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n");
    got = f.run(std::string(60, 'z') + "\r\n" + std::string(60, 'z') + "\r\n.\r\nNOOP\r\n");
    cr_expect_eq(got,
                 std::string("552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n"));
    cr_expect(f.host.submitted.empty());
}

Test(session, queue_failures) {
    Fixture f;
    f.run("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n");
    f.run("hi\r\n.\r\n");
    f.s.submit_done(ipc::kStatusTemp, "4.3.0 Queue unavailable, try again later");
    cr_expect_eq(f.host.take(), std::string("451 4.3.0 Queue unavailable, try again later\r\n"));
    f.run("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\nhi\r\n.\r\n");
    f.host.take();
    f.s.submit_done(ipc::kStatusPerm, "5.7.0 refused by policy");
    cr_expect_eq(f.host.take(), std::string("554 5.7.0 refused by policy\r\n"));
    f.run("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\nhi\r\n.\r\n");
    f.host.take();
    f.s.submit_done(ipc::kStatusTemp, "disk full");
    cr_expect_eq(f.host.take(), std::string("451 4.3.0 disk full\r\n"));
}

Test(session, pipelined_transaction) {
    Fixture f;
    std::string in =
        "EHLO c.test\r\nMAIL FROM:<a@b.test> BODY=8BITMIME\r\nRCPT TO:<alice@mx.test>\r\n"
        "DATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
    std::string got = f.run(in);
    cr_expect_eq(got,
                 std::string(kEhloReply) +
                     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    cr_expect(f.s.waiting());
    cr_expect_eq(f.last_used, in.size() - 6);  // QUIT stays with the caller
    cr_assert_eq(f.host.submitted.size(), 1u);
    const ipc::SubmitMsg& m = f.host.submitted[0];
    cr_expect_eq(m.queue_id, std::string("QID1"));
    cr_expect_eq(m.sender, std::string("a@b.test"));
    cr_expect_eq(m.protocol, std::string("ESMTP"));
    cr_expect_eq(m.flags, ipc::kFlag8BitMime);
    cr_expect_eq(m.helo, std::string("c.test"));
    cr_expect_eq(m.body, std::string("Received: from c.test (localhost [127.0.0.1])\r\n"
                                     "\tby mx.test (Tegami) with ESMTP id QID1\r\n"
                                     "\tfor <alice@mx.test>; Thu, 1 Jan 1970 00:00:00 +0000\r\n"
                                     "Subject: hi\r\n\r\n.dot\r\n"));
    cr_expect_eq(f.run("QUIT\r\n"), "");  // nothing read while waiting
    f.s.submit_done(ipc::kStatusOk, "");
    cr_expect_eq(f.host.take(), std::string("250 2.0.0 Ok: queued as QID1\r\n"));
    cr_expect_eq(f.run("QUIT\r\n"), std::string("221 2.0.0 Bye\r\n"));
    cr_expect(f.s.closing());
    cr_expect_eq(f.s.summary(), std::string("ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"));
}

// RFC 3461 parameters reach the queue: RET and ENVID per message, NOTIFY and ORCPT per
// recipient (a repeated recipient keeps its first parameters); refusals first.
// RFC 2920 3.1: DATA ends a group, and the body may follow only after 354. A client that
// sent its body right behind a DATA that was refused (no valid recipient, no MAIL) gets
// the refusal and then 421: the lines of the body it sent blindly are never read as
// commands (a "MAIL FROM" or "RCPT TO" line in it would start a transaction of its own).
Test(session, a_body_pipelined_after_a_refused_data_is_not_read_as_commands) {
    Fixture f;
    std::string body =
        "Subject: blind\r\n\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@mx.test>\r\n"
        "DATA\r\ninjected\r\n.\r\n.\r\nQUIT\r\n";
    std::string got = f.run(std::string(kEhlo) +
                            "MAIL FROM:<a@b.test>\r\nRCPT TO:<nobody@mx.test>\r\nDATA\r\n" + body);
    cr_expect_eq(got, std::string(kEhloReply) +
                          "250 2.1.0 Ok\r\n"
                          "550 5.1.1 <nobody@mx.test>: Recipient address rejected: User unknown "
                          "in local recipient table\r\n"
                          "554 5.5.1 Error: no valid recipients\r\n"
                          "421 4.5.0 mx.test Error: SMTP protocol synchronization\r\n");
    cr_expect(f.s.closing());
    cr_expect(f.host.submitted.empty(), "nothing of the body became a message");

    // The same with no MAIL at all (a refused MAIL earlier in the group).
    Fixture g;
    got =
        g.run(std::string(kEhlo) + "MAIL FROM:<bad\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n" + body);
    cr_expect(
        got.find("503 5.5.1 Error: need MAIL command\r\n"
                 "421 4.5.0 mx.test Error: SMTP protocol synchronization\r\n") != std::string::npos,
        "%s", got.c_str());
    cr_expect(g.s.closing());
    cr_expect(g.host.submitted.empty());

    // A client that waits for the refusal may go on: nothing followed DATA in its input.
    Fixture h;
    script(h, {
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test>\r\nDATA\r\n",
                   "250 2.1.0 Ok\r\n"
                   "554 5.5.1 Error: no valid recipients\r\n"},
                  {"RCPT TO:<alice@mx.test>\r\nDATA\r\n",
                   "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
              });
    cr_expect_not(h.s.closing());
}

Test(session, dsn_parameters_are_carried) {
    Fixture f;
    const std::string long_envid = "MAIL FROM:<a@b.test> ENVID=" + std::string(101, 'e') + "\r\n";
    script(f, {
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test> RET=FULLY\r\n",
                   "501 5.5.4 Bad parameter value: RET takes FULL or HDRS\r\n"},
                  {long_envid.c_str(),
                   "501 5.5.4 Bad parameter value: ENVID longer than 100 characters\r\n"},
                  {"MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ+2B1\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<alice@mx.test> NOTIFY=\r\n",
                   "501 5.5.4 Bad parameter syntax: bad value\r\n"},
                  {"RCPT TO:<alice@mx.test> ORCPT=rfc822\r\n",
                   "501 5.5.4 Bad parameter value: ORCPT needs addr-type;address\r\n"},
                  {"RCPT TO:<alice@mx.test> ORCPT=rfc822;a+ZZ\r\n",
                   "501 5.5.4 Bad parameter value: ORCPT is not xtext\r\n"},
                  {"RCPT TO:<alice@mx.test> NOTIFY=SUCCESS NOTIFY=DELAY\r\n",
                   "501 5.5.4 Duplicate parameter\r\n"},
                  {"RCPT TO:<alice@mx.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2B@MX.test\r\n",
                   "250 2.1.5 Ok\r\n"},
                  {"RCPT TO:<alice@MX.test> NOTIFY=NEVER\r\n",
                   "250 2.1.5 Ok (duplicate recipient)\r\n"},
                  {"RCPT TO:<bob@mx.test> NOTIFY=never\r\n", "250 2.1.5 Ok\r\n"},
                  {"DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"},
                  {"Subject: x\r\n\r\nbody\r\n.\r\n", ""},
              });
    cr_assert_eq(f.host.submitted.size(), 1u);
    const ipc::SubmitMsg& m = f.host.submitted[0];
    cr_expect_eq(m.flags & (ipc::kFlagRetFull | ipc::kFlagRetHdrs), ipc::kFlagRetHdrs);
    cr_expect_eq(m.envid, std::string("QQ+1"));
    cr_assert_eq(m.notify.size(), 2u);
    cr_assert_eq(m.dsn_orcpts.size(), 2u);
    cr_expect_eq(m.notify[0], ipc::kNotifySuccess | ipc::kNotifyDelay);
    cr_expect_eq(m.dsn_orcpts[0], std::string("rfc822;Alice+@MX.test"));
    cr_expect_eq(m.notify[1], ipc::kNotifyNever);
    cr_expect_eq(m.dsn_orcpts[1], std::string(""));
}

Test(session, dsn_parameters_need_ehlo) {
    Fixture f;
    script(f, {
                  {"HELO c.test\r\n", "250 mx.test\r\n"},
                  {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<alice@mx.test> NOTIFY=NEVER\r\n",
                   "555 5.5.4 Error: ESMTP parameters need EHLO\r\n"},
              });
}

Test(session, byte_at_a_time_gives_the_same_replies) {
    std::string in =
        "HELO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test>\r\nRCPT TO:<bob@mx.test>\r\n"
        "DATA\r\n.x\r\n\r\n.\r\n";
    Fixture whole, bytes;
    std::string a = whole.run(in), b;
    for (char c : in)
        b += bytes.run(std::string(1, c));
    cr_expect_eq(a, b);
    cr_assert_eq(bytes.host.submitted.size(), 1u);
    const ipc::SubmitMsg& m = bytes.host.submitted[0];
    cr_expect_eq(m.protocol, std::string("SMTP"));
    cr_expect_eq(m.sender, std::string(""));
    cr_expect_eq(m.recipients.size(), 2u);
    cr_expect_eq(m.body.find("\tfor <"), std::string::npos);  // two recipients: no "for"
    cr_expect_neq(m.body.find("with SMTP id QID1; Thu"), std::string::npos);
    cr_expect(m.body.size() > 4 && m.body.substr(m.body.size() - 5) == "x\r\n\r\n");
}

Test(session, smtputf8_transaction) {
    Fixture f;
    f.run(kEhlo);
    std::string got =
        f.run("MAIL FROM:<\xc3\xa9@b.test> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@mx.test>\r\n");
    cr_expect_eq(got, std::string("250 2.1.0 Ok\r\n550 5.1.1 <\xc3\xa9@mx.test>: Recipient address "
                                  "rejected: User unknown in local recipient table\r\n"));
    f.run("RCPT TO:<alice@mx.test>\r\nDATA\r\nx\r\n.\r\n");
    cr_assert_eq(f.host.submitted.size(), 1u);
    cr_expect_eq(f.host.submitted[0].protocol, std::string("UTF8SMTP"));
    cr_expect_eq(f.host.submitted[0].flags, ipc::kFlagSmtputf8);
}

Test(session, policy_can_suspend_and_reject) {
    Fixture f;
    f.host.suspend_at = "rcpt";
    f.run("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n");
    std::string got = f.run("RCPT TO:<alice@mx.test>\r\nRCPT TO:<bob@mx.test>\r\n");
    cr_expect_eq(got, "");
    cr_expect(f.s.waiting());
    cr_expect_eq(f.last_used, 25u);
    f.s.policy_done(PolicyVerdict{});
    cr_expect_eq(f.host.take(), std::string("250 2.1.5 Ok\r\n"));
    f.host.suspend_at.clear();
    f.host.reject_policy = true;
    cr_expect_eq(f.run("RCPT TO:<bob@mx.test>\r\n"), std::string("554 5.7.1 No\r\n"));
    f.host.reject_policy = false;
    f.host.suspend_at = ".";
    f.run("DATA\r\nx\r\n.\r\n");
    cr_expect(f.s.waiting());
    cr_expect(f.host.submitted.empty());
    f.s.policy_done(PolicyVerdict{PolicyStep::reject, make_reply(550, "5.7.1", "Spam")});
    cr_expect_eq(f.host.take(), std::string("550 5.7.1 Spam\r\n"));
    cr_expect(!f.s.state().tx);
}

Test(session, timeout_and_drain) {
    Fixture f;
    f.s.timeout();
    cr_expect_eq(f.host.take(), std::string("421 4.4.2 mx.test Error: timeout exceeded\r\n"));
    cr_expect(f.s.closing());

    Fixture idle;
    idle.s.drain();
    cr_expect_eq(idle.host.take(), std::string("421 4.3.2 mx.test Service shutting down\r\n"));

    Fixture busy;
    busy.run("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\n");
    busy.s.drain();
    cr_expect_eq(busy.host.take(), "");
    busy.run("DATA\r\nx\r\n.\r\n");
    busy.host.take();
    busy.s.submit_done(ipc::kStatusOk, "");
    cr_expect_eq(busy.host.take(), std::string("250 2.0.0 Ok: queued as QID1\r\n"
                                               "421 4.3.2 mx.test Service shutting down\r\n"));
    cr_expect(busy.s.closing());
}

Test(session, other_verbs_and_greeting) {
    FakeHost h;
    Session s(h, config(0), ClientInfo{"192.0.2.1", "unknown"});
    s.start();
    cr_expect_eq(h.take(), std::string("220 mx.test ESMTP Tegami\r\n"));
    std::string in = "EHLO c\r\nNOOP\r\nRSET\r\nVRFY alice\r\nHELP\r\nQUIT\r\nNOOP\r\n";
    size_t used = s.feed(in);
    cr_expect_eq(
        h.take(),
        std::string("250-mx.test\r\n250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n"
                    "250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 SMTPUTF8\r\n"
                    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
                    "252 2.1.5 Send mail; delivery will be attempted\r\n"
                    "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n"
                    "214 2.0.0 See RFC 5321\r\n221 2.0.0 Bye\r\n"));
    cr_expect_eq(used, in.size() - 6);
    cr_expect_eq(s.summary(), std::string("ehlo=1 rset=1 noop=1 quit=1 help=1 vrfy=1 commands=6"));
}

// ---- roles, the per-verb gate, EHLO keywords, STARTTLS, policy stages

std::shared_ptr<const Config> tls_config() {
    Config c = *config();
    c.tls_cert_file = {"/nonexistent/cert.pem"};
    c.tls_key_file = {"/nonexistent/key.pem"};
    return std::make_shared<const Config>(c);
}

Test(session_roles, msa_refuses_mail_commands_before_auth) {
    for (Role role : {Role::msa, Role::smtps}) {
        Fixture f(config(), role);
        script(f, {
                      {"MAIL FROM:<a@b.test>\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"RCPT TO:<alice@mx.test>\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"DATA\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"VRFY alice\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"EXPN staff\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"BDAT 10\r\n", "500 5.5.2 Error: command not recognized\r\n"},
                      {"EHLO c.test\r\n", kEhloReply},
                      {"MAIL FROM:<a@b.test>\r\n", "530 5.7.0 Authentication required\r\n"},
                      {"NOOP\r\n", "250 2.0.0 Ok\r\n"},
                      {"RSET\r\n", "250 2.0.0 Ok\r\n"},
                      {"STARTTLS\r\n", "454 4.7.0 TLS not available due to local problem\r\n"},
                      {"AUTH PLAIN\r\n", "503 5.5.1 Error: authentication not enabled\r\n"},
                  });
        cr_expect(f.run("HELP\r\n").rfind("214", 0) == 0);
        cr_expect_eq(f.run("QUIT\r\n"), std::string("221 2.0.0 Bye\r\n"));
    }
}

Test(session_roles, mta_has_no_auth_gate) {
    Fixture f(config(), Role::mta);
    script(f, {{kEhlo, kEhloReply}, {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"}});
}

Test(session_roles, ehlo_keywords_follow_listener_and_state) {
    Fixture plain(tls_config());
    std::string with_tls = std::string(kEhloReply);
    with_tls.replace(with_tls.find("250 SMTPUTF8"), 12, "250-SMTPUTF8\r\n250 STARTTLS");
    cr_expect_eq(plain.run(kEhlo), with_tls);

    Fixture authy(tls_config(), Role::msa);
    authy.host.mechs = {"PLAIN", "LOGIN"};
    std::string both = with_tls;
    both.replace(both.find("250 STARTTLS"), 12, "250-STARTTLS\r\n250 AUTH PLAIN LOGIN");
    cr_expect_eq(authy.run(kEhlo), both);

    // Under TLS: no STARTTLS any more.
    authy.s.set_tls("TLSv1.3 TLS_AES_128_GCM_SHA256");
    std::string under = std::string(kEhloReply);
    under.replace(under.find("250 SMTPUTF8"), 12, "250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN");
    cr_expect_eq(authy.run(kEhlo), under);
}

Test(session_roles, starttls_discards_pipelined_plaintext_and_resets_state) {
    Fixture f(tls_config());
    cr_expect(f.run(kEhlo).find("STARTTLS") != std::string::npos);
    std::string inj = "STARTTLS\r\nMAIL FROM:<evil@b.test>\r\n";
    cr_expect_eq(f.run(inj), std::string("220 2.0.0 Ready to start TLS\r\n"));
    cr_expect_eq(f.last_used, 10u, "nothing after STARTTLS is consumed in plaintext");
    cr_expect(f.s.wants_tls());
    cr_expect_eq(f.host.tls_requests, 1);
    cr_expect_eq(f.run("MAIL FROM:<evil@b.test>\r\n"), "", "nothing is read before the handshake");
    f.s.tls_started("TLSv1.3 TLS_AES_256_GCM_SHA384");
    script(f, {
                  {"MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n"},
                  {"STARTTLS\r\n", "503 5.5.1 Error: TLS already active\r\n"},
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<alice@mx.test>\r\n", "250 2.1.5 Ok\r\n"},
                  {"DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"},
                  {"x\r\n.\r\n", ""},
              });
    cr_assert_eq(f.host.submitted.size(), 1u);
    const auto& m = f.host.submitted[0];
    cr_expect_eq(m.protocol, std::string("ESMTPS"));
    cr_expect(m.body.find("with ESMTPS id QID1\r\n\t(using TLSv1.3 with cipher "
                          "TLS_AES_256_GCM_SHA384)\r\n") != std::string::npos,
              "%s", m.body.c_str());
}

Test(session_roles, starttls_bad_uses) {
    Fixture f(tls_config());
    std::string ehlo_tls = std::string(kEhloReply);
    ehlo_tls.replace(ehlo_tls.find("250 SMTPUTF8"), 12, "250-SMTPUTF8\r\n250 STARTTLS");
    script(f, {
                  {"STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS\r\n"},
                  {kEhlo, ehlo_tls.c_str()},
                  {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"STARTTLS\r\n", "503 5.5.1 Error: MAIL transaction in progress\r\n"},
              });
}

Test(session_stages, connect_stage_can_refuse_or_suspend_the_greeting) {
    FakeHost h;
    h.reject_connect = true;
    Session s(h, config(), ClientInfo{"192.0.2.1", "unknown"});
    s.start();
    cr_expect_eq(h.take(), std::string("554 5.7.1 Go away\r\n"));
    cr_expect(s.closing());

    FakeHost h2;
    h2.suspend_at = "connect";
    Session s2(h2, config(), ClientInfo{"192.0.2.1", "unknown"});
    s2.start();
    cr_expect_eq(h2.take(), "", "no greeting while the connect stage works");
    cr_expect(s2.waiting());
    cr_expect_eq(s2.feed("EHLO x\r\n"), 0u);
    s2.policy_done(PolicyVerdict{});
    cr_expect_eq(h2.take(), std::string("220 mx.test ESMTP Tegami\r\n"));
}

Test(session_stages, each_stage_runs_in_order) {
    Fixture f;
    f.host.stages.clear();
    f.run(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nNOOP\r\n"
        "DATA\r\nx\r\n.\r\n");
    cr_expect_eq(f.host.stages, (std::vector<std::string>{"ehlo", "mail", "rcpt", "data", "."}));
}

Test(session_stages, end_of_data_may_add_headers) {
    Fixture f;
    f.host.eod_headers = {"X-Spam: no", "Authentication-Results: mx.test; none"};
    f.run(
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n"
        "Subject: s\r\n\r\nbody\r\n.\r\n");
    cr_assert_eq(f.host.submitted.size(), 1u);
    const std::string& b = f.host.submitted[0].body;
    size_t eoh = b.find("+0000\r\n") + 7;
    cr_expect_eq(b.substr(eoh), std::string("X-Spam: no\r\nAuthentication-Results: mx.test; "
                                            "none\r\nSubject: s\r\n\r\nbody\r\n"));
}

namespace {
struct RelayFor : PolicyCheck {
    const char* name() const override { return "test-relay"; }
    PolicyVerdict check(PolicyStage stage, const SessionState&, const CommandArgs& a) override {
        PolicyVerdict v;
        if (stage == PolicyStage::rcpt && std::get<RcptCommand>(a).rcpt.domain == "ok.test")
            v.relay = true;
        return v;
    }
};
}  // namespace

Test(session_stages, relay_is_decided_in_the_rcpt_stage) {
    Fixture f;
    f.host.chain.add(std::make_unique<RelayFor>());
    script(f, {
                  {kEhlo, kEhloReply},
                  {"MAIL FROM:<a@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<x@other.test>\r\n", "550 5.7.1 <x@other.test>: Relaying denied\r\n"},
                  {"RCPT TO:<x@ok.test>\r\n", "250 2.1.5 Ok\r\n"},
              });
}

Test(session_stages, a_session_that_may_relay_reaches_any_domain) {
    FakeHost h;
    SessionState st;
    Config c = *config();
    st.config = std::make_shared<const Config>(c);
    RcptCommand rc;
    rc.rcpt.local = "x";
    rc.rcpt.domain = "far.test";
    CommandArgs a = rc;
    cr_expect(relay_refusal(st, a, false).has_value());
    cr_expect_not(relay_refusal(st, a, true).has_value());
    st.may_relay = true;
    cr_expect_not(relay_refusal(st, a, false).has_value());
    rc.rcpt.domain = "MX.test";
    st.may_relay = false;
    cr_expect_not(relay_refusal(st, CommandArgs(rc), false).has_value());
}

Test(session_roles, the_auth_hook_opens_the_gate) {
    Fixture f(config(), Role::msa);
    f.host.auth_hook = true;
    // RFC 4954 4: SASL lines of 12288 octets must be taken; a longer one is refused.
    std::string too_long = std::string(13000, 'A') + "\r\n";
    script(f, {
                  {"AUTH PLAIN\r\n", "503 5.5.1 Error: send EHLO first\r\n"},
                  {kEhlo, kEhloReply},
                  {"AUTH\r\n", "501 5.5.4 Syntax: AUTH mechanism\r\n"},
                  {"AUTH PLAIN\r\n", "334 \r\n"},
                  {too_long.c_str(), "500 5.5.6 Error: authentication line too long\r\n"},
                  {"AUTH PLAIN\r\n", "334 \r\n"},
                  {"d3Jvbmc=\r\n", "535 5.7.8 Authentication failed\r\n"},
                  {"MAIL FROM:<bob@b.test>\r\n", "530 5.7.0 Authentication required\r\n"},
                  {"AUTH PLAIN\r\n", "334 \r\n"},
                  {"c2VjcmV0\r\n", "235 2.7.0 Authentication successful\r\n"},
                  {"AUTH PLAIN\r\n", "503 5.5.1 Error: already authenticated\r\n"},
                  {"MAIL FROM:<bob@b.test>\r\n", "250 2.1.0 Ok\r\n"},
                  {"RCPT TO:<x@far.test>\r\n", "250 2.1.5 Ok\r\n"},
              });
}

// RFC 4954 4: an AUTH command with an initial response may be a SASL line long (an
// OAuth token is often over 1 KiB); longer gets 500 5.5.6, other commands keep 1024.
Test(session_roles, auth_command_lines_may_be_sasl_line_long) {
    Fixture f(config(), Role::msa);
    f.host.auth_hook = true;
    f.run(kEhlo);
    std::string big = "AUTH PLAIN " + std::string(12000, 'A') + "\r\n";
    std::string too_big = "auth plain " + std::string(13000, 'A') + "\r\n";
    std::string noop = "NOOP " + std::string(5000, 'x') + "\r\n";
    cr_expect_eq(f.run(big), std::string("334 \r\n"), "a 12 KB AUTH line is taken");
    cr_expect_eq(f.run("d3Jvbmc=\r\n"), std::string("535 5.7.8 Authentication failed\r\n"));
    cr_expect_eq(f.run(too_big), std::string("500 5.5.6 Error: authentication line too long\r\n"));
    // In pieces: the start names AUTH, the discarded rest still gets 5.5.6.
    cr_expect_eq(f.run("AUTH PLAIN " + std::string(8000, 'B')), "");
    cr_expect_eq(f.run(std::string(8000, 'B')), "");
    cr_expect_eq(f.run("\r\n"), std::string("500 5.5.6 Error: authentication line too long\r\n"));
    cr_expect_eq(f.run(noop), std::string("500 5.5.2 Error: line too long\r\n"));
    cr_expect_eq(f.run("NOOP\r\n"), std::string("250 2.0.0 Ok\r\n"));
}

Test(session_roles, the_auth_hook_may_answer_later) {
    Fixture f(config(), Role::smtps);
    f.host.auth_hook = true;
    f.run(kEhlo);
    cr_expect_eq(f.run("AUTH LATER\r\nMAIL FROM:<bob@b.test>\r\n"), "");
    cr_expect(f.s.waiting());
    f.s.auth_done(make_reply(235, "2.7.0", "Authentication successful"), "bob");
    cr_expect_eq(f.host.take(), std::string("235 2.7.0 Authentication successful\r\n"));
    cr_expect_eq(f.s.state().auth_login, std::string("bob"));
    cr_expect_eq(f.run("MAIL FROM:<bob@b.test>\r\n"), std::string("250 2.1.0 Ok\r\n"));
}

namespace {
size_t occurrences(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
        ++n;
    return n;
}
}  // namespace

// The spine's two recipient-limit defects: a repeated RCPT was collapsed and never
// counted (RCPTs per transaction unbounded), and each 452 past the limit counted as an
// error, so a pipelining client lost its transaction to 421.
Test(session, repeated_recipients_count_toward_the_limit) {
    Fixture f(config(1000, 3));
    f.run(kEhlo);
    std::string got = f.run(
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\nRCPT TO:<alice@mx.test>\r\n"
        "RCPT TO:<alice@mx.test>\r\nRCPT TO:<alice@mx.test>\r\n");
    cr_expect_eq(got, std::string("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                  "250 2.1.5 Ok (duplicate recipient)\r\n"
                                  "250 2.1.5 Ok (duplicate recipient)\r\n"
                                  "452 4.5.3 Error: too many recipients\r\n"));
    cr_expect_eq(f.s.state().tx->recipients.size(), 1u);
}

Test(session, too_many_recipients_is_no_error) {
    Fixture f(config(1000, 3, 5));
    f.run(kEhlo);
    std::string batch = "MAIL FROM:<a@b.test>\r\n";
    for (int i = 0; i < 20; ++i)
        batch += "RCPT TO:<alice@mx.test>\r\n";
    std::string got = f.run(batch);
    cr_expect_eq(occurrences(got, "452 4.5.3"), 17u);
    cr_expect(got.find("421") == std::string::npos, "%s", got.c_str());
    cr_expect_not(f.s.closing());
    cr_expect_eq(f.run("DATA\r\n"), std::string("354 End data with <CR><LF>.<CR><LF>\r\n"));
}

Test(session, junk_commands_past_the_limit_close_with_421) {
    Config c = *config();
    c.smtpd_junk_command_limit = 3;
    Fixture f(std::make_shared<const Config>(c));
    f.run(kEhlo);
    std::string got = f.run("NOOP\r\nRSET\r\nHELP\r\nNOOP\r\nQUIT\r\n");
    cr_expect_eq(occurrences(got, "250 2.0.0 Ok"), 2u, "%s", got.c_str());
    cr_expect(got.find("421 4.7.0 mx.test Error: too many junk commands") != std::string::npos,
              "%s", got.c_str());
    cr_expect(got.find("221") == std::string::npos, "QUIT is never read: %s", got.c_str());
    cr_expect(f.s.closing());
}

// ---- the error sleep, the harvest tarpit (issue 13 item 6)
namespace {
std::shared_ptr<const Config> abuse_config(uint64_t soft, uint64_t tarpit, uint64_t unknown) {
    Config c = *config(1000, 100, 50);
    c.smtpd_soft_error_limit = soft;
    c.smtpd_error_sleep_time = 3;
    c.smtpd_unknown_recipient_tarpit = tarpit;
    c.smtpd_unknown_recipient_limit = unknown;
    c.smtpd_tarpit_delay = 7;
    return std::make_shared<const Config>(c);
}
}  // namespace

Test(session, error_sleep_holds_the_reply_and_the_input) {
    Fixture f(abuse_config(2, 0, 0));
    f.run(kEhlo);
    // Two errors are answered at once; the third reply is held, and so is what follows.
    std::string got = f.run("BOGUS1\r\nBOGUS2\r\nBOGUS3\r\nNOOP\r\n");
    cr_expect_eq(occurrences(got, "500 5.5.2"), 2u, "%s", got.c_str());
    cr_expect_eq(f.host.delays, std::vector<uint64_t>{3});
    cr_expect(f.s.waiting(), "nothing is read while the reply is held");
    cr_expect_eq(f.last_used, std::string("BOGUS1\r\nBOGUS2\r\nBOGUS3\r\n").size());
    f.s.delay_done();
    cr_expect_eq(f.host.take(), std::string("500 5.5.2 Error: command not recognized\r\n"));
    cr_expect_not(f.s.waiting());
    cr_expect_eq(f.run("NOOP\r\n"), std::string("250 2.0.0 Ok\r\n"), "good replies are not held");
    f.run("BOGUS4\r\n");
    cr_expect_eq(f.host.delays.size(), 2u, "each further error is held");
    f.s.delay_done();
    f.host.take();
}

// A refused DATA whose reply the error sleep holds back: the body behind it still ends
// the session, the held refusal going out before the 421.
Test(session, a_body_behind_a_refused_data_under_the_error_sleep_ends_the_session) {
    Fixture f(abuse_config(1, 0, 0));
    f.run(kEhlo);
    f.run("BOGUS1\r\n");
    std::string got = f.run("MAIL FROM:<a@b.test>\r\nDATA\r\nRCPT TO:<bob@mx.test>\r\n");
    cr_expect_eq(got, std::string("250 2.1.0 Ok\r\n554 5.5.1 Error: no valid recipients\r\n"
                                  "421 4.5.0 mx.test Error: SMTP protocol synchronization\r\n"));
    cr_expect(f.s.closing());
}

Test(session, exempt_and_local_clients_get_no_error_sleep) {
    for (bool local : {false, true}) {
        FakeHost h;
        ClientInfo ci{"192.0.2.9", "unknown"};
        ci.limits_exempt = !local;
        ci.local = local;
        Session s(h, abuse_config(1, 1, 2), ci);
        s.start();
        s.feed(kEhlo);
        s.feed("BOGUS\r\nBOGUS\r\nBOGUS\r\nRCPT TO:<x@y>\r\n");
        cr_expect(h.delays.empty(), "local=%d", local);
        cr_expect_not(s.waiting());
    }
}

Test(session, harvest_tarpit_then_421) {
    Fixture f(abuse_config(0, 2, 4));
    f.run(kEhlo);
    f.run("MAIL FROM:<a@b.test>\r\n");
    std::string got = f.run("RCPT TO:<nobody1@mx.test>\r\nRCPT TO:<nobody2@mx.test>\r\n");
    cr_expect_eq(occurrences(got, "550 5.1.1"), 2u, "%s", got.c_str());
    cr_expect(f.host.delays.empty(), "up to the threshold: no delay");
    got = f.run("RCPT TO:<nobody3@mx.test>\r\n");
    cr_expect_eq(got, "", "the third unknown recipient's reply is held");
    cr_expect_eq(f.host.delays, std::vector<uint64_t>{7});
    f.s.delay_done();
    cr_expect(f.host.take().rfind("550 5.1.1", 0) == 0);
    got = f.run("RCPT TO:<alice@mx.test>\r\n");
    cr_expect_eq(got, "", "past the tarpit every RCPT reply is held, a good one too");
    f.s.delay_done();
    cr_expect_eq(f.host.take(), std::string("250 2.1.5 Ok\r\n"));
    got = f.run("RCPT TO:<nobody4@mx.test>\r\nRCPT TO:<alice@mx.test>\r\n");
    cr_expect(got.find("550 5.1.1") != std::string::npos, "a closing session is not held: %s",
              got.c_str());
    cr_expect(got.find("421 4.7.0 mx.test Error: too many unknown recipients") != std::string::npos,
              "%s", got.c_str());
    cr_expect(f.s.closing());
    cr_expect_eq(occurrences(got, "250"), 0u, "nothing after the 421 is read: %s", got.c_str());
}
