// runner_test.cpp - the runner's bounded active set (queue/runner.cpp) on a real event loop
// with both real stores: messages routed to a local agent that is down stay in memory
// (waiting for a slot), so the set is seen at its limit while the rest wait in the store;
// room freed by a removal is refilled from the due index; deferred messages (an
// error:4xx mailertable route, answered by the runner itself) leave memory with their
// next try in the index; a run-now pass retries every stored message exactly once; hold
// and release work on messages that are only in the store; a new message that finds the
// set full is read back later, not lost; and a runner started on a store that holds both
// due retries and new mail (a restart under overload) knows the new mail as such: the
// retries are taken first and the new mail only into its share.
#include <criterion/criterion.h>
#include <event2/event.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "queue/committer.hpp"
#include "queue/runner.hpp"
#include "queue/store.hpp"
#include "tests/unit/queue/runner_fixture.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

constexpr size_t kMessages = 10;

std::string qid_of(size_t i) {
    std::string n = std::to_string(i);
    return std::string(16 - n.size(), '0') + n;
}

Envelope make_env(size_t i, const std::string& domain) {
    Envelope e;
    e.queue_id = qid_of(i);
    e.sender = "";  // no bounce to route anywhere
    e.protocol = "DSN2";
    e.arrival = static_cast<uint64_t>(std::time(nullptr));
    for (int r = 0; r < 2; ++r) {
        Recipient rc;
        rc.address = "u" + std::to_string(r) + "@" + domain;
        e.recipients.push_back(rc);
    }
    return e;
}

RunnerSettings settings() {
    RunnerSettings s;
    s.retry = RetryPolicy{3600, 3600, 5 * 86400};
    s.local_socket = "/nonexistent/tegami-test/local";  // down: local groups wait in memory
    s.hostname = "mx.test";
    s.routing.local_domains = {"local.test"};
    s.routing.mailertable = [](const std::string& key, std::string&) -> std::optional<std::string> {
        if (key == "defer.test") return std::string("error:4.4.1:451 try later");
        return std::nullopt;
    };
    s.active_limit = 3;
    s.active_recipient_limit = 100;
    return s;
}

struct Fixture : test::RunnerFixture {
    using RunnerFixture::RunnerFixture;
    void start(RunnerSettings s = settings()) {
        runner = std::make_unique<Runner>(base.get(), *store, *committer, std::move(s));
        cr_assert(runner->load().ok());
    }
    void put(size_t i, const std::string& domain) {
        std::string err;
        cr_assert_eq(store->put(make_env(i, domain), "Subject: t\r\n\r\nx\r\n", err), PutStatus::ok,
                     "%s", err.c_str());
    }
    // Runs the loop for a while (timers with zero delay fire as time passes).
    void run(int ms = 300) {
        timeval tv{0, ms * 1000};
        event_base_loopexit(base.get(), &tv);
        event_base_dispatch(base.get());
    }
    size_t stored() {
        size_t n = 0;
        cr_expect(store->scan([&](Envelope&&) { ++n; }, [](const Error&) {}).ok());
        return n;
    }
    Envelope load(size_t i) {
        auto e = store->load_envelope(qid_of(i));
        cr_assert(e.ok(), "%s", e.ok() ? "" : e.error().message.c_str());
        return std::move(e.value());
    }
};

