// runner_fixture.hpp - what the runner's unit tests share: a real store (Berkeley DB in a
// fresh temporary directory, or the memory store), a real event loop and a started
// committer, with the runner each test builds. Torn down in the order the daemon uses:
// runner, committer, store, then the directory. FakeAgent: a stand-in delivery agent on a
// real Unix socket of the same loop, for the tests that need answers.
#pragma once

#include <criterion/criterion.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
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

    // wrap, when given, puts a store of the test's around the real one.
    using Wrap = std::function<std::unique_ptr<QueueStore>(std::unique_ptr<QueueStore>)>;
    explicit RunnerFixture(bool bdb, const Wrap& wrap = nullptr) {
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
        if (wrap) store = wrap(std::move(store));
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

// Listens on path (removed again when destroyed), takes the runner's connection and hands
// each well-formed DeliverMsg to on_deliver, which answers on chan.
struct FakeAgent {
    std::string path;
    UniqueFd listener;
    EventPtr accept_ev;
    std::unique_ptr<ipc::Channel> chan;
    std::function<void(const ipc::DeliverMsg&)> on_deliver;

    void listen(event_base* base, const std::string& p) {
        path = p;
        ::unlink(path.c_str());
        auto l = listen_unix(path);
        cr_assert(l.ok(), "%s", l.ok() ? "" : l.error().message.c_str());
        listener = std::move(l.value());
        accept_ev.reset(
            event_new(base, listener.get(), EV_READ | EV_PERSIST, &FakeAgent::on_accept, this));
        event_add(accept_ev.get(), nullptr);
    }
    FakeAgent() = default;
    FakeAgent(const FakeAgent&) = delete;
    FakeAgent& operator=(const FakeAgent&) = delete;
    ~FakeAgent() {
        chan.reset();
        if (!path.empty()) ::unlink(path.c_str());
    }

    static void on_accept(evutil_socket_t fd, short, void* arg) noexcept {
        auto* self = static_cast<FakeAgent*>(arg);
        int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        self->chan = std::make_unique<ipc::Channel>(
            event_get_base(self->accept_ev.get()), UniqueFd(c),
            [self](ipc::MsgType t, std::string_view payload, std::vector<UniqueFd>&) {
                ipc::DeliverMsg m;
                if (t == ipc::MsgType::deliver && ipc::decode(payload, m) && self->on_deliver)
                    self->on_deliver(m);
            },
            [](const std::string&) {});
    }
};

}  // namespace tegami::queue::test
