// dovecot_client_test.cpp - tests for the pure parts of smtpd/auth/dovecot_client.cpp:
// Dovecot's tab escaping, splitting server lines, reading CONT/OK/FAIL answers and
// formatting AUTH requests. Bad inputs first: broken escapes, lower-case or empty verbs,
// over-long lines, CONT without base64, OK without user=, a user= a log line cannot carry.
// The connection itself (handshake, reconnect, timeouts) runs against a real Dovecot in
// tests/interop/dovecot_auth.sh.
#include <criterion/criterion.h>

#include <string>

#include "smtpd/auth/dovecot_client.hpp"

using namespace tegami::auth;

Test(dovecot_client, bad_lines_do_not_parse) {
    const std::string too_long(kMaxDovecotLine + 1, 'A');
    const char* bad[] = {
        "", "\r", "cont\t1\tAA==", "\t1", "OK\tuser=a\001", "OK\tuser=a\001x", "C0NT\t1"};
    for (const char* b : bad)
        cr_expect(!parse_dovecot_line(b), "parsed: %s", b);
    cr_expect(!parse_dovecot_line(too_long));
}

Test(dovecot_client, escaping_round_trips) {
    const std::string raw = std::string("a\tb\nc\rd\001e");
    cr_expect_eq(dovecot_escape(raw), std::string("a\001tb\001nc\001rd\0011e"));
    auto back = dovecot_unescape(dovecot_escape(raw));
    cr_assert(back.has_value());
    cr_expect_eq(*back, raw);
    auto l = parse_dovecot_line("FAIL\t3\treason=bad\001tpass\ttemp\r");
    cr_assert(l.has_value());
    cr_expect_eq(l->verb, std::string("FAIL"));
    cr_assert_eq(l->args.size(), 3u);
    cr_expect_eq(l->args[1], std::string("reason=bad\tpass"));
    cr_expect_eq(l->args[2], std::string("temp"));
}

Test(dovecot_client, malformed_answers_are_refused) {
    const char* bad[] = {
        "CONT\t1",                    // no data field
        "CONT\t1\t!!!",               // not base64
        "CONT\t1\tAA==\textra",       // a field too many
        "OK\t1",                      // no user=
        "OK\t1\tuser=",               // empty user=
        "OK\t1\tuser=a b",            // a space: not a login a log line can carry
        "OK\t1\tuser=alice\tresp=!",  // final data that is not base64
        "HELLO\t1",                   // not an answer
    };
    for (const char* b : bad) {
        auto l = parse_dovecot_line(b);
        cr_assert(l.has_value(), "line: %s", b);
        cr_expect(!interpret_answer(*l), "accepted: %s", b);
    }
}

Test(dovecot_client, answers_map_to_sasl_steps) {
    struct {
        const char* line;
        StepStatus status;
        const char* login;
        const char* challenge;
        bool final_ok;
    } cases[] = {
        {"FAIL\t2\tuser=alice", StepStatus::fail, "", "", false},
        {"FAIL\t2\treason=Password expired", StepStatus::fail, "", "", false},
        {"FAIL\t2\ttemp", StepStatus::temp, "", "", false},
        // Dovecot 2.3's spelling of a temporary failure (its passdb is unreachable).
        {"FAIL\t2\tcode=temp_fail\treason=try later", StepStatus::temp, "", "", false},
        {"FAIL\t2\tuser=alice\tcode=user_disabled", StepStatus::fail, "", "", false},
        {"FAIL\t2\tcode=pass_expired", StepStatus::fail, "", "", false},
        // OK with nologin or proxy: right credentials, but no access: a failure.
        {"OK\t2\tuser=alice\tnologin", StepStatus::fail, "", "", false},
        {"OK\t2\tuser=alice\tnologin=Y\treason=Account locked", StepStatus::fail, "", "", false},
        {"OK\t2\tuser=alice\tnologin\thost=imap.example.org", StepStatus::fail, "", "", false},
        {"OK\t2\tuser=alice\tproxy\thost=10.0.0.1", StepStatus::fail, "", "", false},
        {"OK\t2\tuser=alice\tnologin\tresp=dj14", StepStatus::fail, "", "", false},
        {"OK\t2\tuser=alice\tnologinx", StepStatus::ok, "alice", "", false},
        {"CONT\t2\t", StepStatus::cont, "", "", false},
        {"CONT\t2\tVXNlcm5hbWU6", StepStatus::cont, "", "Username:", false},
        {"OK\t2\tuser=alice", StepStatus::ok, "alice", "", false},
        {"OK\t2\tuser=alice@example.org\tresp=dj14", StepStatus::cont, "", "v=x", true},
    };
    for (const auto& c : cases) {
        auto l = parse_dovecot_line(c.line);
        cr_assert(l.has_value(), "line: %s", c.line);
        auto a = interpret_answer(*l);
        cr_assert(a.has_value(), "refused: %s", c.line);
        cr_expect_eq(static_cast<int>(a->result.status), static_cast<int>(c.status), "%s", c.line);
        cr_expect_eq(a->result.login, std::string(c.login), "%s", c.line);
        cr_expect_eq(a->result.challenge, std::string(c.challenge), "%s", c.line);
        cr_expect_eq(a->final_ok.has_value(), c.final_ok, "%s", c.line);
    }
}

Test(dovecot_client, auth_request_format) {
    DovecotRequest r;
    r.mechanism = "PLAIN";
    r.client_addr = "192.0.2.1";
    r.secured = true;
    r.initial = std::string("\0alice\0x", 8);
    cr_expect_eq(format_auth(7, r),
                 std::string("AUTH\t7\tPLAIN\tservice=smtp\tsecured\tno-penalty\trip=192.0.2.1"
                             "\tresp=AGFsaWNlAHg=\n"));
    // An empty initial response is "resp=" (AUTH PLAIN =); none at all omits it; a
    // client address with a tab cannot add a parameter.
    r.initial = std::string();
    r.secured = false;
    r.client_addr = "a\tb";
    cr_expect_eq(format_auth(8, r),
                 std::string("AUTH\t8\tPLAIN\tservice=smtp\tno-penalty\trip=a\001tb\tresp=\n"));
    r.initial.reset();
    r.client_addr.clear();
    cr_expect_eq(format_auth(9, r), std::string("AUTH\t9\tPLAIN\tservice=smtp\tno-penalty\n"));
    // The local address and port, when smtpd knew them; a tab in the address is escaped.
    r.local_addr = "192.0.2.25";
    r.local_port = 587;
    r.client_addr = "192.0.2.1";
    cr_expect_eq(format_auth(10, r),
                 std::string("AUTH\t10\tPLAIN\tservice=smtp\tno-penalty\tlip=192.0.2.25"
                             "\trip=192.0.2.1\tlport=587\n"));
    r.local_addr = "x\ty";
    r.local_port = 0;
    cr_expect_eq(format_auth(11, r),
                 std::string("AUTH\t11\tPLAIN\tservice=smtp\tno-penalty\tlip=x\001ty"
                             "\trip=192.0.2.1\n"));
}
