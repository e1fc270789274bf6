// reply_test.cpp - tests for lib/mail/reply.cpp: wire formatting and enhanced-code
// prefixes. Bad inputs first.
#include <criterion/criterion.h>

#include <string>

#include "lib/mail/reply.hpp"

using namespace tegami;

Test(reply, control_characters_never_reach_the_wire) {
    cr_expect_eq(format_reply(make_reply(550, "5.1.1", "a\r\n250 ok")),
                 std::string("550 5.1.1 a??250 ok\r\n"));
    cr_expect_eq(format_reply(make_reply(500, "", "x\x7fy\tz")), std::string("500 x?y?z\r\n"));
}

Test(reply, enhanced_code_prefix_rejects_bad_codes) {
    const char* bad[] = {"", "2.0", "3.0.0 x", "2..0", "2.0.", "2.0.0x", "x.0.0", "2.1234.0"};
    size_t len = 0;
    for (const char* s : bad)
        cr_expect_not(enhanced_code_prefix(s, len), "%s", s);
}

Test(reply, enhanced_code_prefix_accepts_codes) {
    struct Case {
        const char* in;
        size_t len;
    } cases[] = {{"2.0.0", 5}, {"4.3.0 Queue full", 5}, {"5.7.1 x", 5}, {"4.123.456 y", 9}};
    for (const auto& c : cases) {
        size_t len = 0;
        cr_expect(enhanced_code_prefix(c.in, len), "%s", c.in);
        cr_expect_eq(len, c.len, "%s", c.in);
    }
}

Test(reply, single_line) {
    cr_expect_eq(format_reply(make_reply(250, "2.1.0", "Ok")), std::string("250 2.1.0 Ok\r\n"));
    cr_expect_eq(format_reply(make_reply(354, "", "End data")), std::string("354 End data\r\n"));
    cr_expect_eq(format_reply(make_reply(250, "2.0.0", "")), std::string("250 2.0.0\r\n"));
}

Test(reply, multiline) {
    cr_expect_eq(format_multiline(250, "", {"host", "PIPELINING", "8BITMIME"}),
                 std::string("250-host\r\n250-PIPELINING\r\n250 8BITMIME\r\n"));
    cr_expect_eq(format_multiline(214, "2.0.0", {"a", "b"}),
                 std::string("214-2.0.0 a\r\n214 2.0.0 b\r\n"));
    cr_expect_eq(format_multiline(250, "", {}), std::string("250 \r\n"));
}

Test(reply, classes) {
    cr_expect(make_reply(250, "2.0.0", "").positive());
    cr_expect(make_reply(354, "", "").positive());
    cr_expect(make_reply(451, "4.3.0", "").transient());
    cr_expect(make_reply(554, "5.3.0", "").permanent());
}
