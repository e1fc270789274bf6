// committer.cpp - see committer.hpp. Invariant: a completion in batch_ was committed
// before the flush covering it began (it was moved from waiting_ to batch_ before the
// thread was woken), so "flush succeeded" implies "this commit is durable".
#include "queue/committer.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>

#include "lib/core/log.hpp"

namespace tegami::queue {

Committer::Committer(event_base* base, QueueStore& store) : base_(base), store_(store) {}

Committer::~Committer() {
    shutdown();
}

Result<void> Committer::start() {
    wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_fd_) return sys_error("eventfd", errno);
    wake_ev_.reset(event_new(base_, wake_fd_.get(), EV_READ | EV_PERSIST, on_wake_cb, this));
    if (!wake_ev_ || event_add(wake_ev_.get(), nullptr) != 0)
        return make_error(Exit::os_err, "committer: event_add failed");
    thread_ = std::thread([this] { thread_main(); });
    reclaimer_ = std::thread([this] { reclaimer_main(); });
    return {};
}

void Committer::shutdown() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mu_);
            quit_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    if (reclaimer_.joinable()) {
        {
            std::lock_guard lock(reclaim_mu_);
            reclaim_quit_ = true;
        }
        reclaim_cv_.notify_one();
        reclaimer_.join();  // after a last reclaim of what the last flush made removable
    }
    wake_ev_.reset();
    wake_fd_.reset();
}

void Committer::after_commit(Done done) {
    waiting_.push_back(std::move(done));
    kick();
}

void Committer::note_commit() {
    dirty_ = true;
    kick();
}

void Committer::request_checkpoint() {
    {
        std::lock_guard lock(mu_);
        checkpoint_requested_ = true;
    }
    cv_.notify_one();
}

// Starts a flush when none runs and something waits for one.
void Committer::kick() {
    if (running_ || (waiting_.empty() && !dirty_) || !thread_.joinable()) return;
    batch_.swap(waiting_);
    dirty_ = false;
    running_ = true;
    {
        std::lock_guard lock(mu_);
        flush_requested_ = true;
    }
    cv_.notify_one();
}

void Committer::on_wake_cb(evutil_socket_t fd, short, void* arg) noexcept {
    uint64_t n = 0;
    while (::read(fd, &n, sizeof n) < 0 && errno == EINTR) {
    }
    try {
        static_cast<Committer*>(arg)->on_flushed();
    } catch (const std::exception& e) {
        log_error("committer: %s", e.what());
    }
}

void Committer::on_flushed() {
    bool ok;
    std::string err;
    {
        std::lock_guard lock(mu_);
        ok = flush_ok_;
        err = flush_err_;
    }
    ++flushes_;
    std::vector<Done> done;
    done.swap(batch_);
    running_ = false;
    kick();  // the next batch starts flushing while this one's replies go out
    for (auto& d : done)
        d(ok, err);
    if (idle() && on_idle_) on_idle_();
}

void Committer::thread_main() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [this] { return quit_ || flush_requested_ || checkpoint_requested_; });
        if (checkpoint_requested_) {
            checkpoint_requested_ = false;
            lock.unlock();
            auto r = store_.checkpoint();
            if (!r) log_error("queue checkpoint: %s", r.error().message.c_str());
            lock.lock();
        }
        if (flush_requested_) {
            flush_requested_ = false;
            lock.unlock();
            auto r = store_.flush();
            lock.lock();
            flush_ok_ = r.ok();
            flush_err_ = r.ok() ? std::string() : r.error().message;
            uint64_t one = 1;
            if (::write(wake_fd_.get(), &one, sizeof one) < 0)
                log_error("committer: eventfd write failed");
            lock.unlock();
            {
                std::lock_guard rl(reclaim_mu_);
                reclaim_requested_ = true;
            }
            reclaim_cv_.notify_one();
            lock.lock();
        } else if (quit_) {
            return;
        }
    }
}

// Unlinks the files each flush made removable, on a thread of its own: an unlink of a
// body file costs about as much as a flush of several, and the flusher must be free to
// start the next flush as soon as the loop asks for it. Then the store's upkeep
// (maintain(): the next log file written ahead), which must not delay a flush either.
void Committer::reclaimer_main() {
    std::unique_lock lock(reclaim_mu_);
    for (;;) {
        reclaim_cv_.wait(lock, [this] { return reclaim_quit_ || reclaim_requested_; });
        bool quit = reclaim_quit_;
        reclaim_requested_ = false;
        lock.unlock();
        store_.reclaim();
        if (!quit) store_.maintain();
        lock.lock();
        if (quit) return;
    }
}

}  // namespace tegami::queue
