// dsn_params_test.cpp - tests for lib/mail/dsn_params.cpp: NOTIFY, RET, ENVID and ORCPT
// values (RFC 3461 4, RFC 6533 3), xtext both ways, and the forms passed on. Bad inputs
// first; every refusal is 501 5.5.4.
#include "lib/mail/dsn_params.hpp"

#include <criterion/criterion.h>

#include <string>

using namespace tegami;

namespace {

template <typename T>
void expect_refused(const ReplyOr<T>& r, const std::string& what) {
    cr_expect_not(r.ok(), "accepted: %s", what.c_str());
    if (r.ok()) return;
    cr_expect_eq(r.error().code, 501, "%s", what.c_str());
    cr_expect_eq(r.error().enhanced, std::string("5.5.4"), "%s", what.c_str());
}

}  // namespace

Test(dsn_params, bad_notify) {
    const char* bad[] = {"",         "NEVER,SUCCESS",  "SUCCESS,NEVER",   "SUCCESS,",
                         ",SUCCESS", "SUCCESS,,DELAY", "SUCCESS,SUCCESS", "FAILURES",
                         "never ",   "SUCCESS;DELAY",  "NEVER,NEVER"};
    for (const char* s : bad)
        expect_refused(parse_notify(s), s);
}

Test(dsn_params, good_notify) {
    struct Case {
        const char* in;
        uint32_t bits;
    } cases[] = {
        {"NEVER", kDsnNotifyNever},
        {"never", kDsnNotifyNever},
        {"SUCCESS", kDsnNotifySuccess},
        {"failure,Delay", kDsnNotifyFailure | kDsnNotifyDelay},
        {"DELAY,SUCCESS,FAILURE", kDsnNotifySuccess | kDsnNotifyFailure | kDsnNotifyDelay},
    };
    for (const auto& c : cases) {
        auto r = parse_notify(c.in);
        cr_assert(r.ok(), "%s", c.in);
        cr_expect_eq(r.value(), c.bits, "%s", c.in);
    }
    cr_expect_eq(notify_value(kDsnNotifyNever), std::string("NEVER"));
    cr_expect_eq(notify_value(kDsnNotifyDelay | kDsnNotifySuccess), std::string("SUCCESS,DELAY"));
    cr_expect_eq(notify_value(0), std::string(""));
}

Test(dsn_params, ret) {
    for (const char* s : {"", "FUL", "FULLY", "HEADERS", "full,hdrs"})
        expect_refused(parse_ret(s), s);
    cr_expect(parse_ret("FULL").value() == DsnRet::full);
    cr_expect(parse_ret("hdrs").value() == DsnRet::hdrs);
}

Test(dsn_params, bad_envid) {
    std::string too_long(101, 'a');
    const std::string bad[] = {
        "",    "+ZZ",     "a+2", "a+", "a+2b", "a=b", "a b", too_long, "+0A" /* LF once decoded */,
        "+7F", "\xc3\xa9"};
    for (const auto& s : bad)
        expect_refused(parse_envid(s), s);
}

Test(dsn_params, good_envid) {
    cr_expect_eq(parse_envid(std::string(100, 'a')).value(), std::string(100, 'a'));
    cr_expect_eq(parse_envid("QQ314159").value(), std::string("QQ314159"));
    cr_expect_eq(parse_envid("a+2Bb+3Dc+20d").value(), std::string("a+b=c d"));
}

