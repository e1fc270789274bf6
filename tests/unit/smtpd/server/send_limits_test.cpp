// send_limits_test.cpp - tests for smtpd/server/send_limits.cpp: who is limited, which
// recipients count, the 451 4.7.1 texts (which limit, when it frees up), and a
// transaction's hold being given back exactly once.
#include <criterion/criterion.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "smtpd/server/session_state.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {
Config cfg() {
    Config c = default_config();
    c.hostname = "mx.test";
    c.local_domains = {"mx.test", "localhost"};
    c.virtual_domains = {"virt.test"};
    return c;
}
SendQuota quota(uint64_t max_m, uint64_t m, uint64_t max_r, uint64_t r) {
    SendQuota q;
    q.identity = "alice";
    q.hour.max_messages = max_m;
    q.hour.messages = m;
    q.hour.max_recipients = max_r;
    q.hour.recipients = r;
    q.hour.messages_free_at = 1764639300;    // 2025-12-02 01:35:00 UTC
    q.hour.recipients_free_at = 1764639600;  // 01:40:00
    q.hour.next_drop = 1764639000;           // 01:30:00
    return q;
}
}  // namespace

Test(send_limits, identities) {
    ClientInfo remote{"192.0.2.1", "unknown"};
    ClientInfo local{"local", "localhost"};
    local.local = true;
    local.uid = 1000;
    ClientInfo unknown_uid = local;
    unknown_uid.uid = -1;
    cr_expect_eq(limit_identity("", remote), "", "an anonymous MTA client is not limited");
    cr_expect_eq(limit_identity("", unknown_uid), "");
    cr_expect_eq(limit_identity("alice", remote), "alice");
    cr_expect_eq(limit_identity("", local), "uid:1000");
    Config c = cfg();
    cr_expect_not(limits_configured(c));
    c.sender_limit_day_recipients = 1;
    cr_expect(limits_configured(c));
}

Test(send_limits, only_remote_recipients_count) {
    Config c = cfg();
    cr_expect_not(counted_domain(c, ""));
    cr_expect_not(counted_domain(c, "MX.test"));
    cr_expect_not(counted_domain(c, "virt.test"));
    cr_expect(counted_domain(c, "example.net"));
    cr_expect_eq(counted_recipients(c, {"a@mx.test", "b@example.net", "c@virt.test", "postmaster",
                                        "d@Example.ORG"}),
                 2u);
}

Test(send_limits, refusals_name_the_limit_and_the_reset) {
    cr_expect_not(mail_limit_refusal(quota(0, 99, 0, 99)), "0 is no limit");
    cr_expect_not(mail_limit_refusal(quota(5, 4, 0, 0)));
    auto m = mail_limit_refusal(quota(5, 5, 0, 0));
    cr_assert(m);
    cr_expect_eq(m->code, 451);
    cr_expect_eq(m->enhanced, "4.7.1");
    cr_expect_eq(m->text,
                 "Hourly limit of 5 messages reached for alice; it frees up at 2025-12-02 "
                 "01:35:00 UTC");
    SendQuota d = quota(0, 0, 0, 0);
    d.day.max_messages = 3;
    d.day.messages = 7;
    auto dm = mail_limit_refusal(d);
    cr_assert(dm);
    cr_expect(dm->text.rfind("Daily limit of 3 messages reached for alice", 0) == 0, "%s",
              dm->text.c_str());

    cr_expect_not(rcpt_limit_refusal(quota(0, 0, 10, 7), 2), "the 10th is allowed");
    auto full = rcpt_limit_refusal(quota(0, 0, 10, 10), 0);
    cr_assert(full);
    cr_expect_eq(full->text,
                 "Hourly limit of 10 recipients reached for alice; it frees up at 2025-12-02 "
                 "01:40:00 UTC");
    auto within = rcpt_limit_refusal(quota(0, 0, 10, 7), 3);
    cr_assert(within);
    cr_expect(within->text.find("01:30:00") != std::string::npos, "%s", within->text.c_str());
    SendQuota fresh = quota(0, 0, 2, 0);
    fresh.hour.next_drop = 0;
    auto alone = rcpt_limit_refusal(fresh, 2);
    cr_assert(alone);
    cr_expect(alone->text.find("this message alone") != std::string::npos, "%s",
              alone->text.c_str());
}

// A hold is given back exactly once: by commit (counting one message and its recipients,
// none when it has no counted recipient) or, without it, when the last reference goes.
Test(send_limits, a_hold_is_released_once) {
    using Call = std::pair<uint64_t, uint64_t>;
    std::vector<Call> calls;
    auto record = [&calls](uint64_t m, uint64_t r) { calls.emplace_back(m, r); };
    {
        auto h = std::make_shared<LimitHold>(5, record);
        cr_expect_eq(h->holder(), 5u);
        auto copy = h;  // a newer SendQuota of the same transaction
        h.reset();
        cr_expect(calls.empty(), "released while a quota still refers to it");
    }
    cr_assert_eq(calls.size(), 1u);
    cr_expect(calls[0] == Call(0, 0), "given back, nothing counted");
    calls.clear();
    {
        LimitHold h(6, record);
        h.commit(3);
        h.commit(4);  // a second commit does nothing
    }
    cr_assert_eq(calls.size(), 1u, "commit, and no release after it");
    cr_expect(calls[0] == Call(1, 3));
    calls.clear();
    {
        LimitHold h(7, record);
        h.commit(0);
    }
    cr_assert_eq(calls.size(), 1u);
    cr_expect(calls[0] == Call(0, 0), "a message to local recipients only is not counted");
}
