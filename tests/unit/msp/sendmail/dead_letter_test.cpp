// dead_letter_test.cpp - tests for msp/sendmail/dead_letter.cpp: the mbox entry
// sendmail appends to dead.letter, and saving it (bad places first).
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "msp/sendmail/dead_letter.hpp"

using namespace tegami;
using namespace tegami::msp;

Test(dead_letter, entry_is_an_mbox_message) {
    std::string e = dead_letter_entry("u@example.org", 0,
                                      "Subject: x\r\nFrom: u@example.org\r\n\r\nFrom here on\r\n"
                                      ">From kept\r\nlast");
    cr_expect_eq(e.rfind("From u@example.org ", 0), 0u, "%s", e.c_str());
    cr_expect(e.find("\nReturn-Path: <u@example.org>\nSubject: x\nFrom: u@example.org\n\n"
                     ">From here on\n>From kept\nlast\n\n") != std::string::npos,
              "%s", e.c_str());
    cr_expect(e.find('\r') == std::string::npos);
    std::string n = dead_letter_entry("", 0, "Subject: y\r\n\r\nb\r\n");
    cr_expect_eq(n.rfind("From MAILER-DAEMON ", 0), 0u, "%s", n.c_str());
    cr_expect(n.find("Return-Path: <>\n") != std::string::npos);
    std::string odd = dead_letter_entry("a b\tc", 0, "");
    cr_expect_eq(odd.rfind("From a_b_c ", 0), 0u, "%s", odd.c_str());
}

Test(dead_letter, unknown_uid_is_refused) {
    auto r = save_dead_letter(static_cast<uid_t>(4000000001u), "a@b", "x\r\n");
    cr_assert(!r);
    cr_expect_eq(r.error().exit, Exit::no_user);
}
