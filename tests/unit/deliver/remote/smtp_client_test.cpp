// smtp_client_test.cpp - scripted-I/O tests for deliver/remote/smtp_client.cpp: each case
// is a list of steps (server bytes to feed, the exact client bytes expected, TLS done),
// then the per-recipient outcomes. Bad servers first: malformed and unexpected replies,
// plaintext after STARTTLS, dropped connections; then refusals at every stage, missing
// extensions, and the normal sessions with and without PIPELINING, TLS and AUTH.
#include "deliver/remote/smtp_client.hpp"

#include <criterion/criterion.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/core/unique_fd.hpp"
#include "lib/mail/dot_stuff.hpp"

using namespace tegami::remote;
using Ev = SmtpClient::Event;

namespace {

struct Step {
    enum Kind { server, client, tls_ok, tls_fail, lost } kind;
    std::string data;
};

Step S(std::string d) {
    return {Step::server, std::move(d)};
}
Step C(std::string d) {
    return {Step::client, std::move(d)};
}

ClientSettings settings() {
    ClientSettings s;
    s.helo_name = "me.example";
    s.peer = "mx.test[127.0.0.1]:25";
    return s;
}

MessageSpec message(const std::vector<std::string>& rcpts,
                    std::string_view body = "Subject: x\r\n\r\nhi\r\n") {
    MessageSpec m;
    m.sender = "a@me.example";
    for (auto& r : rcpts)
        m.rcpts.push_back(RcptSpec{r, "", 0});
    m.body = body;
    return m;
}

// Runs the script; returns the session's client. Every client write must be expected.
void run(SmtpClient& c, const std::vector<Step>& steps) {
    for (size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        switch (st.kind) {
            case Step::server:
                c.feed(st.data);
                break;
            case Step::client:
                cr_assert_eq(c.output().flat(), st.data,
                             "step %zu: client wrote [%s], expected [%s]", i,
                             c.output().flat().c_str(), st.data.c_str());
                c.output().clear();
                break;
            case Step::tls_ok:
                cr_assert_eq(c.event(), Ev::start_tls, "step %zu", i);
                c.tls_done(true);
                break;
            case Step::tls_fail:
                c.tls_done(false, "handshake failure");
                break;
            case Step::lost:
                c.connection_lost("lost connection");
                break;
        }
    }
    cr_assert(c.output().empty(), "unexpected client output [%s]", c.output().flat().c_str());
}

const char* kEhloPlain = "250-mx.test\r\n250 SIZE 1000\r\n";
const char* kEhloPipe = "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-DSN\r\n250 SIZE\r\n";

}  // namespace

Test(smtp_client, bad_reply_lines_are_refused) {
    const char* bad[] = {"", "25", "abc ok", "250x", "600 no", "199 no", "2500 x"};
    for (const char* b : bad) {
        int code = 0;
        bool last = false;
        std::string_view t;
        cr_expect_not(parse_reply_line(b, code, last, t), "%s", b);
    }
    int code = 0;
    bool last = false;
    std::string_view t;
    cr_expect(parse_reply_line("250-PIPELINING", code, last, t));
    cr_expect_eq(code, 250);
    cr_expect_not(last);
    cr_expect(parse_reply_line("220", code, last, t));
    cr_expect(last);
}

Test(smtp_client, malformed_greeting_fails_the_session_temporarily) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("hello there\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    cr_expect_eq(c.session_outcome().status, 4);
    auto r = c.take_results();
    cr_assert_eq(r.size(), 1u);
    cr_expect_eq(r[0].status, 4);
    cr_expect_eq(r[0].dsn, "4.5.0");
}

Test(smtp_client, mixed_codes_in_one_reply_are_malformed) {
    SmtpClient c(settings());
    run(c, {S("220-hi\r\n554 no\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    cr_expect_eq(c.session_outcome().dsn, "4.5.0");
}

Test(smtp_client, unsolicited_reply_fails) {
    SmtpClient c(settings());
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n250 again\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    cr_expect_eq(c.session_outcome().dsn, "4.5.0");
}

Test(smtp_client, plaintext_after_starttls_reply_is_refused) {
    auto s = settings();
    s.tls_possible = true;
    SmtpClient c(s);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 STARTTLS\r\n"),
            C("STARTTLS\r\n"), S("220 go ahead\r\n250 injected\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    cr_expect_eq(c.session_outcome().dsn, "4.7.0");
}

Test(smtp_client, lost_connection_after_data_is_a_deferral) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"),
            C("EHLO me.example\r\n"),
            S(kEhloPlain),
            C("MAIL FROM:<a@me.example> SIZE=18\r\n"),
            S("250 ok\r\n"),
            C("RCPT TO:<b@x.test>\r\n"),
            S("250 ok\r\n"),
            C("DATA\r\n"),
            S("354 go\r\n"),
            C("Subject: x\r\n\r\nhi\r\n.\r\n"),
            {Step::lost, ""}});
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 4);
    cr_expect_eq(r[0].dsn, "4.4.2");
    cr_expect(r[0].text.find("end of data") != std::string::npos, "%s", r[0].text.c_str());
}

