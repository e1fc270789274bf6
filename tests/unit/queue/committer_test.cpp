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

using namespace tegami;
using namespace tegami::queue;

namespace {

// The memory store with a flush that takes a while and can be made to fail.
class SlowStore final : public QueueStore {
  public:
    PutStatus put(const Envelope& e, std::string_view b, std::string& err) override {
        return inner_->put(e, b, err);
    }
    Result<void> flush() override {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        ++flushes;
        if (fail) return make_error(Exit::io_err, "disk on fire");
        return {};
    }
    Result<Envelope> load_envelope(std::string_view q) override { return inner_->load_envelope(q); }
    Result<std::string> load_body(std::string_view q) override { return inner_->load_body(q); }
    Result<void> update(const Envelope& e) override { return inner_->update(e); }
    Result<void> remove(std::string_view q) override { return inner_->remove(q); }
    PutStatus remove_and_put(std::string_view q, const Envelope& e, std::string_view b,
                             std::string& err) override {
        return inner_->remove_and_put(q, e, b, err);
    }
    PutStatus update_and_put(const Envelope& e, const Envelope& n, std::string_view b,
                             std::string& err) override {
        return inner_->update_and_put(e, n, b, err);
    }
    Result<void> scan(const std::function<void(Envelope&&)>& each,
                      const std::function<void(const Error&)>& bad) override {
        return inner_->scan(each, bad);
    }
    Result<void> scan_due(uint64_t until,
                          const std::function<bool(std::string_view, uint64_t)>& each,
                          uint64_t& next) override {
        return inner_->scan_due(until, each, next);
    }
    Result<void> scan_after(std::string_view after, const std::function<bool(Envelope&&)>& each,
                            const std::function<void(const Error&)>& bad) override {
        return inner_->scan_after(after, each, bad);
    }
    Result<uint64_t> body_size(std::string_view q) override { return inner_->body_size(q); }
    Result<void> checkpoint() override { return {}; }
    Result<void> close() override { return {}; }
    const char* kind() const override { return "slow"; }

    std::atomic<int> flushes{0};
    std::atomic<bool> fail{false};

  private:
    std::unique_ptr<QueueStore> inner_ = make_memory_store();
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
