// relay_rules_test.cpp - tests for smtpd/server/relay_rules.cpp: every relay trick
// refused at RCPT, and the sender-login rule (mismatches first).
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "lib/mail/smtp_command.hpp"
#include "smtpd/server/relay_rules.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {

Mailbox rcpt(const char* arg) {
    auto r = parse_rcpt(arg, false);
    cr_assert(r.ok(), "%s", arg);
    return r->rcpt;
}

Mailbox sender(const char* arg) {
    auto m = parse_mail(arg);
    cr_assert(m.ok(), "%s", arg);
    return m->sender;
}

}  // namespace

Test(relay_tricks, every_trick_is_refused) {
    const char* tricks[] = {
        "TO:<user%other.example@localhost>",     "TO:<other.example!user@localhost>",
        "TO:<@localhost:user@other.example>",    "TO:<@a.example,@localhost:user@localhost>",
        "TO:<\"user@other.example\"@localhost>", "TO:<\"user%other.example\"@localhost>"};
    for (const char* t : tricks) {
        auto r = relay_trick(rcpt(t));
        cr_expect(r.has_value(), "%s", t);
        if (r) {
            cr_expect_eq(r->code, 550, "%s", t);
            cr_expect_eq(r->enhanced, std::string("5.7.1"), "%s", t);
        }
    }
    for (const char* good : {"TO:<user@localhost>", "TO:<first.last@localhost>",
                             "TO:<\"first last\"@localhost>", "TO:<Postmaster>"})
        cr_expect_not(relay_trick(rcpt(good)).has_value(), "%s", good);
}

Test(sender_login, mismatch_and_matches) {
    std::vector<std::string> local = {"example.org", "localhost"};
    cr_expect_not(sender_login_ok("alice", sender("FROM:<bob@example.org>"), local, ""));
    cr_expect_not(sender_login_ok("alice", sender("FROM:<alice@other.example>"), local, ""));
    cr_expect_not(
        sender_login_ok("alice@example.org", sender("FROM:<alice@example.net>"), local, ""));
    cr_expect_not(sender_login_ok("alice", sender("FROM:<info@example.org>"), local, "bob, carol"));
    cr_expect_not(sender_login_ok("ali", sender("FROM:<info@example.org>"), local, "alice"));
    cr_expect(sender_login_ok("alice", sender("FROM:<>"), local, ""));
    cr_expect(sender_login_ok("alice", sender("FROM:<alice@example.org>"), local, ""));
    cr_expect(sender_login_ok("alice", sender("FROM:<Alice@EXAMPLE.org>"), local, ""));
    cr_expect(sender_login_ok("alice@example.net", sender("FROM:<alice@example.net>"), local, ""));
    cr_expect(sender_login_ok("alice", sender("FROM:<info@example.org>"), local, "bob,alice"));
    cr_expect(sender_login_ok("alice", sender("FROM:<info@example.org>"), local, " alice "));
}
