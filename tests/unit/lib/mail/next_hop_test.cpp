// next_hop_test.cpp - tests for lib/mail/next_hop.cpp: the smarthost/mailertable next-hop
// syntax. Bad inputs first.
#include "lib/mail/next_hop.hpp"

#include <criterion/criterion.h>

#include <string>

using namespace tegami;

Test(next_hop, bad_forms_are_refused) {
    const char* bad[] = {"",          "[",          "[]",        "[host",    "host:",
                         "host:0",    "host:65536", "host:x",    "[a]:25:1", "[a]x",
                         "bad_host!", "[1.2.3.4]:", "-bad.test", "a..b",     "[a b]"};
    for (const char* b : bad) {
        NextHop h;
        cr_expect_not(parse_next_hop(b, h), "%s", b);
    }
}

Test(next_hop, good_forms) {
    struct Case {
        const char* in;
        const char* host;
        unsigned port;
        bool mx, tls;
        const char* str;
    } cases[] = {
        {"Example.ORG", "example.org", 25, true, false, "example.org:25"},
        {"example.org:2525", "example.org", 2525, true, false, "example.org:2525"},
        {"[smtp.example.org]:587", "smtp.example.org", 587, false, false, "[smtp.example.org]:587"},
        {"[smtp.example.org]:465", "smtp.example.org", 465, false, true, "[smtp.example.org]:465"},
        {"[192.0.2.1]", "192.0.2.1", 25, false, false, "[192.0.2.1]:25"},
        {"[IPv6:2001:db8::1]:25", "2001:db8::1", 25, false, false, "[2001:db8::1]:25"},
        {"[::1]:2525", "::1", 2525, false, false, "[::1]:2525"},
        {"127.0.0.1:2525", "127.0.0.1", 2525, false, false, "[127.0.0.1]:2525"},
    };
    for (const auto& c : cases) {
        NextHop h;
        cr_assert(parse_next_hop(c.in, h), "%s", c.in);
        cr_expect_eq(h.host, std::string(c.host), "%s", c.in);
        cr_expect_eq(h.port, c.port, "%s", c.in);
        cr_expect_eq(h.mx, c.mx, "%s", c.in);
        cr_expect_eq(h.implicit_tls, c.tls, "%s", c.in);
        cr_expect_eq(next_hop_string(h), std::string(c.str), "%s", c.in);
    }
}

Test(lmtp_destination, bad_forms_are_refused) {
    const char* bad[] = {"",           "unix:",   "unix:relative/path", "inet:",
                         "inet:host:", "inet:[h", "inet:h:0",           "bad_host!"};
    // A socket path longer than sun_path (108 bytes) is refused too.
    const std::string long_path = "unix:/" + std::string(123, 'a');
    for (const char* b : bad) {
        LmtpDestination d;
        cr_expect_not(parse_lmtp_destination(b, d), "%s", b);
    }
    LmtpDestination d;
    cr_expect_not(parse_lmtp_destination(long_path, d), "%s", long_path.c_str());
    cr_expect_not(parse_lmtp_destination(std::string_view("unix:/a\0b", 9), d));
    cr_expect_not(parse_lmtp_destination("unix:/a\nb", d));
}

Test(lmtp_destination, good_forms) {
    struct Case {
        const char* in;
        const char* canonical;
    } cases[] = {
        {"unix:/run/dovecot/lmtp", "unix:/run/dovecot/lmtp"},
        {"inet:127.0.0.1:24", "inet:127.0.0.1:24"},
        {"inet:[::1]:2424", "inet:[::1]:2424"},
        {"inet:lmtp.example.org", "inet:lmtp.example.org:24"},
        {"[192.0.2.1]:24", "inet:192.0.2.1:24"},
        {"mail.example.org:465", "inet:mail.example.org:465"},  // no implicit TLS for LMTP
    };
    for (const auto& c : cases) {
        LmtpDestination d;
        cr_assert(parse_lmtp_destination(c.in, d), "%s", c.in);
        cr_expect_eq(lmtp_destination_string(d), std::string(c.canonical), "%s", c.in);
        cr_expect_not(d.inet.mx, "%s", c.in);
        cr_expect_not(d.inet.implicit_tls, "%s", c.in);
    }
}
