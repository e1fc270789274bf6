// sync_pool_test.cpp - the kept fdatasync threads of the group flush (queue/sync_pool.cpp):
// every file of a flush is synced and its result reported in its own slot, a file that
// cannot be synced fails alone, flushes reuse the threads instead of making new ones,
// and a pool without threads still syncs everything on the caller's thread.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "queue/sync_pool.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/tegami-syncpool.XXXXXX";
        char* p = ::mkdtemp(tmpl);
        cr_assert(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::string cmd = "rm -rf '" + path + "'";
        (void)::system(cmd.c_str());
    }
};

std::vector<UniqueFd> written_files(const TempDir& d, int n) {
    std::vector<UniqueFd> files;
    for (int i = 0; i < n; ++i) {
        std::string p = d.path + "/f" + std::to_string(i);
        UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        cr_assert(fd.get() >= 0);
        std::string data(4096 + static_cast<size_t>(i), 'x');
        cr_assert_eq(::write(fd.get(), data.data(), data.size()),
                     static_cast<ssize_t>(data.size()));
        files.push_back(std::move(fd));
    }
    return files;
}

}  // namespace

Test(sync_pool, every_file_is_synced_in_its_own_slot) {
    SyncPool pool(8);
    for (int n : {0, 1, 2, 7, 8, 9, 30}) {
        TempDir round;
        std::vector<UniqueFd> files = written_files(round, n);
        std::vector<int> errs(files.size(), -1);
        pool.start(files, errs);
        pool.wait();
        for (int i = 0; i < n; ++i)
            cr_expect_eq(errs[static_cast<size_t>(i)], 0, "%d files: file %d: errno %d", n, i,
                         errs[static_cast<size_t>(i)]);
        cr_expect_leq(pool.threads(), 8u);
    }
}

Test(sync_pool, a_file_that_cannot_be_synced_fails_alone) {
    TempDir d;
    std::vector<UniqueFd> files = written_files(d, 5);
    // A pipe is not a file: fdatasync refuses it with EINVAL.
    int p[2];
    cr_assert_eq(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd write_end(p[1]);
    files[2] = UniqueFd(p[0]);
    std::vector<int> errs(files.size(), -1);
    SyncPool pool(4);
    pool.start(files, errs);
    pool.wait();
    for (size_t i = 0; i < files.size(); ++i) {
        if (i == 2)
            cr_expect_eq(errs[i], EINVAL, "the pipe gave errno %d", errs[i]);
        else
            cr_expect_eq(errs[i], 0, "file %zu: errno %d", i, errs[i]);
    }
}

Test(sync_pool, flushes_reuse_the_threads) {
    TempDir d;
    std::vector<UniqueFd> files = written_files(d, 6);
    SyncPool pool(3);
    cr_expect_eq(pool.threads(), 0u, "no thread before the first flush");
    for (int round = 0; round < 50; ++round) {
        std::vector<int> errs(files.size(), -1);
        pool.start(files, errs);
        pool.wait();
        for (int e : errs)
            cr_assert_eq(e, 0);
        cr_assert_eq(pool.threads(), 3u, "round %d: %zu threads", round, pool.threads());
    }
    // A flush of one file needs no worker: the caller syncs it.
    SyncPool lone(3);
    TempDir d2;
    std::vector<UniqueFd> one = written_files(d2, 1);
    std::vector<int> errs(1, -1);
    lone.start(one, errs);
    lone.wait();
    cr_expect_eq(errs[0], 0);
    cr_expect_eq(lone.threads(), 0u);
}

Test(sync_pool, a_pool_without_threads_syncs_on_the_caller) {
    TempDir d;
    std::vector<UniqueFd> files = written_files(d, 10);
    SyncPool pool(0);
    std::vector<int> errs(files.size(), -1);
    pool.start(files, errs);
    pool.wait();
    for (int e : errs)
        cr_expect_eq(e, 0);
    cr_expect_eq(pool.threads(), 0u);
}