Test(dsn_params, bad_orcpt) {
    std::string too_long = "rfc822;" + std::string(494, 'a');  // 501 characters
    const std::string bad[] = {
        "",
        "rfc822",                // no ';'
        "rfc822a@b.org",         // no ';'
        ";a@b.org",              // empty type
        "rfc822;",               // empty address
        "rfc 822;a@b.org",       // type not an atom
        "rfc822;a+ZZ@b.org",     // bad xtext
        "rfc822;a+0D+0A@b.org",  // CR LF once decoded
        "rfc822;a+C3+28@b.org",  // 8-bit that is not UTF-8
        "rfc822;a+7F@b.org",     // DEL
        too_long,
        "utf-8;a\\x{41}@b.org",    // an ASCII letter need not be escaped
        "utf-8;a\\x{0A}@b.org",    // a control
        "utf-8;a\\x{D800}@b.org",  // a surrogate
        "utf-8;a\\x{110000}@b.org",
        "utf-8;a\\x{}@b.org",
        "utf-8;a\\x{E9@b.org",
        "utf-8;a\\y{E9}@b.org",
        "utf-8;a+2B@b.org",      // xtext's '+' is not utf-8-addr-xtext
        "utf-8;\xc3\xa9@b.org",  // raw UTF-8 without SMTPUTF8
    };
    for (const auto& s : bad)
        expect_refused(parse_orcpt(s, false), s);
    expect_refused(parse_orcpt("utf-8;\xc3(@b.org", true), "invalid UTF-8");
}

Test(dsn_params, good_orcpt) {
    struct Case {
        const char* in;
        bool utf8;
        const char* stored;
    } cases[] = {
        {"rfc822;alice@example.org", false, "rfc822;alice@example.org"},
        {"RFC822;Alice@Example.org", false, "rfc822;Alice@Example.org"},
        {"rfc822;a+2Bb@example.org", false, "rfc822;a+b@example.org"},
        {"x400;c+3Dus+3Ba+3Datt", false, "x400;c=us;a=att"},
        {"rfc822;j+C3+B6rg@example.org", false, "rfc822;j\xc3\xb6rg@example.org"},
        {"utf-8;j\\x{F6}rg@example.org", false, "utf-8;j\xc3\xb6rg@example.org"},
        {"utf-8;\xe6\x97\xa5@example.org", true, "utf-8;\xe6\x97\xa5@example.org"},
        {"utf-8;a\\x{2B}b@example.org", false, "utf-8;a+b@example.org"},
    };
    for (const auto& c : cases) {
        auto r = parse_orcpt(c.in, c.utf8);
        cr_assert(r.ok(), "%s", c.in);
        cr_expect_eq(r.value(), std::string(c.stored), "%s", c.in);
    }
    std::string longest = "rfc822;" + std::string(493, 'a');
    cr_expect(parse_orcpt(longest, false).ok(), "500 characters");
}

