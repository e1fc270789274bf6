// smtp_command_test.cpp - tests for lib/mail/smtp_command.cpp: verb splitting,
// MAIL/RCPT arguments, ESMTP parameters, HELO words, xtext. Bad inputs first.
#include <criterion/criterion.h>

#include <string>

#include "lib/mail/smtp_command.hpp"

using namespace tegami;

namespace {

struct BadArg {
    const char* arg;
    int code;
    const char* enhanced;
};

}  // namespace

Test(smtp_command, bad_mail_arguments) {
    const BadArg cases[] = {
        {"", 501, "5.5.4"},
        {"FROM", 501, "5.5.4"},
        {"FROM :<a@b.org>", 501, "5.5.4"},
        {"TO:<a@b.org>", 501, "5.5.4"},
        {"FROM:a@b.org", 501, "5.1.7"},
        {"FROM:<a@b.org>SIZE=1", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE=", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE=12x", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE=-1", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE=123456789012345678901", 501, "5.5.4"},
        {"FROM:<a@b.org> SIZE=1 SIZE=2", 501, "5.5.4"},
        {"FROM:<a@b.org> BODY=BINARYMIME", 555, "5.5.4"},
        {"FROM:<a@b.org> BODY", 501, "5.5.4"},
        {"FROM:<a@b.org> SMTPUTF8=yes", 501, "5.5.4"},
        {"FROM:<a@b.org> -X=1", 501, "5.5.4"},
        {"FROM:<a@b.org> X=a=b", 501, "5.5.4"},
        {"FROM:<a@b.org> =1", 501, "5.5.4"},
        {"FROM:<a@b.org> X_Y=1", 501, "5.5.4"},
        {"FROM:<a@b.org> RET=BODY", 501, "5.5.4"},
        {"FROM:<a@b.org> RET=", 501, "5.5.4"},
        {"FROM:<a@b.org> RET=FULL RET=HDRS", 501, "5.5.4"},
        {"FROM:<a@b.org> ENVID=a+ZZ", 501, "5.5.4"},
        {"FROM:<a@b.org> ENVID=x ENVID=y", 501, "5.5.4"},
        {"FROM:<a@b.org> XRET=FULL", 555, "5.5.4"},
        {"FROM:<a@b.org> AUTH=<>", 555, "5.5.4"},
        {"FROM:<\xc3\xa9@b.org>", 553, "5.6.7"},
        {"FROM:<a@b.org> X=\xc3\xa9", 555, "5.5.4"},
        {"FROM:<a@b.org> BODY=\xc3\xa9", 501, "5.5.4"},
    };
    for (const auto& c : cases) {
        auto r = parse_mail(c.arg);
        cr_expect_not(r.ok(), "%s", c.arg);
        if (r.ok()) continue;
        cr_expect_eq(r.error().code, c.code, "%s: %d", c.arg, r.error().code);
        cr_expect_eq(r.error().enhanced, std::string(c.enhanced), "%s", c.arg);
    }
}

Test(smtp_command, good_mail_arguments) {
    auto r = parse_mail("FROM:<>");
    cr_assert(r.ok());
    cr_expect(r->sender.null());
    cr_expect_not(r->params.any);

    r = parse_mail("from: <A@B.ORG>  size=1000 Body=8bitmime SMTPUTF8");
    cr_assert(r.ok());
    cr_expect_eq(r->sender.str(), std::string("A@b.org"));
    cr_expect(r->params.has_size);
    cr_expect_eq(r->params.size, 1000u);
    cr_expect(r->params.body == BodyType::eight_bit_mime);
    cr_expect(r->params.smtputf8);

    r = parse_mail("FROM:<a@b.org> BODY=7bit SIZE=99999999999999999999");
    cr_assert(r.ok());
    cr_expect(r->params.body == BodyType::seven_bit);
    cr_expect_eq(r->params.size, UINT64_MAX);

    r = parse_mail("FROM:<\xc3\xa9@b.org> SMTPUTF8");
    cr_assert(r.ok());
    cr_expect(r->sender.utf8);
}

Test(smtp_command, bad_rcpt_arguments) {
    const BadArg cases[] = {
        {"", 501, "5.5.4"},
        {"TO :<a@b.org>", 501, "5.5.4"},
        {"FROM:<a@b.org>", 501, "5.5.4"},
        {"TO:<>", 501, "5.1.3"},
        {"TO:a@b.org", 501, "5.1.3"},
        {"TO:<a@b.org>x", 501, "5.5.4"},
        {"TO:<a@b.org> XNOTIFY=NEVER", 555, "5.5.4"},
        {"TO:<a@b.org> NOTIFY=NEVER,SUCCESS", 501, "5.5.4"},
        {"TO:<a@b.org> NOTIFY=", 501, "5.5.4"},
        {"TO:<a@b.org> NOTIFY", 501, "5.5.4"},
        {"TO:<a@b.org> NOTIFY=SUCCESS NOTIFY=FAILURE", 501, "5.5.4"},
        {"TO:<a@b.org> ORCPT=rfc822a@b.org", 501, "5.5.4"},
        {"TO:<a@b.org> ORCPT=rfc822;a+ZZb.org", 501, "5.5.4"},
        {"TO:<a@b.org> ORCPT=rfc822;a@b.org ORCPT=rfc822;a@b.org", 501, "5.5.4"},
        {"TO:<a@b.org> =x", 501, "5.5.4"},
        {"TO:<\xc3\xa9@b.org>", 553, "5.6.7"},
    };
    for (const auto& c : cases) {
        auto r = parse_rcpt(c.arg, false);
        cr_expect_not(r.ok(), "%s", c.arg);
        if (r.ok()) continue;
        cr_expect_eq(r.error().code, c.code, "%s: %d", c.arg, r.error().code);
        cr_expect_eq(r.error().enhanced, std::string(c.enhanced), "%s", c.arg);
    }
}