Test(smtp_client, greeting_554_fails_with_its_class) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("554 5.7.1 go away\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);
    cr_expect_eq(r[0].dsn, "5.7.1");
    cr_expect_eq(r[0].text,
                 "mx.test[127.0.0.1]:25 said: 554 5.7.1 go away (in reply to initial greeting "
                 "command)");
}

Test(smtp_client, ehlo_refused_falls_back_to_helo_without_extensions) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("502 no\r\n"),
            C("HELO me.example\r\n"), S("250 mx.test\r\n"), C("MAIL FROM:<a@me.example>\r\n"),
            S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"), S("250 ok\r\n"), C("DATA\r\n"),
            S("354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n"), S("250 2.0.0 queued as X\r\n")});
    cr_assert_eq(c.event(), Ev::message_done);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect_eq(r[0].dsn, "2.0.0");
    cr_expect_not(r[0].peer_dsn, "no DSN offered: a NOTIFY=SUCCESS is reported as relayed");
    cr_expect_eq(c.event(), Ev::idle);
    c.quit();
    run(c, {C("QUIT\r\n"), S("221 bye\r\n")});
    cr_expect_eq(c.event(), Ev::closed);
    cr_expect_eq(c.session_outcome().status, 2);
}

Test(smtp_client, rcpt_refusals_are_per_recipient_lock_step) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test", "c@x.test", "d@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S(kEhloPlain),
            C("MAIL FROM:<a@me.example> SIZE=18\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("550 5.1.1 no such user\r\n"), C("RCPT TO:<c@x.test>\r\n"), S("452 4.2.2 full\r\n"),
            C("RCPT TO:<d@x.test>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"),
            C("Subject: x\r\n\r\nhi\r\n.\r\n"), S("250 ok\r\n")});
    auto r = c.take_results();
    cr_assert_eq(r.size(), 3u);
    cr_expect_eq(r[0].status, 5);
    cr_expect_eq(r[0].dsn, "5.1.1");
    cr_expect(r[0].text.find("(in reply to RCPT TO command)") != std::string::npos);
    cr_expect_eq(r[1].status, 4);
    cr_expect_eq(r[1].dsn, "4.2.2");
    cr_expect_eq(r[2].status, 2);
}

Test(smtp_client, all_rcpts_refused_resets_without_data) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("550 no\r\n"), C("RSET\r\n"), S("250 ok\r\n")});
    cr_assert_eq(c.event(), Ev::message_done);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);
    cr_expect_eq(r[0].dsn, "5.0.0");  // no enhanced code given: the class's
}

Test(smtp_client, mail_refused_applies_to_every_recipient) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test", "c@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("451 4.3.0 try later\r\n"), C("RSET\r\n"),
            S("250 ok\r\n")});
    auto r = c.take_results();
    cr_expect_eq(r[0].dsn, "4.3.0");
    cr_expect_eq(r[1].dsn, "4.3.0");
    cr_expect(r[1].text.find("MAIL FROM") != std::string::npos);
}

Test(smtp_client, data_refusals_and_final_refusals) {
    for (const char* stage : {"data", "dot"}) {
        SmtpClient c(settings());
        c.send_message(message({"b@x.test"}));
        std::vector<Step> st = {S("220 mx.test\r\n"), C("EHLO me.example\r\n"),
                                S("250 mx.test\r\n"), C("MAIL FROM:<a@me.example>\r\n"),
                                S("250 ok\r\n"),      C("RCPT TO:<b@x.test>\r\n"),
                                S("250 ok\r\n"),      C("DATA\r\n")};
        if (std::string(stage) == "data") {
            st.push_back(S("554 5.6.0 no data\r\n"));
            st.push_back(C("RSET\r\n"));
            st.push_back(S("250 ok\r\n"));
        } else {
            st.push_back(S("354 go\r\n"));
            st.push_back(C("Subject: x\r\n\r\nhi\r\n.\r\n"));
            st.push_back(S("452 4.3.1 no space\r\n"));
        }
        run(c, st);
        auto r = c.take_results();
        cr_expect_eq(r[0].status, std::string(stage) == "data" ? 5 : 4, "%s", stage);
    }
}