// What the remote client sends for a stored ORCPT: unsendable values first (left out, "").
Test(dsn_params, orcpt_param_value_leaves_out_what_cannot_be_sent) {
    std::string wide;  // 100 x U+00E9: 200 octets stored, 600 as \x{E9}
    for (int i = 0; i < 100; ++i)
        wide += "\xc3\xa9";
    // 500 characters once encoded: 6 + 488 + 6 ("\x{E9}").
    std::string at_limit = "utf-8;" + std::string(488, 'a') + "\xc3\xa9";
    const std::string bad[] = {
        "utf-8;\xc3(@b.org",         // invalid UTF-8: never sent raw nor as xtext
        "utf-8;a\xe9@b.org",         // Latin-1, not UTF-8
        "utf-8;\xed\xa0\x80@b.org",  // a UTF-8-encoded surrogate
        "rfc822;j\xc3@b.org",        // truncated sequence in an rfc822 address
        "utf-8;a\r\n@b.org",         // controls
        "rfc822;a\x01@b.org",
        "utf-8;a\x7f@b.org",
        "rfc 822;a@b.org",  // type not an atom
        ";a@b.org",
        "utf-8;",
        "utf-8;" + wide + "@b.org",  // 206 stored, over 500 once encoded
        at_limit + "b",              // 501 once encoded
        "rfc822;" + std::string(494, 'a'),
        "rfc822;" + std::string(165, '+'),  // 7 + 165 x "+2B" = 502
    };
    for (const auto& s : bad)
        cr_expect_eq(orcpt_param_value(s), std::string(), "[%s]", s.c_str());
    cr_expect_eq(orcpt_param_value(at_limit), at_limit.substr(0, 494) + "\\x{E9}");
    cr_expect_eq(orcpt_param_value("rfc822;" + std::string(164, '+')).size(), 499u);

    // RFC 6533 3 utf-8-addr-xtext: QCHAR as is; space, '+', '=', '\\' and every non-ASCII
    // code point as \x{HEXPOINT} in upper case, 2 to 6 digits, no leading zero past two.
    struct Case {
        const char* stored;
        const char* sent;
    } cases[] = {
        {"utf-8;j\xc3\xb6rg@example.org", "utf-8;j\\x{F6}rg@example.org"},
        {"utf-8;a b+c=d\\e@x.org", "utf-8;a\\x{20}b\\x{2B}c\\x{3D}d\\x{5C}e@x.org"},
        {"utf-8;\xc2\x80@x.org", "utf-8;\\x{80}@x.org"},                             // 2 digits
        {"utf-8;\xc4\x80@x.org", "utf-8;\\x{100}@x.org"},                            // 3
        {"utf-8;\xe4\xb8\x8a\xe6\xb5\xb7@x.org", "utf-8;\\x{4E0A}\\x{6D77}@x.org"},  // 4
        {"utf-8;\xf0\x9f\x93\xa7@x.org", "utf-8;\\x{1F4E7}@x.org"},                  // 5
        {"utf-8;\xf4\x8f\xbf\xbf@x.org", "utf-8;\\x{10FFFF}@x.org"},                 // 6
        {"utf-8;plain@x.org", "utf-8;plain@x.org"},
        {"rfc822;a+b=c@x.org", "rfc822;a+2Bb+3Dc@x.org"},
        {"rfc822;j\xc3\xb6@x.org", "rfc822;j+C3+B6@x.org"},
        {"x400;/C=DE/", "x400;/C+3DDE/"},
        {"bare@x.org", "rfc822;bare@x.org"},
    };
    for (const auto& k : cases) {
        std::string v = orcpt_param_value(k.stored);
        cr_expect_eq(v, std::string(k.sent), "%s", k.stored);
        // utf-8-addr-xtext is 7-bit and its own xtext: any DSN peer takes it as sent.
        std::string x = v.substr(v.find(';') + 1);
        if (v.starts_with("utf-8;")) cr_expect_eq(xtext_encode(x), x, "%s", k.sent);
        auto back = parse_orcpt(v, false);
        cr_assert(back.ok(), "%s", k.sent);
    }
}

Test(dsn_params, passed_on_forms) {
    cr_expect_eq(orcpt_param_value("rfc822;a+b=c@example.org"),
                 std::string("rfc822;a+2Bb+3Dc@example.org"));
    cr_expect_eq(orcpt_param_value("utf-8;j\xc3\xb6rg@example.org"),
                 std::string("utf-8;j\\x{F6}rg@example.org"));
    cr_expect_eq(orcpt_param_value("utf-8;\xf0\x9f\x93\xa7+x@e.org"),
                 std::string("utf-8;\\x{1F4E7}\\x{2B}x@e.org"));
    cr_expect_eq(orcpt_field_value("rfc822;a@b.org"), std::string("rfc822; a@b.org"));
    cr_expect_eq(orcpt_field_value("utf-8;j\xc3\xb6rg@b.org"),
                 std::string("utf-8; j\\x{F6}rg@b.org"));
    cr_expect_eq(xtext_encode("a+b= c\x01"), std::string("a+2Bb+3D+20c+01"));
    std::string out;
    cr_expect(xtext_decode("a+2Bb+3D+20c", out));
    cr_expect_eq(out, std::string("a+b= c"));
    // Every parsed ORCPT survives the round trip through the passed-on form.
    cr_expect_eq(orcpt_field_value("rfc822;j\xc3\xb6rg@b.org"),
                 std::string("rfc822; j+C3+B6rg@b.org"), "the report stays ASCII");
    for (const char* s :
         {"rfc822;a+b@c.org", "utf-8;j\xc3\xb6rg@b.org", "rfc822;j\xc3\xb6@b.org"}) {
        std::string v = orcpt_param_value(s);
        auto back = parse_orcpt(v, false);
        cr_assert(back.ok(), "%s", v.c_str());
        cr_expect_eq(back.value(), std::string(s));
    }
}
