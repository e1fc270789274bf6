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

    // The sending limits (limits_policy.hpp): an identity's limits and counts, answered
    // through `done` (never from inside this call; status kStatusTemp when auth cannot
    // be reached), and the count of an accepted message (no answer; lost, and logged,
    // when auth cannot be reached).
    using LimitDone = std::function<void(const ipc::LimitReplyMsg&)>;
    void limit_check(std::string identity, LimitDone done);
    void limit_count(const ipc::LimitCountMsg& m);

  private:
    void on_frame(ipc::MsgType type, std::string_view payload);
    size_t on_close();
    void answer_failed();

    RequestChannel channel_;
    PendingRequests<uint64_t, AuthWaiter> requests_;
    std::unordered_map<uint64_t, LimitDone> limit_pending_;
    std::vector<LimitDone> limit_failed_;
};

}  // namespace tegami::smtpd