Test(smtp_client, pipelining_sends_mail_rcpts_and_data_at_once_with_dsn) {
    SmtpClient c(settings());
    MessageSpec m = message({"b@x.test", "c@x.test"});
    m.rcpts[0].notify = kNotifyFailure | kNotifyDelay;
    m.rcpts[0].orcpt = "rfc822;B+1@x.test";
    m.rcpts[1].notify = kNotifyNever;
    m.rcpts[1].orcpt = "utf-8;j\xc3\xb6rg@x.test";
    m.envid = "id=1";
    m.ret = "HDRS";
    m.eight_bit = true;
    c.send_message(m);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S(kEhloPipe),
            C("MAIL FROM:<a@me.example> SIZE=18 BODY=8BITMIME RET=HDRS ENVID=id+3D1\r\n"
              "RCPT TO:<b@x.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;B+2B1@x.test\r\n"
              "RCPT TO:<c@x.test> NOTIFY=NEVER ORCPT=utf-8;j\\x{F6}rg@x.test\r\n"
              "DATA\r\n"),
            S("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n"),
            S("250 2.0.0 ok\r\n")});
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect(r[0].peer_dsn, "the DSN peer took NOTIFY: it reports success itself");
    cr_expect_eq(r[1].status, 5);
}

Test(smtp_client, pipelined_no_valid_rcpt_but_354_sends_a_lone_dot) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 PIPELINING\r\n"),
            C("MAIL FROM:<a@me.example>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"),
            S("250 ok\r\n550 no\r\n354 go\r\n"), C(".\r\n"), S("554 no valid recipients\r\n")});
    cr_assert_eq(c.event(), Ev::message_done);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);
    cr_expect(r[0].text.find("RCPT TO") != std::string::npos);
}

Test(smtp_client, missing_extensions_bounce_before_mail) {
    struct Case {
        const char* ehlo;
        bool eight_bit, utf8;
        const char* body;
        const char* dsn;
    } cases[] = {
        {"250-mx.test\r\n250 SIZE 10\r\n", false, false, "0123456789ABCDEF\r\n", "5.3.4"},
        {"250-mx.test\r\n250 8BITMIME\r\n", false, true, "Subject: gr\xc3\xbc\xc3\x9f\r\n\r\nx\r\n",
         "5.6.7"},
        {"250 mx.test\r\n", true, false, "caf\xc3\xa9\r\n", "5.6.3"},
    };
    for (const auto& k : cases) {
        SmtpClient c(settings());
        MessageSpec m = message({"b@x.test"}, k.body);
        m.eight_bit = k.eight_bit;
        m.smtputf8 = k.utf8;
        c.send_message(m);
        run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S(k.ehlo)});
        cr_assert_eq(c.event(), Ev::message_done, "%s", k.dsn);
        auto r = c.take_results();
        cr_expect_eq(r[0].status, 5, "%s", k.dsn);
        cr_expect_eq(r[0].dsn, k.dsn);
    }
}

// RFC 6531 3.4/3.5: what makes a message that arrived with SMTPUTF8 need the extension.
Test(smtp_client, needs_smtputf8_looks_at_envelope_and_header_only) {
    struct Case {
        const char* sender;
        const char* rcpt;
        const char* orcpt;
        const char* body;
        bool flag, needs;
    } cases[] = {
        {"a@me.example", "b@x.test", "", "Subject: x\r\n\r\nhi\r\n", true, false},
        {"a@me.example", "j\xc3\xb6rg@x.test", "", "Subject: x\r\n\r\nhi\r\n", true, true},
        {"\xc3\xa9@me.example", "b@x.test", "", "Subject: x\r\n\r\nhi\r\n", true, true},
        // a UTF-8 ORCPT goes out as utf-8-addr-xtext (RFC 6533 3): no SMTPUTF8 needed
        {"a@me.example", "b@x.test", "utf-8;j\xc3\xb6rg@x.test", "Subject: x\r\n\r\n", true, false},
        {"a@me.example", "b@x.test", "", "Subject: caf\xc3\xa9\r\n\r\nhi\r\n", true, true},
        // 8-bit after the header section is the body's (8BITMIME), not SMTPUTF8's
        {"a@me.example", "b@x.test", "", "Subject: x\r\n\r\ncaf\xc3\xa9\r\n", true, false},
        {"a@me.example", "b@x.test", "", "\r\ncaf\xc3\xa9\r\n", true, false},
        // no empty line: all of it is header
        {"a@me.example", "b@x.test", "", "Subject: caf\xc3\xa9\r\n", true, true},
        {"a@me.example", "b@x.test", "", "", true, false},
        // not flagged: never (smtpd takes no UTF-8 address without SMTPUTF8)
        {"a@me.example", "b@x.test", "", "Subject: caf\xc3\xa9\r\n\r\n", false, false},
    };
    for (const auto& k : cases) {
        MessageSpec m = message({k.rcpt}, k.body);
        m.sender = k.sender;
        m.rcpts[0].orcpt = k.orcpt;
        m.smtputf8 = k.flag;
        cr_expect_eq(needs_smtputf8(m), k.needs, "%s %s %s %s", k.sender, k.rcpt, k.orcpt, k.body);
    }
}

