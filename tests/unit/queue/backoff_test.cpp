// backoff_test.cpp - retry arithmetic (queue/backoff.cpp) and the schedule heap
// (queue/schedule.cpp). Degenerate policies first.
#include <criterion/criterion.h>

#include "queue/backoff.hpp"
#include "queue/schedule.hpp"

using namespace tegami::queue;

struct DelayCase {
    RetryPolicy policy;
    uint32_t attempts;
    uint64_t expect;
};

Test(backoff, retry_delay_table) {
    const DelayCase cases[] = {
        {{0, 0, 100}, 1, 1},        // zero minimum: at least a second
        {{0, 0, 100}, 40, 1},       //
        {{300, 100, 9}, 3, 300},    // max below min: min wins
        {{300, 4000, 9}, 0, 300},   // 0 attempts counts as the first
        {{300, 4000, 9}, 1, 300},   //
        {{300, 4000, 9}, 2, 600},   //
        {{300, 4000, 9}, 3, 1200},  //
        {{300, 4000, 9}, 4, 2400},  //
        {{300, 4000, 9}, 5, 4000},  // capped
        {{300, 4000, 9}, 1000000, 4000},
        {{UINT64_MAX / 2 + 1, UINT64_MAX, 9}, 5, UINT64_MAX},  // no overflow
        {{1, UINT64_MAX, 9}, 64, 1ull << 63},
    };
    for (size_t i = 0; i < std::size(cases); ++i) {
        const auto& c = cases[i];
        cr_expect_eq(retry_delay(c.policy, c.attempts), c.expect, "case %zu: got %llu", i,
                     static_cast<unsigned long long>(retry_delay(c.policy, c.attempts)));
    }
}

Test(backoff, deferral_and_lifetime) {
    RetryPolicy p{300, 4000, 3600};
    auto d = decide_deferral(p, 1000, 1, 1000);
    cr_expect(!d.give_up);
    cr_expect_eq(d.next_try, 1300u);
    d = decide_deferral(p, 1000, 3, 2000);
    cr_expect(!d.give_up);
    cr_expect_eq(d.next_try, 3200u);
    d = decide_deferral(p, 1000, 9, 4599);
    cr_expect(!d.give_up);
    cr_expect_eq(d.next_try, 8599u);
    cr_expect(decide_deferral(p, 1000, 9, 4600).give_up);  // exactly the lifetime
    cr_expect(decide_deferral(p, 1000, 1, 999999).give_up);
    cr_expect(!decide_deferral(p, 5000, 1, 1000).give_up);  // clock went back: retry
}

Test(schedule, pops_in_time_order_only_when_due) {
    Schedule s;
    Due d;
    cr_expect(!s.pop_due(100, d));
    s.add({50, "B", 1});
    s.add({10, "C", 0});
    s.add({50, "A", 2});
    s.add({50, "A", 0});
    s.add({99, "D", 0});
    cr_expect_eq(s.next_time(), 10u);
    cr_assert(s.pop_due(60, d));
    cr_expect_eq(d.queue_id, "C");
    const char* order[] = {"A", "A", "B"};
    uint32_t rcpts[] = {0, 2, 1};
    for (int i = 0; i < 3; ++i) {
        cr_assert(s.pop_due(60, d));
        cr_expect_eq(d.queue_id, order[i]);
        cr_expect_eq(d.rcpt, rcpts[i]);
    }
    cr_expect(!s.pop_due(60, d));
    cr_expect_eq(s.size(), 1u);
    cr_expect(s.pop_due(99, d));
    cr_expect(s.empty());
}
