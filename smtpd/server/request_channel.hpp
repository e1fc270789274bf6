// request_channel.hpp - what smtpd's clients of its helper daemons (queue_client.hpp,
// auth_client.hpp) have in common: one shared Unix-socket channel to a daemon
// (RequestChannel: connect on demand, SO_PEERCRED check, reconnect backoff, close) and
// the table of requests waiting for an answer (PendingRequests<Waiter>: pending by request
// id, cancel, failure of everything pending when the channel goes).
//
// Trusts the peer only when SO_PEERCRED names the daemon's account (lib/daemon
// daemon_uid). Invariants:
//  - nothing is answered from inside a call that sends: failures are queued and answered
//    from a zero-delay timer (RequestChannel::fail_soon), so a session never re-enters
//    itself;
//  - a closed channel is kept until that timer has run (close may be called from inside
//    the channel's own callbacks);
//  - after a failed connect the next one waits 100 ms, doubling to 5 s; an answer from
//    the peer resets the wait;
//  - a cancelled request is never answered, even when its failure is already queued.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/wire.hpp"

namespace tegami::smtpd {

class RequestChannel {
  public:
    using ConfigSource = std::function<std::shared_ptr<const Config>()>;
    struct Peer {
        const char* daemon;  // daemon_uid() name: "queue", "auth"
        const char* title;   // in log lines: "the queue", "tegami-auth"
        std::string (*socket_path)(const Config&);
        bool sends_fds = false;  // frames may carry descriptors (else they close the channel)
    };
    // A frame from the peer, with the descriptors it carried (only when Peer::sends_fds;
    // the handler takes those it wants, the rest are closed).
    using FrameHandler =
        std::function<void(ipc::MsgType, std::string_view, std::vector<UniqueFd>& fds)>;
    // The channel has closed (or was closed): move what waits into the failed lists;
    // returns how many requests that failed (for the log line).
    using CloseHandler = std::function<size_t()>;
    // The zero-delay timer: answer what failed.
    using FailHandler = std::function<void()>;

    RequestChannel(event_base* base, ConfigSource config, Peer peer, FrameHandler on_frame,
                   CloseHandler on_close, FailHandler on_fail);
    ~RequestChannel();
    RequestChannel(const RequestChannel&) = delete;
    RequestChannel& operator=(const RequestChannel&) = delete;

    // Connected (connecting now if the backoff allows), or false.
    bool ensure();
    bool open() const { return channel_ && channel_->open(); }
    // Counts connections made: a stream bound to one can tell that it is gone.
    uint64_t generation() const { return generation_; }
    // Only when open(); a failure lands in close() through the channel, answered later.
    void send(std::string frame) { channel_->send(std::move(frame)); }
    // Drops the channel, calls the close handler, logs why (with the number of requests
    // that failed) and arms the timer. Nothing when no channel is open.
    void close(const std::string& why);
    // A well-formed answer came: the next reconnect is tried without waiting.
    void answered() { backoff_ = kBackoffMin; }
    // Arms the zero-delay timer that calls the fail handler.
    void fail_soon();
    uint64_t next_id() { return next_id_++; }

    static constexpr std::chrono::milliseconds kBackoffMin{100};
    static constexpr std::chrono::milliseconds kBackoffMax{5000};

  private:
    static void fail_cb(evutil_socket_t, short, void* arg) noexcept;

    event_base* base_;
    ConfigSource config_;
    Peer peer_;
    FrameHandler on_frame_;
    CloseHandler on_close_;
    FailHandler on_fail_;
    std::unique_ptr<ipc::Channel> channel_;
    std::unique_ptr<ipc::Channel> closed_;  // kept until the timer: it may be in a callback
    EventPtr fail_ev_;
    uint64_t generation_ = 0;
    uint64_t next_id_ = 1;
    std::chrono::steady_clock::time_point next_try_{};
    std::chrono::milliseconds backoff_{kBackoffMin};
};

// Requests waiting for their answer, by request id, and the ones to be answered with a
// failure. Key is the request id (uint64_t) or a queue ID (std::string) for streams.
template <typename Key, typename Waiter>
class PendingRequests {
  public:
    void add(const Key& id, Waiter* w) { pending_[id] = w; }
    // The waiter of an answered request (removed), or nullptr when it went away.
    Waiter* take(const Key& id) {
        auto it = pending_.find(id);
        if (it == pending_.end()) return nullptr;
        Waiter* w = it->second;
        pending_.erase(it);
        return w;
    }
    Waiter* find(const Key& id) const {
        auto it = pending_.find(id);
        return it == pending_.end() ? nullptr : it->second;
    }
    bool erase(const Key& id) { return pending_.erase(id) > 0; }
    // Forgets the waiter: never answered, whether it waits or its failure is queued.
    void cancel(const Key& id) {
        pending_.erase(id);
        for (auto* list : {&failed_, &answering_})
            for (auto& f : *list)
                if (f.first == id) f.second = nullptr;
    }
    // Queues one failure (the caller arms the timer).
    void fail(const Key& id, Waiter* w) { failed_.emplace_back(id, w); }
    // Every pending request fails (the channel went).
    void fail_all() {
        for (auto& [id, w] : pending_)
            failed_.emplace_back(id, w);
        pending_.clear();
    }
    // From the timer: calls answer(id, waiter) for each queued failure not cancelled. By
    // index: an answer may cancel entries (cleared here too) or queue new failures
    // (answered by the next timer).
    template <typename F>
    void answer_failed(F&& answer) {
        answering_.clear();
        answering_.swap(failed_);
        for (size_t i = 0; i < answering_.size(); ++i) {
            Waiter* w = std::exchange(answering_[i].second, nullptr);
            if (w) answer(answering_[i].first, w);
        }
        answering_.clear();
    }
    size_t pending() const { return pending_.size(); }
    size_t failed() const { return failed_.size(); }
    // For iteration over what waits (e.g. a stream's channel generation).
    std::unordered_map<Key, Waiter*>& map() { return pending_; }

  private:
    std::unordered_map<Key, Waiter*> pending_;
    std::vector<std::pair<Key, Waiter*>> failed_;
    std::vector<std::pair<Key, Waiter*>> answering_;
};

}  // namespace tegami::smtpd
