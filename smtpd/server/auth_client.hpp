// auth_client.hpp - smtpd's one channel to tegami-auth, shared by every session that
// authenticates. Sends AuthStartMsg/AuthStepMsg/AuthCancelMsg and routes each
// AuthReplyMsg to the waiter of its request_id. Called by the AUTH hook of a
// connection.
//
// The channel, its reconnects and the table of waiting requests are request_channel.hpp's.
// Trusts the peer only when SO_PEERCRED names auth's account (lib/daemon daemon_uid);
// a malformed or unexpected frame closes the channel. Invariants:
//  - a waiter is never called from inside start()/step(): failures are answered from a
//    zero-delay timer, so a session never re-enters itself;
//  - when the channel is down or closes with requests pending, each gets kAuthTemp
//    (454 4.7.0); the next request reconnects, no sooner than the backoff allows;
//  - a waiter that goes away calls cancel(); a late answer is dropped;
//  - SASL payloads are never logged.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/ipc/messages.hpp"
#include "smtpd/server/request_channel.hpp"

namespace tegami::smtpd {

class AuthWaiter {
  public:
    virtual ~AuthWaiter() = default;
    // May destroy the waiter.
    virtual void auth_reply(const ipc::AuthReplyMsg& r) noexcept = 0;
};

class AuthClient {
  public:
    using ConfigSource = std::function<std::shared_ptr<const Config>()>;
    AuthClient(event_base* base, ConfigSource config);
    ~AuthClient();
    AuthClient(const AuthClient&) = delete;
    AuthClient& operator=(const AuthClient&) = delete;

    // Returns the request id naming the conversation (for step and cancel).
    uint64_t start(ipc::AuthStartMsg m, AuthWaiter* w);
    void step(uint64_t id, std::string response, AuthWaiter* w);
    // Forgets the waiter and tells auth to drop the conversation.
    void cancel(uint64_t id);
    size_t pending() const { return requests_.pending() + requests_.failed(); }

    // The sending limits (limits_policy.hpp): a transaction's hold on its identity's
    // limits (LimitReserveMsg), answered through `done` (never from inside this call;
    // status kStatusTemp when auth cannot be reached), and its end (LimitReleaseMsg, no
    // answer). A release that counts nothing is dropped when the channel is down (auth
    // dropped that channel's holds); one that counts reconnects, and is lost and logged
    // when auth cannot be reached. new_holder numbers a transaction, unique for the
    // client's life; releaser gives LimitHold its release, which does nothing once this
    // client is gone.
    using LimitDone = std::function<void(const ipc::LimitReplyMsg&)>;
    void limit_reserve(ipc::LimitReserveMsg m, LimitDone done);
    void limit_release(const ipc::LimitReleaseMsg& m);
    uint64_t new_holder() { return next_holder_++; }
    std::function<void(uint64_t messages, uint64_t recipients)> releaser(std::string identity,
                                                                         uint64_t holder);

  private:
    void on_frame(ipc::MsgType type, std::string_view payload);
    size_t on_close();
    void answer_failed();

    RequestChannel channel_;
    PendingRequests<uint64_t, AuthWaiter> requests_;
    std::unordered_map<uint64_t, LimitDone> limit_pending_;
    std::vector<LimitDone> limit_failed_;
    uint64_t next_holder_ = 1;
    // Declared last, so gone first: a release that runs while the rest is torn down (a
    // hold inside a pending callback) sees it expired and does nothing.
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace tegami::smtpd
