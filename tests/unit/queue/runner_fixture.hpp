// runner_fixture.hpp - what the runner's unit tests share: a real store (Berkeley DB in a
// fresh temporary directory, or the memory store), a real event loop and a started
// committer, with the runner each test builds. Torn down in the order the daemon uses:
// runner, committer, store, then the directory.
#pragma once

#include <criterion/criterion.h>
#include <event2/event.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "lib/core/c_ptr.hpp"
#include "queue/committer.hpp"
#include "queue/runner.hpp"
#include "queue/store.hpp"

namespace tegami::queue::test {

struct RunnerFixture {
    std::string dir;
    std::unique_ptr<QueueStore> store;
    EventBasePtr base{event_base_new()};
    std::unique_ptr<Committer> committer;
    std::unique_ptr<Runner> runner;

    explicit RunnerFixture(bool bdb) {
        if (bdb) {
            char tmpl[] = "/tmp/tegami-runner-test.XXXXXX";
            cr_assert(mkdtemp(tmpl) != nullptr);
            dir = tmpl;
            auto s = open_bdb_store(dir, 1024 * 1024);
            cr_assert(s.ok(), "%s", s.ok() ? "" : s.error().message.c_str());
            store = std::move(s.value());
        } else {
            store = make_memory_store();
        }
        committer = std::make_unique<Committer>(base.get(), *store);
        cr_assert(committer->start().ok());
    }
    RunnerFixture(const RunnerFixture&) = delete;
    RunnerFixture& operator=(const RunnerFixture&) = delete;
    ~RunnerFixture() {
        runner.reset();
        committer->shutdown();
        (void)store->close();
        if (!dir.empty()) std::filesystem::remove_all(dir);
    }
};

}  // namespace tegami::queue::test
