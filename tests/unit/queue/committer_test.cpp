// committer_test.cpp - group commit (queue/committer.cpp) on a real event loop with a
// store whose flush is slow (like an fsync) or fails: a lone commit is flushed at once,
// commits arriving during a flush share the next one, a failed flush is reported to
// every commit it covered and never as success.
#include <criterion/criterion.h>
#include <event2/event.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "queue/committer.hpp"
#include "tests/unit/queue/forwarding_store.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

// The memory store with a flush that takes a while and can be made to fail.
class SlowStore final : public test::ForwardingStore {
  public:
    SlowStore() : ForwardingStore(make_memory_store()) {}
    Result<void> flush() override {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        ++flushes;
        if (fail) return make_error(Exit::io_err, "disk on fire");
        return {};
    }
    Result<void> checkpoint() override { return {}; }
    Result<void> close() override { return {}; }
    const char* kind() const override { return "slow"; }

    std::atomic<int> flushes{0};
    std::atomic<bool> fail{false};
};

struct Tally {
    int ok = 0;
    int failed = 0;
};

void run_until(event_base* base, const Tally& t, int total) {
    for (int i = 0; i < 500 && t.ok + t.failed < total; ++i)
        event_base_loop(base, EVLOOP_ONCE);
}

}  // namespace

Test(committer, failed_flush_is_never_success) {
    EventBasePtr base(event_base_new());
    SlowStore store;
    store.fail = true;
    Committer c(base.get(), store);
    cr_assert(c.start().ok());
    Tally t;
    for (int i = 0; i < 3; ++i)
        c.after_commit([&](bool ok, const std::string&) { ++(ok ? t.ok : t.failed); });
    run_until(base.get(), t, 3);
    cr_expect_eq(t.ok, 0);
    cr_expect_eq(t.failed, 3);
    c.shutdown();
}

Test(committer, lone_commit_flushes_at_once) {
    EventBasePtr base(event_base_new());
    SlowStore store;
    Committer c(base.get(), store);
    cr_assert(c.start().ok());
    Tally t;
    auto t0 = std::chrono::steady_clock::now();
    c.after_commit([&](bool ok, const std::string&) { ++(ok ? t.ok : t.failed); });
    run_until(base.get(), t, 1);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    cr_expect_eq(t.ok, 1);
    cr_expect_eq(store.flushes.load(), 1);
    cr_expect_lt(ms, 200, "a lone commit waited %lld ms", static_cast<long long>(ms));
    cr_expect(c.idle());
}

Test(committer, commits_during_a_flush_share_the_next) {
    EventBasePtr base(event_base_new());
    SlowStore store;
    Committer c(base.get(), store);
    cr_assert(c.start().ok());
    Tally t;
    auto done = [&](bool ok, const std::string&) { ++(ok ? t.ok : t.failed); };
    c.after_commit(done);  // starts flush 1 at once
    for (int i = 0; i < 9; ++i)
        c.after_commit(done);  // wait for flush 2, together
    c.note_commit();
    run_until(base.get(), t, 10);
    cr_expect_eq(t.ok, 10);
    cr_expect_eq(store.flushes.load(), 2);
    cr_expect_eq(c.flushes(), 2u);
    cr_expect(c.idle());
}

namespace {

// A store whose reclaim() blocks until the test lets it go, counting its calls.
class BlockingReclaimStore final : public test::ForwardingStore {
  public:
    BlockingReclaimStore() : ForwardingStore(make_memory_store()) {}
    Result<void> flush() override {
        ++flushes;
        return {};
    }
    void reclaim() override {
        if (running.exchange(true)) overlapped = true;
        while (!released.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++reclaims;
        running = false;
    }
    Result<void> checkpoint() override { return {}; }
    Result<void> close() override { return {}; }
    const char* kind() const override { return "blocking-reclaim"; }

    std::atomic<int> flushes{0};
    std::atomic<int> reclaims{0};
    std::atomic<bool> released{false};
    std::atomic<bool> running{false};
    std::atomic<bool> overlapped{false};
};

// Runs the loop without blocking until total completions came, for at most about 5 s.
void poll_until(event_base* base, const Tally& t, int total) {
    for (int i = 0; i < 5000 && t.ok + t.failed < total; ++i) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace

// Unlinking the files a flush made removable is slow on some file systems; it must not
// hold up the next flush, and what the last flush made removable is still reclaimed.
Test(committer, a_slow_reclaim_does_not_hold_up_the_next_flush) {
    EventBasePtr base(event_base_new());
    BlockingReclaimStore store;
    Committer c(base.get(), store);
    cr_assert(c.start().ok());
    Tally t;
    auto done = [&](bool ok, const std::string&) { ++(ok ? t.ok : t.failed); };
    c.after_commit(done);
    poll_until(base.get(), t, 1);  // flush 1 done; its reclaim now blocks
    c.after_commit(done);
    poll_until(base.get(), t, 2);  // flush 2 must finish beside the blocked reclaim
    int ok_while_blocked = t.ok;
    int reclaims_while_blocked = store.reclaims.load();
    store.released = true;
    c.shutdown();
    cr_expect_eq(ok_while_blocked, 2, "the second flush waited for the reclaim");
    cr_expect_eq(reclaims_while_blocked, 0);
    cr_expect_eq(store.flushes.load(), 2);
    cr_expect_geq(store.reclaims.load(), 2, "shutdown reclaims what the last flush freed");
    cr_expect(!store.overlapped.load(), "two reclaims ran at once");
}