// RFC 6531 3.4: a message that arrived with SMTPUTF8 but is all ASCII in its envelope and
// header goes to a peer without SMTPUTF8, and to one with it without the parameter.
Test(smtp_client, ascii_message_flagged_smtputf8_goes_without_the_parameter) {
    for (const char* ehlo :
         {"250-mx.test\r\n250 8BITMIME\r\n", "250-mx.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"}) {
        SmtpClient c(settings());
        MessageSpec m = message({"b@x.test"});
        m.smtputf8 = true;
        c.send_message(m);
        run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S(ehlo),
                C("MAIL FROM:<a@me.example>\r\n")});
    }
    SmtpClient c(settings());
    MessageSpec m = message({"j\xc3\xb6rg@x.test"});
    m.smtputf8 = true;
    c.send_message(m);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"),
            S("250-mx.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"),
            C("MAIL FROM:<a@me.example> SMTPUTF8\r\n")});
}

// RFC 6533 3: a UTF-8 ORCPT of an otherwise ASCII message is downgraded to
// utf-8-addr-xtext for a DSN peer without SMTPUTF8 (the same form a peer with it gets),
// left out for a peer without DSN, and left out when the stored value cannot be sent
// well formed; the recipient is delivered in every case.
Test(smtp_client, utf8_orcpt_is_downgraded_or_left_out_never_bounced) {
    struct Case {
        const char* ehlo;
        const char* orcpt;
        const char* rcpt_line;
    } cases[] = {
        // bad stored values first: left out, not refused
        {"250-mx.test\r\n250 DSN\r\n", "utf-8;j\xc3(rg@x.test", "RCPT TO:<b@x.test>\r\n"},
        {"250-mx.test\r\n250 DSN\r\n", "utf-8;j\r\nRSET@x.test", "RCPT TO:<b@x.test>\r\n"},
        {"250-mx.test\r\n250 DSN\r\n", "rfc 822;b@x.test", "RCPT TO:<b@x.test>\r\n"},
        {"250-mx.test\r\n250-SMTPUTF8\r\n250 DSN\r\n", "utf-8;j\xc3(rg@x.test",
         "RCPT TO:<b@x.test>\r\n"},
        // no DSN: no ORCPT, as for any type
        {"250-mx.test\r\n250 8BITMIME\r\n", "utf-8;j\xc3\xb6rg@x.test", "RCPT TO:<b@x.test>\r\n"},
        {"250-mx.test\r\n250 DSN\r\n", "utf-8;j\xc3\xb6rg@x.test",
         "RCPT TO:<b@x.test> ORCPT=utf-8;j\\x{F6}rg@x.test\r\n"},
        {"250-mx.test\r\n250-SMTPUTF8\r\n250 DSN\r\n", "utf-8;j\xc3\xb6rg@x.test",
         "RCPT TO:<b@x.test> ORCPT=utf-8;j\\x{F6}rg@x.test\r\n"},
        {"250-mx.test\r\n250 DSN\r\n", "utf-8;a+b\\c@x.test",
         "RCPT TO:<b@x.test> ORCPT=utf-8;a\\x{2B}b\\x{5C}c@x.test\r\n"},
    };
    for (const auto& k : cases) {
        SmtpClient c(settings());
        MessageSpec m = message({"b@x.test"});
        m.smtputf8 = true;  // arrived with SMTPUTF8: only the ORCPT is UTF-8
        m.rcpts[0].orcpt = k.orcpt;
        c.send_message(m);
        run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S(k.ehlo),
                C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C(k.rcpt_line), S("250 ok\r\n"),
                C("DATA\r\n"), S("354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n"),
                S("250 2.0.0 ok\r\n")});
        auto r = c.take_results();
        cr_expect_eq(r[0].status, 2, "%s", k.rcpt_line);
    }
    // Over 500 characters once encoded: left out.
    std::string wide = "utf-8;";
    for (int i = 0; i < 90; ++i)
        wide += "\xc3\xa9";
    SmtpClient c(settings());
    MessageSpec m = message({"b@x.test"});
    m.rcpts[0].orcpt = wide + "@x.test";
    c.send_message(m);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 DSN\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n")});
}

Test(smtp_client, eight_bit_flag_with_7bit_body_goes_out_without_body_param) {
    SmtpClient c(settings());
    MessageSpec m = message({"b@x.test"});
    m.eight_bit = true;
    c.send_message(m);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n")});
}

Test(smtp_client, command_injection_in_an_address_is_refused) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test>\r\nRCPT TO:<evil@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n")});
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);
    cr_expect_eq(r[0].dsn, "5.5.2");
}

