// control.hpp - the queue's control service on queue_control_socket: sendmail's mailq
// (list), -q (run now), -Q (hold / release) and --delete talk to it in ControlRequestMsg
// frames (lib/ipc/messages.hpp), one request per connection.
//
// Called by the queue daemon (queue_daemon.cpp) on its loop. Trusts the kernel for who
// the caller is (SO_PEERCRED at accept), nothing else: a malformed frame closes the
// connection. Privacy (doc/sendmail.8): root and the suite's own user see and change
// everything; any other user may only list, and sees in full only the messages whose
// envelope sender is their own login at a local domain; the others show as
// "(permission denied)", as Debian's sendmail shows MTA-queue entries to users.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/runner.hpp"

namespace tegami::queue {

class ControlServer {
  public:
    using ConfigFn = std::function<std::shared_ptr<const Config>()>;
    ControlServer(event_base* base, Runner& runner, ConfigFn config);
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    ~ControlServer();

    Result<void> listen(UniqueFd fd);
    void stop();

  private:
    struct Session {
        long uid = -1;
        std::unique_ptr<ipc::Channel> channel;
    };
    static void on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int,
                             void* arg) noexcept;
    static void on_reap_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload);
    std::string handle(const ipc::ControlRequestMsg& req, long uid);
    ipc::ControlListMsg listing(long uid, bool admin);
    void drop(uint64_t sid);

    event_base* base_;
    Runner& runner_;
    ConfigFn config_;
    EvconnlistenerPtr listener_;
    std::unordered_map<uint64_t, Session> sessions_;
    std::vector<std::unique_ptr<ipc::Channel>> dead_;
    EventPtr reap_ev_;
    uint64_t next_sid_ = 1;
    std::unordered_map<std::string, std::string> hold_reasons_;
};

// Whether uid may change the queue: root or the queue's own user.
bool control_admin(long uid);

}  // namespace tegami::queue
