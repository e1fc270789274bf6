// send_limits_test.cpp - tests for smtpd/auth/send_limits.cpp: sender_limit_map values
// (bad ones first), and the limits and counts tegami-auth answers for an identity.
#include <criterion/criterion.h>

#include <string>

#include "smtpd/auth/send_limits.hpp"

using namespace tegami;
using namespace tegami::auth;

Test(auth_limits, bad_override_values_are_refused) {
    SendLimits d{10, 100, 50, 500};
    const char* bad[] = {"",
                         "  ",
                         "hour_messages",
                         "hour_messages=",
                         "hour=5",
                         "hour_messages=-1",
                         "hour_messages=5x",
                         "unlimited extra",
                         "day_recipients=1 bogus=2"};
    for (const char* v : bad)
        cr_expect_not(parse_limit_override(v, d).ok(), "accepted \"%s\"", v);
}

Test(auth_limits, override_values) {
    SendLimits d{10, 100, 50, 500};
    auto a = parse_limit_override("hour_messages=500, day_recipients=20000", d);
    cr_assert(a.ok());
    cr_expect(a->hour_messages == 500 && a->hour_recipients == 100 && a->day_messages == 50 &&
              a->day_recipients == 20000);
    auto b = parse_limit_override(" unlimited ", d);
    cr_assert(b.ok());
    cr_expect(b->hour_messages == 0 && b->day_recipients == 0);
    auto c = parse_limit_override("hour_recipients=0\tday_messages=7", d);
    cr_assert(c.ok());
    cr_expect(c->hour_recipients == 0 && c->day_messages == 7 && c->hour_messages == 10);
}

Test(auth_limits, check_answers_the_defaults_and_counts) {
    Config c = default_config();
    c.sender_limit_hour_messages = 2;
    c.sender_limit_day_recipients = 10;
    SendLimiter l(std::make_unique<BdbCounterStore>());
    time_t t = 3600 * 500;
    ipc::LimitCountMsg m{"alice", 1, 4};
    l.count(m, t);
    l.count(m, t + 1);
    l.count(ipc::LimitCountMsg{"", 1, 1}, t);  // no identity: ignored
    auto r = l.check(c, "alice", t + 2);
    cr_expect_eq(r.status, ipc::kStatusOk);
    cr_expect(r.hour.max_messages == 2 && r.hour.messages == 2 && r.hour.recipients == 8);
    cr_expect_eq(r.hour.messages_free_at, static_cast<uint64_t>((t / 300 + 12) * 300));
    cr_expect(r.day.max_recipients == 10 && r.day.recipients == 8 && r.day.recipients_free_at == 0);
    auto other = l.check(c, "bob", t + 2);
    cr_expect(other.status == ipc::kStatusOk && other.hour.messages == 0);
    c.sender_limit_map = "hash:/nonexistent/tegami-limits";
    auto broken = l.check(c, "alice", t + 2);
    cr_expect_eq(broken.status, ipc::kStatusTemp, "an unreadable map does not lift a limit");
}
