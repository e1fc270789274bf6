// committer.hpp - group commit for the queue store. The event loop commits each message
// as its own DB_TXN_NOSYNC transaction and hands the committer a completion; one flusher
// thread makes them durable with one store flush (one fsync of the log) per batch.
//
// Latency rule: a flush starts at once when none is running, so a lone message never
// waits for company; commits that arrive while a flush runs wait for the next flush and
// share it. Completions run on the loop thread (signalled through an eventfd), and each
// reports whether the flush that covered its commit succeeded.
//
// The flusher thread touches only store.flush() and store.checkpoint(); a second thread,
// the reclaimer, runs store.reclaim() after each flush's completions are signalled (and
// once more at shutdown). Everything else, including every completion, runs on the loop
// thread.
#pragma once

#include <event2/event.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

class Committer {
  public:
    // ok: the commit is on stable storage; otherwise err says why not.
    using Done = std::function<void(bool ok, const std::string& err)>;

    Committer(event_base* base, QueueStore& store);
    Committer(const Committer&) = delete;
    Committer& operator=(const Committer&) = delete;
    ~Committer();

    Result<void> start();
    // Call right after a commit: done runs once a flush that began after this call ended.
    void after_commit(Done done);
    // A commit nobody waits for (state changes): flushed with the next batch.
    void note_commit();
    // A checkpoint runs in the flusher thread between flushes.
    void request_checkpoint();
    // Nothing waiting and no flush running.
    bool idle() const { return !running_ && waiting_.empty() && !dirty_; }
    // Called on the loop thread whenever the committer becomes idle.
    void set_on_idle(std::function<void()> f) { on_idle_ = std::move(f); }
    // Finishes the running flush (completions are not run) and joins the thread.
    void shutdown();
    uint64_t flushes() const { return flushes_; }

  private:
    static void on_wake_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_flushed();
    void kick();
    void thread_main();
    void reclaimer_main();

    event_base* base_;
    QueueStore& store_;
    UniqueFd wake_fd_;  // eventfd: the thread -> the loop
    EventPtr wake_ev_;
    std::thread thread_;
    std::thread reclaimer_;

    // loop thread only
    std::vector<Done> waiting_;  // committed, waiting for the next flush
    std::vector<Done> batch_;    // covered by the running flush
    bool running_ = false;
    bool dirty_ = false;  // a commit nobody waits for is not yet flushed
    uint64_t flushes_ = 0;
    std::function<void()> on_idle_;

    // shared with the thread, under mu_
    std::mutex mu_;
    std::condition_variable cv_;
    bool flush_requested_ = false;
    bool checkpoint_requested_ = false;
    bool quit_ = false;
    bool flush_ok_ = true;
    std::string flush_err_;

    // shared with the reclaimer, under reclaim_mu_
    std::mutex reclaim_mu_;
    std::condition_variable reclaim_cv_;
    bool reclaim_requested_ = false;
    bool reclaim_quit_ = false;
};

}  // namespace tegami::queue
