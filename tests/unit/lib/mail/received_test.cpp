// received_test.cpp - tests for lib/mail/received.cpp: the Received header layout and
// RFC 5322 dates. Bad inputs first.
#include <criterion/criterion.h>

#include <string>

#include "lib/mail/received.hpp"

using namespace tegami;

Test(received, control_characters_cannot_add_headers) {
    ReceivedInfo in;
    in.helo = "evil\r\nX-Injected: 1";
    in.client_name = "unknown";
    in.client_addr = "192.0.2.1";
    in.hostname = "mx.example";
    in.protocol = "SMTP";
    in.queue_id = "ABC";
    in.date = "Thu, 1 Jan 1970 00:00:00 +0000";
    std::string h = received_header(in);
    cr_expect_eq(h.find("\r\nX-Injected"), std::string::npos);
    cr_expect_neq(h.find("evil??X-Injected: 1"), std::string::npos);
}

Test(received, layout_with_one_recipient) {
    ReceivedInfo in;
    in.helo = "client.example";
    in.client_name = "localhost";
    in.client_addr = "127.0.0.1";
    in.hostname = "mx.example";
    in.protocol = "ESMTP";
    in.queue_id = "0123456789ABCDEF";
    in.recipient = "u@mx.example";
    in.date = "Tue, 3 Jun 2025 12:00:00 +0200";
    cr_expect_eq(received_header(in),
                 std::string("Received: from client.example (localhost [127.0.0.1])\r\n"
                             "\tby mx.example (Tegami) with ESMTP id 0123456789ABCDEF\r\n"
                             "\tfor <u@mx.example>; Tue, 3 Jun 2025 12:00:00 +0200\r\n"));
    in.recipient = "";
    in.protocol = "UTF8SMTP";
    cr_expect_eq(received_header(in),
                 std::string("Received: from client.example (localhost [127.0.0.1])\r\n"
                             "\tby mx.example (Tegami) with UTF8SMTP id 0123456789ABCDEF; "
                             "Tue, 3 Jun 2025 12:00:00 +0200\r\n"));
}

Test(received, dates) {
    std::tm tm{};
    tm.tm_year = 125;
    tm.tm_mon = 5;
    tm.tm_mday = 3;
    tm.tm_wday = 2;
    tm.tm_hour = 4;
    tm.tm_min = 5;
    tm.tm_sec = 6;
    cr_expect_eq(rfc5322_date(tm, 7200), std::string("Tue, 3 Jun 2025 04:05:06 +0200"));
    cr_expect_eq(rfc5322_date(tm, -(5 * 3600 + 1800)),
                 std::string("Tue, 3 Jun 2025 04:05:06 -0530"));
    cr_expect_eq(rfc5322_date(tm, 0), std::string("Tue, 3 Jun 2025 04:05:06 +0000"));
    std::string now = rfc5322_date_now();
    cr_expect(now.size() >= 30u, "%s", now.c_str());
}
