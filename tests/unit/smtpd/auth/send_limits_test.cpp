// send_limits_test.cpp - tests for smtpd/auth/send_limits.cpp: sender_limit_map values
// (bad ones first), the limits and counts tegami-auth answers for an identity, and the
// holds of transactions in progress (what does not fit is refused and changes nothing;
// a hold ends by release, counted or not, with its channel, or when left untouched).
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
    ipc::LimitReleaseMsg m{"alice", 0, 1, 4};  // accepted messages, counted by their release
    l.release(1, m, t);
    l.release(1, m, t + 1);
    l.release(1, ipc::LimitReleaseMsg{"", 0, 1, 1}, t);  // no identity: ignored
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

namespace {

ipc::LimitReserveMsg want(const char* id, uint64_t holder, uint64_t m, uint64_t r) {
    ipc::LimitReserveMsg x;
    x.identity = id;
    x.holder = holder;
    x.messages = m;
    x.recipients = r;
    return x;
}

}  // namespace

Test(auth_limits, a_held_message_is_not_there_for_another_transaction) {
    Config c = default_config();
    c.sender_limit_hour_messages = 2;
    SendLimiter l(std::make_unique<BdbCounterStore>());
    time_t t = 3600 * 500;
    l.release(1, ipc::LimitReleaseMsg{"alice", 0, 1, 0}, t);
    auto a = l.reserve(c, 1, want("alice", 10, 1, 0), t);
    cr_expect_eq(a.status, ipc::kStatusOk);
    cr_expect_eq(a.hour.messages, 1u, "the reply counts the sent one, not its own hold");
    auto b = l.reserve(c, 2, want("alice", 10, 1, 0), t);  // another channel, same number
    cr_expect_eq(b.status, ipc::kStatusPerm, "the last message of room is held already");
    cr_expect_eq(b.hour.messages, 2u, "what others hold counts as sent now");
    cr_expect_eq(l.holds(), 1u, "a refusal holds nothing");
    auto again = l.reserve(c, 1, want("alice", 10, 1, 0), t);
    cr_expect_eq(again.status, ipc::kStatusOk, "a holder asking again replaces its own hold");
    cr_expect_eq(l.check(c, "alice", t).hour.messages, 2u, "check counts the holds");
    cr_expect_eq(l.reserve(c, 1, want("bob", 11, 1, 0), t).status, ipc::kStatusOk,
                 "another identity has its own room");

    l.release(1, ipc::LimitReleaseMsg{"alice", 10, 0, 0}, t);  // RSET: given back
    cr_expect_eq(l.reserve(c, 2, want("alice", 20, 1, 0), t).status, ipc::kStatusOk);
    l.release(2, ipc::LimitReleaseMsg{"alice", 20, 1, 3}, t);  // accepted: counted
    auto full = l.reserve(c, 1, want("alice", 12, 1, 0), t);
    cr_expect_eq(full.status, ipc::kStatusPerm);
    cr_expect(full.hour.messages == 2 && full.hour.recipients == 3, "counted once, not held");
    cr_expect_eq(l.holds(), 1u, "only bob's hold is left");
}

Test(auth_limits, held_recipients_are_checked_only_when_asked_for) {
    Config c = default_config();
    c.sender_limit_hour_recipients = 3;
    SendLimiter l(std::make_unique<BdbCounterStore>());
    time_t t = 3600 * 700;
    cr_expect_eq(l.reserve(c, 1, want("carol", 1, 1, 2), t).status, ipc::kStatusOk);
    cr_expect_eq(l.reserve(c, 1, want("carol", 2, 1, 0), t).status, ipc::kStatusOk,
                 "a MAIL asks for no recipients");
    auto over = l.reserve(c, 1, want("carol", 2, 1, 2), t);
    cr_expect_eq(over.status, ipc::kStatusPerm, "2 held + 2 asked > 3");
    cr_expect_eq(over.hour.recipients, 2u, "the other transaction's recipients");
    cr_expect_eq(l.reserve(c, 1, want("carol", 2, 1, 1), t).status, ipc::kStatusOk, "2 + 1 fit");
    cr_expect_eq(l.check(c, "carol", t).hour.recipients, 3u);
    // The refused ask changed nothing: holder 2 still holds 1 (from the last grant).
    l.release(1, ipc::LimitReleaseMsg{"carol", 1, 0, 0}, t);
    cr_expect_eq(l.check(c, "carol", t).hour.recipients, 1u);
}

Test(auth_limits, holds_go_with_their_channel_and_when_left_untouched) {
    Config c = default_config();
    c.sender_limit_hour_messages = 1;
    SendLimiter l(std::make_unique<BdbCounterStore>());
    time_t t = 3600 * 900;
    cr_expect_eq(l.reserve(c, 7, want("dave", 1, 1, 0), t).status, ipc::kStatusOk);
    cr_expect_eq(l.reserve(c, 8, want("erin", 1, 1, 0), t).status, ipc::kStatusOk);
    cr_expect_eq(l.reserve(c, 9, want("dave", 1, 1, 0), t).status, ipc::kStatusPerm);
    l.drop_channel(7);  // smtpd's channel closed
    cr_expect_eq(l.holds(), 1u);
    cr_expect_eq(l.reserve(c, 9, want("dave", 1, 1, 0), t + 10).status, ipc::kStatusOk);
    l.expire(t + kHoldIdle - 1);
    cr_expect_eq(l.holds(), 2u, "erin's hold is not old enough yet");
    l.expire(t + kHoldIdle);
    cr_expect_eq(l.holds(), 1u, "erin's hold, untouched for an hour, went");
    cr_expect_eq(l.check(c, "erin", t + kHoldIdle).hour.messages, 0u);
    cr_expect_eq(l.check(c, "dave", t + kHoldIdle).hour.messages, 1u, "dave's newer one stays");
    l.release(3, ipc::LimitReleaseMsg{"dave", 1, 0, 0}, t);  // an unknown holder: no effect
    cr_expect_eq(l.holds(), 1u);
}

Test(auth_limits, a_bad_identity_is_not_held) {
    Config c = default_config();
    c.sender_limit_hour_messages = 5;
    SendLimiter l(std::make_unique<BdbCounterStore>());
    cr_expect_eq(l.reserve(c, 1, want("", 1, 1, 0), 1000).status, ipc::kStatusTemp);
    cr_expect_eq(l.reserve(c, 1, want(std::string(513, 'x').c_str(), 1, 1, 0), 1000).status,
                 ipc::kStatusTemp);
    cr_expect_eq(l.holds(), 0u);
}
