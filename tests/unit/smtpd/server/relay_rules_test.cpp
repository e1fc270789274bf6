// relay_rules_test.cpp - tests for smtpd/server/relay_rules.cpp: network lists (bad
// entries first), every relay trick refused at RCPT, and the sender-login rule.
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

Test(networks, bad_entries) {
    const char* bad[] = {"",          "10.0.0.0/33", "10.0.0.1/8", "[::1]/129", "foo",
                         "10.0.0.0/", "10.0.0.0/x",  "1.2.3",      "::1/-1",    "/8"};
    for (const char* b : bad)
        cr_expect_not(parse_network(b).has_value(), "%s", b);
    std::string which;
    cr_expect_not(parse_networks({"127.0.0.0/8", "bogus"}, which).has_value());
    cr_expect_eq(which, std::string("bogus"));
}

Test(networks, matching) {
    std::string bad;
    auto nets = parse_networks(
        {"127.0.0.0/8", "[::1]/128", "192.0.2.16/28", "2001:db8::/32", "198.51.100.7"}, bad);
    cr_assert(nets.has_value(), "%s", bad.c_str());
    const char* in[] = {"127.0.0.1",  "127.255.0.9",   "::1",          "192.0.2.17",
                        "192.0.2.31", "2001:db8:1::5", "198.51.100.7", "::ffff:127.0.0.1"};
    const char* out[] = {"128.0.0.1",    "192.0.2.15", "192.0.2.32", "2001:db9::1",
                         "198.51.100.8", "::2",        "unknown",    ""};
    for (const char* a : in)
        cr_expect(network_contains(*nets, a), "%s", a);
    for (const char* a : out)
        cr_expect_not(network_contains(*nets, a), "%s", a);
}

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