Test(smtp_client, starttls_when_offered_then_ehlo_again_and_auth) {
    auto s = settings();
    s.tls_possible = true;
    s.auth_user = "u";
    s.auth_password = "p";
    s.auth_mechanisms = {"PLAIN", "LOGIN"};
    SmtpClient c(s);
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"),
            C("EHLO me.example\r\n"),
            S("250-mx.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"),
            C("STARTTLS\r\n"),
            S("220 go ahead\r\n"),
            {Step::tls_ok, ""},
            C("EHLO me.example\r\n"),
            S("250-mx.test\r\n250 AUTH LOGIN PLAIN\r\n"),
            C("AUTH PLAIN AHUAcA==\r\n"),
            S("235 2.7.0 ok\r\n"),
            C("MAIL FROM:<a@me.example>\r\n")});
    cr_expect(c.tls_active());
}

Test(smtp_client, auth_login_and_refused_credentials_defer) {
    auto s = settings();
    s.tls_active = true;  // implicit TLS
    s.auth_user = "u";
    s.auth_password = "p";
    s.auth_mechanisms = {"PLAIN", "LOGIN"};
    SmtpClient c(s);
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 AUTH LOGIN\r\n"),
            C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C("dQ==\r\n"),
            S("334 UGFzc3dvcmQ6\r\n"), C("cA==\r\n"), S("535 5.7.8 bad credentials\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 4);
    cr_expect_eq(r[0].dsn, "4.7.8");
}

Test(smtp_client, no_auth_in_the_clear) {
    auto s = settings();
    s.auth_user = "u";
    s.auth_password = "p";
    s.auth_mechanisms = {"PLAIN"};
    SmtpClient c(s);
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 AUTH PLAIN\r\n"),
            C("MAIL FROM:<a@me.example>\r\n")});
}

Test(smtp_client, required_tls_missing_or_failing_defers) {
    {
        auto s = settings();
        s.tls_possible = true;
        s.tls_required = true;
        SmtpClient c(s);
        c.send_message(message({"b@x.test"}));
        run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n")});
        auto r = c.take_results();
        cr_expect_eq(r[0].status, 4);
        cr_expect_eq(r[0].dsn, "4.7.4");
    }
    {
        auto s = settings();
        s.tls_possible = true;
        SmtpClient c(s);
        c.send_message(message({"b@x.test"}));
        run(c, {S("220 mx.test\r\n"),
                C("EHLO me.example\r\n"),
                S("250-mx.test\r\n250 STARTTLS\r\n"),
                C("STARTTLS\r\n"),
                S("220 go\r\n"),
                {Step::tls_fail, ""}});
        auto r = c.take_results();
        cr_expect_eq(r[0].dsn, "4.7.5");
    }
}

Test(smtp_client, starttls_refused_goes_on_in_the_clear_when_opportunistic) {
    auto s = settings();
    s.tls_possible = true;
    SmtpClient c(s);
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250-mx.test\r\n250 STARTTLS\r\n"),
            C("STARTTLS\r\n"), S("454 4.7.0 not now\r\n"), C("MAIL FROM:<a@me.example>\r\n")});
}

Test(smtp_client, connection_reuse_takes_a_second_message) {
    SmtpClient c(settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n"),
            S("250 ok\r\n")});
    cr_expect(c.reusable());
    c.take_results();
    c.send_message(message({"c@x.test"}, "x\n.y\n"));
    run(c,
        {C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<c@x.test>\r\n"),
         S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("x\r\n..y\r\n.\r\n"), S("250 ok\r\n")});
    cr_expect_eq(c.take_results()[0].status, 2);
}

Test(smtp_client, timeouts_follow_rfc5321) {
    SmtpClient c(settings());
    cr_expect_eq(c.timeout(), 300u);  // greeting
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("250 ok\r\n"), C("DATA\r\n")});
    cr_expect_eq(c.timeout(), 120u);
    run(c, {S("354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n")});
    cr_expect_eq(c.timeout(), 600u);
}

Test(smtp_client, partial_lines_are_buffered) {
    SmtpClient c(settings());
    run(c, {S("22"), S("0 mx"), S(".test\r"), S("\n"), C("EHLO me.example\r\n")});
}

Test(smtp_client, xtext) {
    cr_expect_eq(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
}

// ---- LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the end of data.

namespace {

ClientSettings lmtp_settings() {
    ClientSettings s = settings();
    s.lmtp = true;
    s.peer = "lmtp[unix:/run/lmtp]";
    return s;
}

const char* kLhloPipe =
    "250-lmtp.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

// A pipelined LMTP session up to the body for the given recipients.
std::vector<Step> lmtp_to_body(const std::string& rcpt_cmds, const std::string& rcpt_replies) {
    return {S("220 lmtp.test LMTP ready\r\n"),
            C("LHLO me.example\r\n"),
            S(kLhloPipe),
            C("MAIL FROM:<a@me.example>\r\n" + rcpt_cmds + "DATA\r\n"),
            S("250 2.1.0 ok\r\n" + rcpt_replies + "354 go\r\n"),
            C("Subject: x\r\n\r\nhi\r\n.\r\n")};
}

}  // namespace

Test(lmtp_client, a_refused_lhlo_does_not_fall_back_to_helo) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 lmtp.test\r\n"), C("LHLO me.example\r\n"), S("500 5.5.1 what\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);
    cr_expect_eq(r[0].dsn, "5.5.1");
    cr_expect(r[0].text.find("LHLO") != std::string::npos, "%s", r[0].text.c_str());
}

