// access_test.cpp - tests for smtpd/server/access.cpp: sendmail access-map values (bad
// ones first) and the lookup keys for clients and addresses, most specific first.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "smtpd/server/access.hpp"

using namespace tegami;
using namespace tegami::smtpd;

Test(access, bad_values) {
    const char* bad[] = {"",
                         "ok",
                         "RELAYX",
                         "ERROR:",
                         "ERROR:250 ok",
                         "ERROR:6xx no",
                         "ERROR:\"550 4.7.1 mixed\"",
                         "ERROR:55 x",
                         "REJECT please"};
    for (const char* b : bad)
        cr_expect_not(parse_access_action(b).has_value(), "%s", b);
}

Test(access, values) {
    cr_expect(parse_access_action("OK")->kind == AccessKind::ok);
    cr_expect(parse_access_action(" RELAY ")->kind == AccessKind::relay);
    cr_expect(parse_access_action("REJECT")->kind == AccessKind::reject);
    cr_expect(parse_access_action("DISCARD")->kind == AccessKind::discard);
    cr_expect(parse_access_action("SKIP")->kind == AccessKind::skip);
    auto e = parse_access_action("ERROR:\"550 5.7.1 we do not want your mail\"");
    cr_assert(e.has_value());
    cr_expect_eq(e->reply.code, 550);
    cr_expect_eq(e->reply.enhanced, std::string("5.7.1"));
    cr_expect_eq(e->reply.text, std::string("we do not want your mail"));
    auto s = parse_access_action("ERROR:4.7.1:450 come back later");
    cr_assert(s.has_value());
    cr_expect_eq(s->reply.code, 450);
    cr_expect_eq(s->reply.enhanced, std::string("4.7.1"));
    auto d = parse_access_action("ERROR:553 no such sender");
    cr_assert(d.has_value());
    cr_expect_eq(d->reply.enhanced, std::string("5.7.1"));
}

Test(access, keys) {
    std::vector<std::string> want = {
        "Connect:192.0.2.1", "Connect:192.0.2", "Connect:192.0", "Connect:192",
        "192.0.2.1",         "192.0.2",         "192.0",         "192"};
    cr_expect(access_client_keys("Connect:", "192.0.2.1") == want);
    auto v6 = access_client_keys("Connect:", "2001:db8::1");
    cr_expect_eq(v6.front(), std::string("Connect:IPv6:2001:db8::1"));
    cr_expect_eq(v6[1], std::string("Connect:IPv6:2001:db8"));
    std::vector<std::string> a = {"To:u@a.b.c", "To:a.b.c", "To:b.c", "To:c", "To:u@",
                                  "u@a.b.c",    "a.b.c",    "b.c",    "c",    "u@"};
    cr_expect(access_address_keys("To:", "u@a.b.c") == a);
}
