// sync_pool.hpp - the threads that fdatasync a group flush's body files side by side.
// They are started once, when a flush first has more than one file, and kept, so that a
// flush costs no thread creation (a flush every millisecond or two at the 100 KiB rate).
//
// One flush at a time: start() hands the pool the files and returns; the caller does its
// own share of the flush meanwhile (the directory fsync and the log flush), then wait()
// syncs whatever no worker has taken yet on the caller's thread and returns once every
// file is done. So a pool whose threads could not be made still syncs everything.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/core/unique_fd.hpp"

namespace tegami::queue {

class SyncPool {
  public:
    explicit SyncPool(size_t max_threads) : max_threads_(max_threads) {}
    SyncPool(const SyncPool&) = delete;
    SyncPool& operator=(const SyncPool&) = delete;
    ~SyncPool();

    // Begins fdatasync of every file; errs[i] becomes its errno (0: synced). files and errs
    // must stay alive and unchanged until wait() returns.
    void start(const std::vector<UniqueFd>& files, std::vector<int>& errs);
    // Returns once every file of the last start() is done.
    void wait();
    size_t threads() const;

  private:
    void worker();
    // Takes the next file and syncs it, with mu_ held on entry and on return; false when
    // every file is taken.
    bool sync_next(std::unique_lock<std::mutex>& lock);

    const size_t max_threads_;
    mutable std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable done_cv_;
    std::vector<std::thread> threads_;
    const std::vector<UniqueFd>* files_ = nullptr;
    std::vector<int>* errs_ = nullptr;
    size_t next_ = 0;       // the next file to take
    size_t remaining_ = 0;  // taken or not, not yet done
    bool quit_ = false;
};

}  // namespace tegami::queue
