// verbs_test.cpp - tests for the pure helpers of smtpd/server/verbs.cpp (queue answers
// to SMTP replies, local domains) and connection.cpp (peer address and name).
// Bad inputs first.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "smtpd/server/connection.hpp"
#include "smtpd/server/verbs.hpp"

using namespace tegami;
using namespace tegami::smtpd;

Test(verbs, submit_reply_never_trusts_the_queue_text_class) {
    struct Case {
        uint32_t status;
        const char* text;
        const char* want;
    } cases[] = {
        {4, "5.1.1 wrong class", "451 4.3.0 5.1.1 wrong class\r\n"},
        {5, "4.2.2 wrong class", "554 5.3.0 4.2.2 wrong class\r\n"},
        {4, "", "451 4.3.0 Temporary failure, try again later\r\n"},
        {9, "x", "451 4.3.0 x\r\n"},
        {4, "bad\r\n250 ok", "451 4.3.0 bad??250 ok\r\n"},
        {4, "4.3.0 Queue unavailable, try again later",
         "451 4.3.0 Queue unavailable, try again later\r\n"},
        {5, "5.7.1 refused", "554 5.7.1 refused\r\n"},
        {2, "whatever", "250 2.0.0 Ok: queued as QID\r\n"},
    };
    for (const auto& c : cases)
        cr_expect_eq(format_reply(submit_reply(c.status, c.text, "QID")), std::string(c.want),
                     "%u %s", c.status, c.text);
}

Test(verbs, local_domains_are_case_insensitive) {
    Config c;
    c.local_domains = {"Example.ORG", "localhost"};
    cr_expect_not(is_local_domain(c, ""));
    cr_expect_not(is_local_domain(c, "example.org.evil"));
    cr_expect_not(is_local_domain(c, "sub.example.org"));
    cr_expect(is_local_domain(c, "example.org"));
    cr_expect(is_local_domain(c, "LOCALHOST"));
}

Test(verbs, table_covers_every_verb) {
    for (int v = 0; v <= static_cast<int>(Verb::unknown); ++v) {
        const VerbSpec& s = verb_spec(static_cast<Verb>(v));
        cr_expect_str_eq(s.name, verb_name(static_cast<Verb>(v)));
        cr_expect(s.command);
    }
    cr_expect_not(end_of_data_spec().command);
}

Test(connection, client_info) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
    ClientInfo ci = client_info(reinterpret_cast<sockaddr*>(&v4), 4);  // short: refused
    cr_expect_eq(ci.addr, std::string("unknown"));
    ci = client_info(reinterpret_cast<sockaddr*>(&v4), sizeof v4);
    cr_expect_eq(ci.addr, std::string("192.0.2.7"));
    cr_expect_eq(ci.name, std::string("unknown"));
    inet_pton(AF_INET, "127.1.2.3", &v4.sin_addr);  // another loopback address: looked up
    ci = client_info(reinterpret_cast<sockaddr*>(&v4), sizeof v4);
    cr_expect_eq(ci.name, std::string("unknown"));
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);  // this host: no lookup
    ci = client_info(reinterpret_cast<sockaddr*>(&v4), sizeof v4);
    cr_expect_eq(ci.name, std::string("localhost"));

    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    ci = client_info(reinterpret_cast<sockaddr*>(&v6), sizeof v6);
    cr_expect_eq(ci.addr, std::string("::1"));
    cr_expect_eq(ci.name, std::string("localhost"));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
    ci = client_info(reinterpret_cast<sockaddr*>(&v6), sizeof v6);
    cr_expect_eq(ci.addr, std::string("127.0.0.1"));
    cr_expect_eq(ci.name, std::string("localhost"));
    inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
    ci = client_info(reinterpret_cast<sockaddr*>(&v6), sizeof v6);
    cr_expect_eq(ci.addr, std::string("2001:db8::1"));
    cr_expect_eq(ci.name, std::string("unknown"));
}