Test(lmtp_client, malformed_per_recipient_reply_defers_the_rest) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test", "c@x.test"}));
    auto steps =
        lmtp_to_body("RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n", "250 ok\r\n250 ok\r\n");
    steps.push_back(S("250 2.0.0 <b@x.test> saved\r\n2x0 junk\r\n"));
    run(c, steps);
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);  // its own reply came before the junk
    cr_expect_eq(r[1].status, 4);
    cr_expect_eq(r[1].dsn, "4.5.0");
}

Test(lmtp_client, a_short_reply_count_is_a_timeout_then_a_deferral_for_the_missing) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test", "c@x.test", "d@x.test"}));
    auto steps = lmtp_to_body("RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\n",
                              "250 ok\r\n250 ok\r\n250 ok\r\n");
    steps.push_back(S("250 2.0.0 b saved\r\n"));
    run(c, steps);
    cr_expect_eq(c.event(), Ev::none);  // two replies still due: keep waiting
    cr_expect_eq(c.timeout(), 600u);
    c.connection_lost("conversation timed out");
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect_eq(r[1].status, 4);
    cr_expect_eq(r[1].dsn, "4.4.2");
    cr_expect(r[1].text.find("end of data") != std::string::npos, "%s", r[1].text.c_str());
    cr_expect_eq(r[2].dsn, "4.4.2");
}

Test(lmtp_client, a_354_with_no_accepted_recipient_is_a_protocol_error) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test"}));
    run(c, {S("220 lmtp.test\r\n"), C("LHLO me.example\r\n"), S(kLhloPipe),
            C("MAIL FROM:<a@me.example>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"),
            S("250 ok\r\n550 5.1.1 unknown user\r\n354 go\r\n")});
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 5);  // the RCPT refusal stands
    cr_expect_eq(r[0].dsn, "5.1.1");
}

Test(lmtp_client, per_recipient_replies_map_to_each_recipient_in_rcpt_order) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test", "c@x.test", "d@x.test", "e@x.test"}));
    auto steps = lmtp_to_body(
        "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\nRCPT TO:<e@x.test>\r\n",
        "250 ok\r\n550 5.1.1 <c@x.test> User doesn't exist\r\n250 ok\r\n250 ok\r\n");
    // Three accepted recipients: three replies (b, d, e), multiline for d.
    steps.push_back(
        S("250 2.0.0 <b@x.test> Saved\r\n"
          "552-5.2.2 <d@x.test> Quota exceeded\r\n552 5.2.2 (mailbox full)\r\n"
          "451 4.3.0 <e@x.test> Temporary internal error\r\n"));
    run(c, steps);
    cr_assert_eq(c.event(), Ev::message_done);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect_eq(r[0].dsn, "2.0.0");
    cr_expect_eq(r[1].status, 5);
    cr_expect_eq(r[1].dsn, "5.1.1");
    cr_expect(r[1].text.find("RCPT TO") != std::string::npos, "%s", r[1].text.c_str());
    cr_expect_eq(r[2].status, 5);
    cr_expect_eq(r[2].dsn, "5.2.2");
    cr_expect(r[2].text.find("Quota exceeded") != std::string::npos, "%s", r[2].text.c_str());
    cr_expect(r[2].text.find("mailbox full") != std::string::npos, "%s", r[2].text.c_str());
    cr_expect(r[2].text.find("end of data") != std::string::npos, "%s", r[2].text.c_str());
    cr_expect_eq(r[3].status, 4);
    cr_expect_eq(r[3].dsn, "4.3.0");
}

Test(lmtp_client, a_421_among_the_replies_closes_and_defers_the_unanswered) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test", "c@x.test", "d@x.test"}));
    auto steps = lmtp_to_body("RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\n",
                              "250 ok\r\n250 ok\r\n250 ok\r\n");
    steps.push_back(S("250 2.0.0 saved\r\n421 4.3.2 shutting down\r\n"));
    run(c, steps);
    cr_assert_eq(c.event(), Ev::closed);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect_eq(r[1].status, 4);
    cr_expect_eq(r[1].dsn, "4.3.2");
    cr_expect_eq(r[2].status, 4);
}