Test(smtp_command, dsn_parameters) {
    auto m = parse_mail("FROM:<a@b.org> ret=hdrs ENVID=QQ+2B1");
    cr_assert(m.ok());
    cr_expect(m->params.ret == DsnRet::hdrs);
    cr_expect(m->params.has_envid);
    cr_expect_eq(m->params.envid, std::string("QQ+1"));
    auto r = parse_rcpt("TO:<a@b.org> NOTIFY=success,DELAY ORCPT=rfc822;A+2Bx@B.org", false);
    cr_assert(r.ok());
    cr_expect_eq(r->notify, kDsnNotifySuccess | kDsnNotifyDelay);
    cr_expect_eq(r->orcpt, std::string("rfc822;A+x@B.org"));
    cr_expect(r->any);
    // RFC 6533: a UTF-8 ORCPT, raw only with SMTPUTF8.
    r = parse_rcpt("TO:<a@b.org> ORCPT=utf-8;J\xc3\xb6rg@b.org", true);
    cr_assert(r.ok());
    cr_expect_eq(r->orcpt, std::string("utf-8;J\xc3\xb6rg@b.org"));
    r = parse_rcpt("TO:<a@b.org> ORCPT=utf-8;J\xc3\xb6rg@b.org", false);
    cr_expect_not(r.ok(), "UTF-8 ORCPT without SMTPUTF8");
}

Test(smtp_command, good_rcpt_arguments) {
    auto r = parse_rcpt("To:<Postmaster>", false);
    cr_assert(r.ok());
    cr_expect_eq(r->rcpt.str(), std::string("Postmaster"));
    r = parse_rcpt("TO: <@x.org:u@Y.org>", false);
    cr_assert(r.ok());
    cr_expect_eq(r->rcpt.str(), std::string("u@y.org"));
    r = parse_rcpt("TO:<\xc3\xa9@b.org>", true);
    cr_assert(r.ok());
    cr_expect(r->rcpt.utf8);
}

Test(smtp_command, split_command) {
    struct Case {
        const char* line;
        Verb verb;
        const char* name;
        const char* arg;
    } cases[] = {
        {"", Verb::unknown, "", ""},
        {" MAIL FROM:<>", Verb::unknown, "", "MAIL FROM:<>"},
        {"MAILX FROM:<>", Verb::unknown, "MAILX", "FROM:<>"},
        {"mail FROM:<a@b>  \t", Verb::mail, "mail", "FROM:<a@b>"},
        {"RcPt TO:<x@y>", Verb::rcpt, "RcPt", "TO:<x@y>"},
        {"EHLO client.example", Verb::ehlo, "EHLO", "client.example"},
        {"HELO x", Verb::helo, "HELO", "x"},
        {"DATA", Verb::data, "DATA", ""},
        {"QUIT ", Verb::quit, "QUIT", ""},
        {"rset", Verb::rset, "rset", ""},
        {"NOOP anything", Verb::noop, "NOOP", "anything"},
        {"HELP", Verb::help, "HELP", ""},
        {"VRFY root", Verb::vrfy, "VRFY", "root"},
        {"EXPN staff", Verb::expn, "EXPN", "staff"},
    };
    for (const auto& c : cases) {
        CommandLine cl = split_command(c.line);
        cr_expect(cl.verb == c.verb, "%s", c.line);
        cr_expect_eq(std::string(cl.name), std::string(c.name), "%s", c.line);
        cr_expect_eq(std::string(cl.arg), std::string(c.arg), "%s", c.line);
    }
    cr_expect_str_eq(verb_name(Verb::ehlo), "ehlo");
    cr_expect_str_eq(verb_name(Verb::unknown), "unknown");
}

Test(smtp_command, helo_words) {
    const char* bad[] = {"", "   ", "a\x01", "h\xc3\xa9"};
    for (const char* s : bad) {
        auto r = parse_helo(s, true);
        cr_expect_not(r.ok(), "%s", s);
        if (!r.ok()) cr_expect_eq(r.error().code, 501);
    }
    auto r = parse_helo("client.example extra", true);
    cr_assert(r.ok());
    cr_expect_eq(r.value(), std::string("client.example"));
    r = parse_helo("[127.0.0.1]", false);
    cr_assert(r.ok());
    cr_expect_eq(r.value(), std::string("[127.0.0.1]"));
}

Test(smtp_command, xtext) {
    const char* bad[] = {"a=b", "a b", "+", "+4", "+4g", "+4a", "\xc3\xa9"};
    for (const char* s : bad)
        cr_expect_not(valid_xtext(s), "%s", s);
    const char* good[] = {"", "abc", "a+2Bb", "rfc822;user@example.org"};
    for (const char* s : good)
        cr_expect(valid_xtext(s), "%s", s);
}