void bounded_while_waiting(bool bdb) {
    Fixture f(bdb);
    for (size_t i = 0; i < kMessages; ++i)
        f.put(i, "local.test");
    f.start();
    f.run();
    cr_expect_eq(f.runner->messages(), 3u, "%s: %zu in memory", f.store->kind(),
                 f.runner->messages());
    cr_expect_eq(f.runner->recipients(), 6u);
    // A new message finds the set full: it stays in the store only (it is durable there).
    f.put(kMessages, "local.test");
    f.runner->add(make_env(kMessages, "local.test"));
    cr_expect_eq(f.runner->messages(), 3u, "%s: intake over the limit", f.store->kind());
    // Removing the three active ones (the earliest in the index: due 0, ID order) makes
    // room; the next three are read from the store.
    std::vector<std::string> busy;
    cr_expect_eq(f.runner->remove({qid_of(0), qid_of(1), qid_of(2)}, busy), 3u);
    cr_expect(busy.empty());
    f.run();
    cr_expect_eq(f.runner->messages(), 3u);
    cr_expect_eq(f.stored(), kMessages + 1 - 3);
    // Unknown IDs change nothing.
    cr_expect_eq(f.runner->remove({"0000000000000XYZ", qid_of(1)}, busy), 0u);
    cr_expect_eq(f.runner->hold({"0000000000000XYZ"}), 0u);
    cr_expect_eq(f.runner->release({"0000000000000XYZ"}), 0u);
    cr_expect_eq(f.runner->run_now({"0000000000000XYZ"}), 0u);
    // Hold a message that is only in the store: flagged there, out of the due index,
    // and not kept in memory.
    cr_expect_eq(f.runner->hold({qid_of(kMessages)}), 1u);
    cr_expect(f.load(kMessages).flags & kEnvelopeHeld);
    cr_expect_eq(f.runner->messages(), 3u);
    uint64_t next = 0;
    bool seen = false;
    cr_expect(f.store
                  ->scan_due(
                      UINT64_MAX - 1,
                      [&](std::string_view q, uint64_t) {
                          seen = seen || q == qid_of(kMessages);
                          return true;
                      },
                      next)
                  .ok());
    cr_expect(!seen, "a held message is not in the due index");
    // Released: due now, taken into memory (an administrator's request may exceed the
    // limit) and waiting for the agent like the others.
    cr_expect_eq(f.runner->release({qid_of(kMessages)}), 1u);
    cr_expect(!(f.load(kMessages).flags & kEnvelopeHeld));
    f.run();
    cr_expect_eq(f.runner->messages(), 4u);
    // The listing covers every stored message, active or not.
    size_t listed = 0;
    f.runner->for_each([&](const Envelope&, bool, uint64_t size) {
        ++listed;
        cr_expect_eq(size, 17u);
    });
    cr_expect_eq(listed, kMessages + 1 - 3);
}

void deferred_leave_memory(bool bdb) {
    Fixture f(bdb);
    for (size_t i = 0; i < kMessages; ++i)
        f.put(i, "defer.test");
    uint64_t t0 = static_cast<uint64_t>(std::time(nullptr));
    f.start();
    f.run();
    cr_expect_eq(f.runner->messages(), 0u, "%s: deferred messages left memory", f.store->kind());
    cr_expect_eq(f.runner->recipients(), 0u);
    for (size_t i = 0; i < kMessages; ++i) {
        Envelope e = f.load(i);
        for (const auto& r : e.recipients) {
            cr_expect_eq(r.state, RcptState::deferred);
            cr_expect_eq(r.attempts, 1u, "%s: %s attempts %u", f.store->kind(), e.queue_id.c_str(),
                         r.attempts);
            cr_expect_geq(r.next_try, t0 + 3600);
        }
    }
    uint64_t next = 0;
    size_t due = 0;
    cr_expect(f.store
                  ->scan_due(
                      t0 + 60,
                      [&](std::string_view, uint64_t) {
                          ++due;
                          return true;
                      },
                      next)
                  .ok());
    cr_expect_eq(due, 0u);
    cr_expect_geq(next, t0 + 3600);
    // Run now (every message): each stored message is read, tried once more and written
    // back, in rounds of the active limit.
    f.runner->run_now({});
    for (int i = 0; i < 10; ++i)
        f.run(100);
    cr_expect_eq(f.runner->messages(), 0u);
    for (size_t i = 0; i < kMessages; ++i)
        for (const auto& r : f.load(i).recipients)
            cr_expect_eq(r.attempts, 2u, "%s: %s attempts %u after run-now", f.store->kind(),
                         qid_of(i).c_str(), r.attempts);
    // Run now for one stored message: tried once more.
    cr_expect_eq(f.runner->run_now({qid_of(4)}), 1u);
    f.run();
    cr_expect_eq(f.load(4).recipients[0].attempts, 3u);
    cr_expect_eq(f.load(5).recipients[0].attempts, 2u);
}