Test(lmtp_client, lock_step_without_pipelining_dot_stuffed_crlf_body_and_reuse) {
    SmtpClient c(lmtp_settings());
    c.send_message(message({"b@x.test", "c@x.test"}, "Subject: y\n\n.line\nbare\rcr\n"));
    run(c, {S("220 lmtp.test\r\n"), C("LHLO me.example\r\n"), S("250 lmtp.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("250 ok\r\n"), C("RCPT TO:<c@x.test>\r\n"), S("250 ok\r\n"), C("DATA\r\n"),
            S("354 go\r\n"), C("Subject: y\r\n\r\n..line\r\nbare\r\ncr\r\n.\r\n"),
            S("250 2.0.0 b ok\r\n")});
    cr_expect_eq(c.event(), Ev::none);  // c's reply is still due
    run(c, {S("250 2.0.0 c ok\r\n")});
    cr_assert_eq(c.event(), Ev::message_done);
    auto r = c.take_results();
    cr_expect_eq(r[0].status, 2);
    cr_expect_eq(r[1].status, 2);
    cr_expect(c.reusable());
    c.send_message(message({"d@x.test"}));
    run(c, {C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<d@x.test>\r\n"),
            S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("Subject: x\r\n\r\nhi\r\n.\r\n"),
            S("250 2.0.0 d ok\r\n")});
    cr_expect_eq(c.take_results()[0].status, 2);
}

Test(lmtp_client, the_reply_timeout_caps_every_wait) {
    ClientSettings s = lmtp_settings();
    s.reply_timeout = 7;
    SmtpClient c(s);
    cr_expect_eq(c.timeout(), 7u);  // greeting
    c.send_message(message({"b@x.test"}));
    run(c, lmtp_to_body("RCPT TO:<b@x.test>\r\n", "250 ok\r\n"));
    cr_expect_eq(c.timeout(), 7u);  // end of data
    c.connection_lost("conversation timed out");
    auto r = c.take_results();
    cr_expect_eq(r[0].dsn, "4.4.2");
}

// OutBuf: pieces written in part keep their order; own() leaves nothing pointing outside.
Test(smtp_client, outbuf_partial_writes_and_own) {
    std::string body(2000, 'b');
    OutBuf o;
    o.text("MAIL FROM:<a>\r\n");
    o.ref(body);
    o.text(".\r\n");
    cr_assert_eq(o.size(), 15 + 2000 + 3);
    iovec v[8];
    cr_assert_eq(o.gather(v, 8), 3u);
    cr_expect_eq(v[1].iov_base, body.data());  // by reference
    o.consume(10);
    cr_assert_eq(o.gather(v, 8), 3u);
    cr_expect_eq(std::string(static_cast<char*>(v[0].iov_base), v[0].iov_len), "<a>\r\n");
    o.consume(5 + 1000);
    std::string stage;
    o.copy_front(stage, 16);
    cr_expect_eq(stage, std::string(16, 'b'));
    o.own();
    body.assign(2000, 'X');  // the body changes: the buffer has its own copy now
    cr_expect_eq(o.flat(), std::string(1000, 'b') + ".\r\n");
    OutBuf p;
    p.text("QUIT\r\n");
    o.append(std::move(p));
    cr_expect(p.empty());  // NOLINT(bugprone-use-after-move): append empties what it took
    o.consume(1000);
    cr_expect_eq(o.flat(), ".\r\nQUIT\r\n");
    o.consume(100);
    cr_expect(o.empty());
}

namespace {

// The DATA form, written independently of lib/mail/dot_stuff: CRLF, LF or CR end a line.
std::string expected_data(std::string_view body) {
    std::string out;
    bool bol = true;
    for (size_t i = 0; i < body.size(); ++i) {
        char ch = body[i];
        if (bol && ch == '.') out += '.';
        bol = false;
        if (ch == '\r' || ch == '\n') {
            if (ch == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
            out += "\r\n";
            bol = true;
        } else {
            out += ch;
        }
    }
    if (!bol) out += "\r\n";
    return out + ".\r\n";
}

// Resident KiB of the mapping holding addr (/proc/self/smaps); -1 when not found.
long rss_kib(const void* addr) {
    auto a = reinterpret_cast<uintptr_t>(addr);
    FILE* f = std::fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    bool in = false;
    long rss = -1;
    while (std::fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, ':') &&
            std::strchr(line, '-') < std::strchr(line, ' ')) {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && std::sscanf(line, "Rss: %ld kB", &rss) == 1) break;
    }
    std::fclose(f);
    return rss;
}

// A body of about 1.5 MiB in a memfd, mapped read-only at an offset that is not
// page-aligned (as a body behind its envelope in a file is): CRLF lines of many lengths,
// with dot lines at page and release-batch boundaries and a few hundred more; lone_lf puts
// one bare LF in the middle.
struct MappedFixture {
    std::string body;
    tegami::UniqueFd fd;
    tegami::UniqueMapping map;
    explicit MappedFixture(bool lone_lf) {
        const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        const size_t lead = 100;  // octets before the body in the file
        for (size_t n = 0; body.size() < 1536 * 1024; ++n) {
            size_t at = lead + body.size();
            bool boundary = at % page == 0 || (body.size() % OutBuf::kReleaseBatch) < 80;
            std::string line = boundary || n % 17 == 0 ? "." : "";
            line += std::string(1 + (n * 97) % 1400, static_cast<char>('a' + n % 26));
            body += line + "\r\n";
            if (n % 250 == 0 && body.size() % page > 10) {  // a dot line just on a page start
                size_t pad = page - (lead + body.size()) % page;
                if (pad > 2) body += std::string(pad - 2, 'p') + "\r\n.dot at a page start\r\n";
            }
        }
        if (lone_lf) body.insert(body.size() / 2 + 3, "lone\nLF");
        fd = tegami::UniqueFd(::memfd_create("body", MFD_CLOEXEC));
        cr_assert(fd.get() >= 0);
        std::string file = std::string(lead, 'E') + body;
        cr_assert_eq(::write(fd.get(), file.data(), file.size()),
                     static_cast<ssize_t>(file.size()));
        cr_assert(map.map(fd.get(), body.size(), lead));
        cr_assert_eq(map.view(), body);  // every page read: all resident
    }
};

// Drives a client to DATA and drains its output in short writes of 64 pieces at most
// (the session's sendmsg batch), as a socket taking a little less than offered would.
std::string send_mapped(const MessageSpec& m, long* rss_midway) {
    SmtpClient c(settings());
    c.send_message(m);
    run(c, {S("220 mx.test\r\n"), C("EHLO me.example\r\n"), S("250 mx.test\r\n"),
            C("MAIL FROM:<a@me.example>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x.test>\r\n"),
            S("250 ok\r\n"), C("DATA\r\n")});
    c.feed("354 go\r\n");
    OutBuf& o = c.output();
    std::string got;
    for (int round = 0; round < 100000 && !o.empty(); ++round) {
        iovec v[64];
        size_t n = o.gather(v, 64), offered = 0;
        for (size_t i = 0; i < n; ++i)
            offered += v[i].iov_len;
        size_t take = offered > 3 ? offered - offered / 3 : offered;  // a short write
        for (size_t i = 0, left = take; i < n && left; ++i) {
            size_t k = std::min(left, v[i].iov_len);
            got.append(static_cast<const char*>(v[i].iov_base), k);
            left -= k;
        }
        o.consume(take);
        if (rss_midway && *rss_midway < 0 && got.size() > m.body.size() * 3 / 4)
            *rss_midway = rss_kib(m.body.data());
    }
    cr_assert(o.empty(), "the output drained");
    c.feed("250 2.0.0 ok\r\n");
    cr_expect_eq(c.take_results()[0].status, 2);
    return got;
}

}  // namespace

