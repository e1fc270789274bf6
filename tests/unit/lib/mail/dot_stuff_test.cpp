// dot_stuff_test.cpp - tests for lib/mail/dot_stuff.cpp: the DATA form of a stored body.
// Bare line endings (the smuggling look-alikes) first.
#include "lib/mail/dot_stuff.hpp"

#include <criterion/criterion.h>

#include <string>

Test(dot_stuff, bare_line_endings_become_crlf_and_dots_are_doubled) {
    struct Case {
        const char* in;
        const char* out;
    } cases[] = {
        {"", ".\r\n"},
        {"a", "a\r\n.\r\n"},
        {"a\nb", "a\r\nb\r\n.\r\n"},
        {"a\rb\r\n", "a\r\nb\r\n.\r\n"},
        {".\r\n", "..\r\n.\r\n"},
        {"x\r\n.\n.\r.", "x\r\n..\r\n..\r\n..\r\n.\r\n"},
        {"a\r\n\r\n", "a\r\n\r\n.\r\n"},
        {"\n.\n", "\r\n..\r\n.\r\n"},
    };
    for (const auto& k : cases) {
        std::string out;
        tegami::append_dot_stuffed(out, k.in);
        cr_expect_eq(out, std::string(k.out), "in [%s]", k.in);
    }
}

Test(dot_stuff, eight_bit_detection) {
    cr_expect_not(tegami::has_8bit("plain ascii\r\n"));
    cr_expect(tegami::has_8bit("caf\xc3\xa9"));
}
