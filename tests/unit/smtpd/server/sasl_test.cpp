// sasl_test.cpp - tests for smtpd/server/sasl.cpp: the AUTH argument and continuation
// lines (bad base64, bad names and "*" first), the reply for each tegami-auth answer
// (RFC 4954 codes), and when AUTH is offered.
#include <criterion/criterion.h>

#include <string>

#include "smtpd/server/sasl.hpp"

using namespace tegami;
using namespace tegami::smtpd;

Test(sasl, bad_auth_arguments) {
    struct Case {
        const char* arg;
        int code;
        const char* enhanced;
    } cases[] = {
        {"", 501, "5.5.4"},
        {"PLAIN AGFsaWNl AHg=", 501, "5.5.4"},
        {"PLAIN ", 501, "5.5.4"},
        {"PLAIN AGFsaWNlAHBlbmNpbA", 501, "5.5.2"},
        {"PLAIN AGFsaWNlAHBlbmNpbA=!", 501, "5.5.2"},
        {"PLAIN ====", 501, "5.5.2"},
        {"PL@IN", 504, "5.5.4"},
        {"ABCDEFGHIJKLMNOPQRSTU", 504, "5.5.4"},
    };
    for (const auto& c : cases) {
        auto r = parse_auth(c.arg);
        cr_assert_not(r.ok(), "%s", c.arg);
        cr_expect_eq(r.error().code, c.code, "%s", c.arg);
        cr_expect_eq(r.error().enhanced, std::string(c.enhanced), "%s", c.arg);
    }
}

Test(sasl, good_auth_arguments) {
    auto a = parse_auth("plain");
    cr_assert(a.ok());
    cr_expect_eq(a->mechanism, std::string("PLAIN"));
    cr_expect_not(a->has_initial);
    auto b = parse_auth("PLAIN =");
    cr_assert(b.ok());
    cr_expect(b->has_initial);
    cr_expect_eq(b->initial, std::string(""));
    auto c = parse_auth("PLAIN AGFsaWNlAHBlbmNpbA==");
    cr_assert(c.ok());
    cr_expect_eq(c->initial, std::string("\0alice\0pencil", 13));
    auto d = parse_auth("SCRAM-SHA-256-PLUS");
    cr_assert(d.ok());
    cr_expect_eq(d->mechanism, std::string("SCRAM-SHA-256-PLUS"));
}

Test(sasl, continuation_lines) {
    auto bad = parse_sasl_line("dXNlcg");
    cr_assert_not(bad.ok());
    cr_expect_eq(bad.error().code, 501);
    cr_expect_eq(bad.error().enhanced, std::string("5.5.2"));
    cr_expect_not(parse_sasl_line("**").ok());
    auto cancel = parse_sasl_line("*");
    cr_assert(cancel.ok());
    cr_expect(cancel->cancel);
    auto empty = parse_sasl_line("");
    cr_assert(empty.ok());
    cr_expect_not(empty->cancel);
    cr_expect_eq(empty->data, std::string(""));
    auto user = parse_sasl_line("dXNlcg==");
    cr_assert(user.ok());
    cr_expect_eq(user->data, std::string("user"));
}

Test(sasl, replies_follow_rfc4954) {
    cr_expect_eq(challenge_reply(""), std::string("334 \r\n"));
    cr_expect_eq(challenge_reply("Username:"), std::string("334 VXNlcm5hbWU6\r\n"));
    struct Case {
        uint32_t status;
        int code;
        const char* enhanced;
    } cases[] = {{ipc::kAuthOk, 235, "2.7.0"},      {ipc::kAuthFail, 535, "5.7.8"},
                 {ipc::kAuthTemp, 454, "4.7.0"},    {ipc::kAuthMalformed, 501, "5.5.2"},
                 {ipc::kAuthBlocked, 421, "4.7.0"}, {ipc::kAuthNoMech, 504, "5.5.4"},
                 {ipc::kAuthWeak, 534, "5.7.9"},    {ipc::kAuthContinue, 454, "4.7.0"}};
    for (const auto& c : cases) {
        Reply r = auth_final_reply(c.status, "");
        cr_expect_eq(r.code, c.code, "status %u", c.status);
        cr_expect_eq(r.enhanced, std::string(c.enhanced), "status %u", c.status);
    }
}

Test(sasl, offered_only_under_tls_or_loopback_by_switch) {
    cr_expect_not(auth_allowed(false, false, "127.0.0.1"));
    cr_expect_not(auth_allowed(false, true, "192.0.2.1"));
    cr_expect_not(auth_allowed(false, true, "::ffff:192.0.2.1"));
    cr_expect(auth_allowed(false, true, "127.0.0.1"));
    cr_expect(auth_allowed(false, true, "::1"));
    cr_expect(auth_allowed(true, false, "192.0.2.1"));
    cr_expect_eq(auth_mechanism_names({}, false, true).front(), std::string("SCRAM-SHA-256-PLUS"));
    cr_expect_eq(auth_mechanism_names({}, false, false).size(), 3u);
}

// auth_mechanisms and the backend decide the EHLO AUTH list.
Test(sasl, mechanism_list_by_backend_and_configuration) {
    struct {
        std::vector<std::string> configured;
        bool dovecot, cb;
        std::vector<std::string> want;
    } cases[] = {
        // -PLUS never without channel binding data, never through Dovecot
        {{"SCRAM-SHA-256-PLUS", "PLAIN"}, false, false, {"PLAIN"}},
        {{"SCRAM-SHA-256-PLUS", "PLAIN"}, true, true, {"PLAIN"}},
        {{"SCRAM-SHA-256-PLUS", "PLAIN"}, false, true, {"SCRAM-SHA-256-PLUS", "PLAIN"}},
        {{}, true, true, {"PLAIN", "LOGIN"}},
        {{"SCRAM-SHA-256", "PLAIN", "LOGIN"}, true, false, {"SCRAM-SHA-256", "PLAIN", "LOGIN"}},
        {{}, false, false, {"SCRAM-SHA-256", "PLAIN", "LOGIN"}},
    };
    for (const auto& c : cases)
        cr_expect(auth_mechanism_names(c.configured, c.dovecot, c.cb) == c.want, "dovecot=%d cb=%d",
                  c.dovecot, c.cb);
}
