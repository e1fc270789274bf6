// sync_pool.cpp - see sync_pool.hpp.
#include "queue/sync_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace tegami::queue {

SyncPool::~SyncPool() {
    {
        std::lock_guard lock(mu_);
        quit_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_)
        t.join();
}

void SyncPool::start(const std::vector<UniqueFd>& files, std::vector<int>& errs) {
    std::unique_lock lock(mu_);
    files_ = &files;
    errs_ = &errs;
    next_ = 0;
    remaining_ = files.size();
    // The caller syncs too (in wait()), so one file needs no worker.
    size_t want = files.size() > 1 ? std::min(files.size(), max_threads_) : 0;
    while (threads_.size() < want) {
        try {
            threads_.emplace_back([this] { worker(); });
        } catch (const std::system_error&) {
            break;  // the workers there are, and the caller, do it
        }
    }
    lock.unlock();
    if (want > 0) work_cv_.notify_all();
}

bool SyncPool::sync_next(std::unique_lock<std::mutex>& lock) {
    if (files_ == nullptr || next_ >= files_->size()) return false;
    size_t i = next_++;
    int fd = (*files_)[i].get();
    lock.unlock();
    int err = ::fdatasync(fd) == 0 ? 0 : errno;
    lock.lock();
    (*errs_)[i] = err;
    if (--remaining_ == 0) done_cv_.notify_all();
    return true;
}

void SyncPool::wait() {
    std::unique_lock lock(mu_);
    while (sync_next(lock)) {
    }
    done_cv_.wait(lock, [this] { return remaining_ == 0; });
    files_ = nullptr;
    errs_ = nullptr;
}

size_t SyncPool::threads() const {
    std::lock_guard lock(mu_);
    return threads_.size();
}

void SyncPool::worker() {
    std::unique_lock lock(mu_);
    for (;;) {
        work_cv_.wait(lock, [this] { return quit_ || (files_ && next_ < files_->size()); });
        if (quit_) return;
        while (sync_next(lock)) {
        }
    }
}

}  // namespace tegami::queue