// A mapped body's pages are given back as it is sent, behind the send cursor; what goes out
// is byte for byte the DATA form, through the views and through the repairing copy.
Test(smtp_client, mapped_body_pages_released_behind_the_cursor_bytes_unchanged) {
    for (bool lone_lf : {false, true}) {
        MappedFixture f(lone_lf);
        std::vector<std::string_view> views;
        cr_assert_eq(tegami::dot_stuff_views(f.body, views, 1024), !lone_lf,
                     "lone LF %d: sent by views unless it needs repairing", lone_lf);
        long full = rss_kib(f.map.view().data());
        cr_assert_geq(full, 1400, "the measure sees the mapping resident (%ld KiB)", full);
        MessageSpec m = message({"b@x.test"}, f.map.view());
        m.body_mapped = true;
        long midway = -1;
        std::string got = send_mapped(m, &midway);
        cr_assert_eq(got.size(), expected_data(f.body).size(), "lone LF %d", lone_lf);
        cr_expect(got == expected_data(f.body), "lone LF %d: the bytes sent", lone_lf);
        long after = rss_kib(f.map.view().data());
        cr_expect_leq(midway, 1536 / 4 + 300, "lone LF %d: released mid-send (%ld KiB)", lone_lf,
                      midway);
        cr_expect_leq(after, 16, "lone LF %d: all but the last pages given back (%ld KiB)", lone_lf,
                      after);
        cr_expect(f.map.view() == f.body, "the file is unchanged: pages fault in again");
    }
    // Not flagged mapped (a body read into memory): nothing is given back.
    MappedFixture f(false);
    MessageSpec m = message({"b@x.test"}, f.map.view());
    std::string got = send_mapped(m, nullptr);
    cr_expect(got == expected_data(f.body));
    cr_expect_geq(rss_kib(f.map.view().data()), 1400, "unflagged: pages stay");
}
