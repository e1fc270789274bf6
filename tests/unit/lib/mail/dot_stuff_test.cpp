// dot_stuff_test.cpp - tests for lib/mail/dot_stuff.cpp: the DATA form of a stored body.
// Bare line endings (the smuggling look-alikes) first.
#include "lib/mail/dot_stuff.hpp"

#include <criterion/criterion.h>

#include <string>
#include <vector>

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

// The zero-copy form refuses what it cannot send as is (bad line endings, too many
// pieces) and otherwise joins to exactly what append_dot_stuffed makes.
Test(dot_stuff, views_refuse_bare_line_endings_and_too_many_pieces) {
    const char* refused[] = {"a",        "a\nb\r\n", "a\rb\r\n", "a\r\n\n",  "\n",
                             "x\r\ny\r", "\r",       "a\r\r\n",  "ab\r\nc\n"};
    for (const char* in : refused) {
        std::vector<std::string_view> v{"kept"};
        cr_expect_not(tegami::dot_stuff_views(in, v, 100), "accepted [%s]", in);
        cr_expect_eq(v.size(), 1u, "pieces left behind for [%s]", in);
    }
    std::vector<std::string_view> v;
    cr_expect_not(tegami::dot_stuff_views(".\r\n.\r\n.\r\n.\r\n", v, 5));
    cr_expect(v.empty());
}

Test(dot_stuff, views_join_to_the_copied_form) {
    const char* cases[] = {"",
                           "a\r\n",
                           ".\r\n",
                           "..\r\n",
                           "x\r\n.y\r\n\r\n.\r\nz\r\n",
                           "Subject: s\r\n\r\nbody\r\n.\r\n.. two\r\nend\r\n"};
    for (const char* in : cases) {
        std::vector<std::string_view> v;
        cr_assert(tegami::dot_stuff_views(in, v, 100), "refused [%s]", in);
        std::string joined, copied;
        for (auto p : v)
            joined += p;
        tegami::append_dot_stuffed(copied, in);
        cr_expect_eq(joined, copied, "in [%s]", in);
        std::string_view body(in);
        for (auto p : v)  // body runs point into the body itself: no copy was made
            if (p.size() > 3)
                cr_expect(p.data() >= body.data() &&
                          p.data() + p.size() <= body.data() + body.size());
    }
}
