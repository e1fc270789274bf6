// counter_store_test.cpp - tests for smtpd/auth/counter_store.cpp: the bucketed
// windows (what counts, when a count frees up), the stored form (bad values first), and
// that a reopened store (a restarted tegami-auth) still knows every flushed count.
#include <criterion/criterion.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "smtpd/auth/counter_store.hpp"

using namespace tegami::auth;

Test(counter_store, bad_stored_values_are_refused) {
    const char* bad[] = {"",        "2 h d",      "1 h 1:2",    "1 h x:1:1",
                         "1 5:1:1", "1 h 1:1:1x", "1 h 1:1:-1", "1 h 1::1"};
    std::vector<Bucket> h, d;
    for (const char* v : bad)
        cr_expect_not(decode_buckets(v, h, d), "accepted \"%s\"", v);
    std::string many = "1 h";
    for (int i = 0; i < 65; ++i)
        many += " " + std::to_string(i) + ":1:1";
    cr_expect_not(decode_buckets(many, h, d), "more buckets than a window holds");
}

Test(counter_store, stored_form_round_trips) {
    std::vector<Bucket> h{{10, 1, 5}, {11, 2, 0}}, d{{3, 3, 5}};
    std::string v = encode_buckets(h, d);
    cr_expect_eq(v, "1 h 10:1:5 11:2:0 d 3:3:5");
    std::vector<Bucket> h2, d2;
    cr_assert(decode_buckets(v, h2, d2));
    cr_expect_eq(h2.size(), 2u);
    cr_expect_eq(h2[1].messages, 2u);
    cr_expect_eq(d2[0].recipients, 5u);
    cr_expect(decode_buckets("1 h d", h2, d2) && h2.empty() && d2.empty());
}

Test(counter_store, window_sums_and_free_times) {
    // The hour: 12 buckets of 300 s. At t = 3600 * 100 the current bucket is 1200.
    time_t now = 3600 * 100;
    std::vector<Bucket> b{{1188, 9, 9},  // left the window (1200 - 12)
                          {1189, 2, 20},
                          {1195, 3, 1},
                          {1200, 1, 4}};
    struct Case {
        uint64_t max_m, max_r;
        time_t m_free, r_free;
    } cases[] = {
        {0, 0, 0, 0},                                   // no limits
        {7, 26, 0, 0},                                  // below both
        {6, 25, (1189 + 12) * 300, (1189 + 12) * 300},  // at: the oldest bucket frees it
        {2, 5, (1195 + 12) * 300, (1195 + 12) * 300},   // far over: two buckets must go
        {1, 4, (1200 + 12) * 300, (1200 + 12) * 300},
    };
    for (const auto& c : cases) {
        WindowUsage u = summarize(b, Window::hour, now, c.max_m, c.max_r);
        cr_expect_eq(u.messages, 6u);
        cr_expect_eq(u.recipients, 25u);
        cr_expect_eq(u.next_drop, (1189 + 12) * 300);
        cr_expect_eq(u.messages_free_at, c.m_free, "max %llu", (unsigned long long)c.max_m);
        cr_expect_eq(u.recipients_free_at, c.r_free, "max %llu", (unsigned long long)c.max_r);
    }
    WindowUsage day = summarize(b, Window::day, now, 0, 0);
    cr_expect_eq(day.messages, 0u, "hour-bucket indexes are not day buckets");
    WindowUsage none = summarize({}, Window::hour, now, 1, 1);
    cr_expect(none.messages == 0 && none.next_drop == 0 && none.messages_free_at == 0);
}

Test(counter_store, counts_expire_and_survive_a_restart) {
    char tmpl[] = "/tmp/tegami-counters-test.XXXXXX";
    cr_assert(mkdtemp(tmpl));
    std::string path = std::string(tmpl) + "/limits.db";
    time_t t = 3600 * 1000;
    {
        BdbCounterStore s;
        cr_assert(s.open(path, t).ok());
        s.add("alice", 1, 3, t);
        s.add("alice", 1, 2, t + 10);
        s.add("uid:1000", 1, 1, t);
        s.flush();
        s.add("bob", 1, 1, t);  // never flushed: lost with the process, by design
        auto h = summarize(s.buckets("alice", Window::hour, t + 10), Window::hour, t + 10, 0, 0);
        cr_expect_eq(h.messages, 2u);
        cr_expect_eq(h.recipients, 5u);
        // Past the hour the hour forgets, the day does not.
        time_t later = t + 3600 + 300;
        cr_expect(s.buckets("alice", Window::hour, later).empty());
        auto d = summarize(s.buckets("alice", Window::day, later), Window::day, later, 0, 0);
        cr_expect_eq(d.recipients, 5u);
    }
    {
        BdbCounterStore s;  // as after a restart
        cr_assert(s.open(path, t + 20).ok());
        cr_expect_eq(s.size(), 2u, "alice and uid:1000, not the unflushed bob");
        auto h = summarize(s.buckets("alice", Window::hour, t + 20), Window::hour, t + 20, 0, 0);
        cr_expect_eq(h.messages, 2u);
        cr_expect_eq(h.recipients, 5u);
    }
    {
        BdbCounterStore s;  // two days later nothing is left to load
        cr_assert(s.open(path, t + 2 * 86400).ok());
        cr_expect_eq(s.size(), 0u);
    }
    BdbCounterStore bad;
    cr_expect_not(bad.open(std::string(tmpl) + "/no/such/dir/limits.db", t).ok());
    std::string cmd = std::string("rm -rf ") + tmpl;
    cr_expect_eq(std::system(cmd.c_str()), 0);
}