// A restart under overload: 4 messages never tried (due at 0) and 2 due retries. With
// room for 4, the retries are read first and then 2 of the new ones, counted as new mail.
void restart_knows_new_mail(bool bdb) {
    Fixture f(bdb);
    for (size_t i = 0; i < 4; ++i)
        f.put(i, "local.test");
    uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    for (size_t i = 4; i < 6; ++i) {
        Envelope e = make_env(i, "local.test");
        for (auto& r : e.recipients) {
            r.state = RcptState::deferred;
            r.attempts = 1;
            r.next_try = now - 10;
        }
        std::string err;
        cr_assert_eq(f.store->put(e, "Subject: t\r\n\r\nx\r\n", err), PutStatus::ok, "%s",
                     err.c_str());
    }
    RunnerSettings s = settings();
    s.active_limit = 4;
    f.start(s);
    f.run();
    cr_expect_eq(f.runner->messages(), 4u, "%s: %zu in memory", f.store->kind(),
                 f.runner->messages());
    cr_expect(f.runner->active(qid_of(4)) && f.runner->active(qid_of(5)),
              "%s: the due retries were not taken first", f.store->kind());
    cr_expect_eq(f.runner->fresh(), 2u, "%s: %zu counted as new mail", f.store->kind(),
                 f.runner->fresh());
}

// The recipient limit bounds the set too; one message bigger than it still goes when the
// set is empty.
void recipient_limit(bool bdb) {
    Fixture f(bdb);
    for (size_t i = 0; i < 4; ++i)
        f.put(i, "local.test");
    RunnerSettings s = settings();
    s.active_limit = 100;
    s.active_recipient_limit = 5;  // two messages of two recipients
    f.start(s);
    f.run();
    cr_expect_eq(f.runner->messages(), 2u, "%s: %zu", f.store->kind(), f.runner->messages());
    cr_expect_eq(f.runner->recipients(), 4u);

    Fixture g(bdb);
    g.put(0, "local.test");
    s.active_recipient_limit = 1;
    g.start(s);
    g.run();
    cr_expect_eq(g.runner->messages(), 1u, "%s: a message over the limit alone", g.store->kind());
}

}  // namespace

Test(runner, memory_active_set_is_bounded) {
    bounded_while_waiting(false);
}
Test(runner, bdb_active_set_is_bounded) {
    bounded_while_waiting(true);
}
Test(runner, memory_deferred_messages_leave_memory) {
    deferred_leave_memory(false);
}
Test(runner, bdb_deferred_messages_leave_memory) {
    deferred_leave_memory(true);
}
Test(runner, memory_recipient_limit) {
    recipient_limit(false);
}
Test(runner, bdb_recipient_limit) {
    recipient_limit(true);
}

// delays=: Postfix's rounding, bad values (negative, NaN) as 0.
Test(runner, memory_restart_knows_new_mail) {
    restart_knows_new_mail(false);
}
Test(runner, bdb_restart_knows_new_mail) {
    restart_knows_new_mail(true);
}

Test(runner, format_delays_table) {
    struct Case {
        double a, b, c, d;
        const char* want;
    };
    const Case cases[] = {
        {-1, -0.5, 0.0 / 0.0, 0.004, "0/0/0/0"},
        {0, 0, 0, 0, "0/0/0/0"},
        {0.011, 0.25, 1.5, 9.94, "0.011/0.25/1.5/9.9"},
        {12.4, 2940.6, 0.05, 100000, "12/2941/0.05/100000"},
    };
    for (const auto& c : cases)
        cr_expect_eq(format_delays(c.a, c.b, c.c, c.d), std::string(c.want), "%s: %s", c.want,
                     format_delays(c.a, c.b, c.c, c.d).c_str());
}
