// error_target_test.cpp - lib/mail/error_target.cpp, the one parser of "error:" targets
// (aliases, virtusertable): bad inputs first (no code, class 2/3 codes, an enhanced code
// of the other class, empty text, malformed codes), each still a clear refusal with the
// problem named; then the well-formed spellings.
#include <criterion/criterion.h>

#include <string>

#include "lib/mail/error_target.hpp"

using namespace tegami;

namespace {

struct Case {
    const char* spec;
    uint32_t status;
    const char* dsn;
    const char* text;
    uint32_t code;
    const char* problem;  // a part of the problem, "" for none
};

void run(const Case* cases, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const Case& c = cases[i];
        ErrorTarget t = parse_error_target(c.spec, "DEFAULT", "5.9.9");
        cr_expect_eq(t.status, c.status, "\"%s\": status %u", c.spec, t.status);
        cr_expect_eq(t.dsn, std::string(c.dsn), "\"%s\": dsn %s", c.spec, t.dsn.c_str());
        cr_expect_eq(t.text, std::string(c.text), "\"%s\": text \"%s\"", c.spec, t.text.c_str());
        cr_expect_eq(t.code, c.code, "\"%s\": code %u", c.spec, t.code);
        if (*c.problem == '\0')
            cr_expect(t.problem.empty(), "\"%s\": problem \"%s\"", c.spec, t.problem.c_str());
        else
            cr_expect(t.problem.find(c.problem) != std::string::npos, "\"%s\": problem \"%s\"",
                      c.spec, t.problem.c_str());
    }
}

}  // namespace

Test(error_target, bad_inputs_are_refusals_with_the_problem_named) {
    const Case cases[] = {
        // missing code
        {"", 5, "5.9.9", "DEFAULT", 0, "no reply code"},
        {"   ", 5, "5.9.9", "DEFAULT", 0, "no reply code"},
        {"go away", 5, "5.9.9", "go away", 0, "no reply code"},
        {"55 short", 5, "5.9.9", "55 short", 0, "no reply code"},
        {"5500 long", 5, "5.9.9", "5500 long", 0, "no reply code"},
        {"550x glued", 5, "5.9.9", "550x glued", 0, "no reply code"},
        {"9.9.9 odd", 5, "5.9.9", "9.9.9 odd", 0, "no reply code"},
        {"5.1 two parts", 5, "5.9.9", "5.1 two parts", 0, "no reply code"},
        {"5.1.1111 long part", 5, "5.9.9", "5.1.1111 long part", 0, "no reply code"},
        {"5..1 empty part", 5, "5.9.9", "5..1 empty part", 0, "no reply code"},
        // class 2 and 3 codes never deliver: permanent refusals
        {"250 ok", 5, "5.9.9", "ok", 250, "class 2"},
        {"354 go on", 5, "5.9.9", "go on", 354, "class 3"},
        {"2.0.0 fine", 5, "5.9.9", "fine", 0, "class 2"},
        {"2.0.0:250 fine", 5, "5.9.9", "fine", 250, "class 2"},
        {"5.1.1:250 odd", 5, "5.1.1", "odd", 250, "class 2"},
        // the enhanced code of the other class than the reply code: the reply code wins
        {"4.2.2:550 mixed", 5, "5.9.9", "mixed", 550, "does not match"},
        {"5.7.1:450 mixed", 4, "4.0.0", "mixed", 450, "does not match"},
        {"5.7.1 450 mixed", 4, "4.0.0", "mixed", 450, "does not match"},
        // empty text: the caller's default
        {"550", 5, "5.9.9", "DEFAULT", 550, "no text"},
        {"450 ", 4, "4.0.0", "DEFAULT", 450, "no text"},
        {"5.1.1:550", 5, "5.1.1", "DEFAULT", 550, "no text"},
        {"4.4.1:", 4, "4.4.1", "DEFAULT", 0, "no text"},
        {"4.4.1", 4, "4.4.1", "DEFAULT", 0, "no text"},
    };
    run(cases, sizeof cases / sizeof cases[0]);
}

Test(error_target, well_formed_targets) {
    const Case cases[] = {
        {"5.1.1:550 no such user", 5, "5.1.1", "no such user", 550, ""},
        {"4.2.2:452 mailbox full", 4, "4.2.2", "mailbox full", 452, ""},
        {"5.7.1 550 relaying denied", 5, "5.7.1", "relaying denied", 550, ""},
        {"550 gone", 5, "5.9.9", "gone", 550, ""},
        {"450 later", 4, "4.0.0", "later", 450, ""},
        {"550-dash form", 5, "5.9.9", "dash form", 550, ""},
        {"5.2.2 quota", 5, "5.2.2", "quota", 0, ""},
        {"4.123.456:421 wide parts", 4, "4.123.456", "wide parts", 421, ""},
        {"  5.1.1:550   spaced  ", 5, "5.1.1", "spaced  ", 550, ""},
    };
    run(cases, sizeof cases / sizeof cases[0]);
}

Test(error_target, the_default_permanent_code_is_the_callers) {
    ErrorTarget t = parse_error_target("550 gone", "x");
    cr_expect_eq(t.dsn, std::string("5.0.0"));
    t = parse_error_target("450 later", "x", "5.1.1");
    cr_expect_eq(t.dsn, std::string("4.0.0"), "a temporary refusal gets 4.0.0");
}

// sendmail's error mailer also takes a sysexits name where the enhanced code would be
// (cf/README's virtusertable example "error:nouser 550 No such user here"): it gives
// the enhanced code and the class; a reply code still wins on the class.
Test(error_target, sysexits_names_as_sendmail_reads_them) {
    const Case cases[] = {
        {"nouserx text", 5, "5.9.9", "nouserx text", 0, "no reply code"},
        {"nouser", 5, "5.1.1", "DEFAULT", 0, "no text"},
        {"tempfail 550 mixed", 5, "5.9.9", "mixed", 550, "does not match"},
        {"nouser 550 No such user here", 5, "5.1.1", "No such user here", 550, ""},
        {"nouser User unknown", 5, "5.1.1", "User unknown", 0, ""},
        {"NoHost no such host", 5, "5.1.2", "no such host", 0, ""},
        {"unavailable:550 down", 5, "5.9.9", "down", 550, ""},
        {"tempfail try later", 4, "4.0.0", "try later", 0, ""},
        {"tempfail 451 try later", 4, "4.0.0", "try later", 451, ""},
        {"config bad setup", 5, "5.3.5", "bad setup", 0, ""},
    };
    run(cases, sizeof cases / sizeof cases[0]);
}
