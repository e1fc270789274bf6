// send_limits.hpp - tegami-auth's side of the per-user sending limits: each identity's
// limits (the sender_limit_* defaults, or its entry in sender_limit_map) and the answers
// to smtpd's limit messages from the counters (counter_store.hpp). Called by
// auth_server.cpp. parse_limit_override is pure; the rest trusts the configuration and
// the identity smtpd sent (it is only ever a key).
//
// Holds: a transaction in progress holds its message and the counted recipients it has
// so far (LimitReserveMsg at MAIL and at each counted RCPT), and every answer for the
// same identity counts what others hold as if it were sent now. So two sessions of one
// login that each find one message of room left cannot both send: the second is refused
// at MAIL. A hold ends with its transaction (LimitReleaseMsg, which also counts what was
// accepted, in the same step), with its smtpd channel, or after kHoldIdle untouched.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "lib/conf/config.hpp"
#include "lib/core/result.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/map/map.hpp"
#include "smtpd/auth/counter_store.hpp"

namespace tegami::auth {

struct SendLimits {
    uint64_t hour_messages = 0;
    uint64_t hour_recipients = 0;
    uint64_t day_messages = 0;
    uint64_t day_recipients = 0;
};

SendLimits default_limits(const Config& c);

// A sender_limit_map value: "hour_messages=500, day_recipients=20000" (names not given
// keep `defaults`), or "unlimited". An error names the bad word.
Result<SendLimits> parse_limit_override(std::string_view value, const SendLimits& defaults);

constexpr size_t kMaxHolds = 100000;  // transactions held at once, every channel together
constexpr time_t kHoldIdle = 3600;    // seconds before a hold nobody touched is dropped

class SendLimiter {
  public:
    explicit SendLimiter(std::unique_ptr<CounterStore> store) : store_(std::move(store)) {}
    // The identity's limits and counts at `now`, what every holder holds included.
    ipc::LimitReplyMsg check(const Config& c, const std::string& identity, time_t now);
    // conn: the smtpd channel the message came on (holders are numbered per channel).
    ipc::LimitReplyMsg reserve(const Config& c, uint64_t conn, const ipc::LimitReserveMsg& m,
                               time_t now);
    void release(uint64_t conn, const ipc::LimitReleaseMsg& m, time_t now);
    void drop_channel(uint64_t conn);  // its holds go
    void expire(time_t now);           // holds untouched for kHoldIdle go
    size_t holds() const { return holds_.size(); }
    void flush() { store_->flush(); }

  private:
    struct Held {
        uint64_t messages = 0;
        uint64_t recipients = 0;
    };
    struct Hold {
        std::string identity;
        Held held;
        time_t touched = 0;
    };
    using HoldKey = std::pair<uint64_t, uint64_t>;  // channel, holder

    SendLimits limits_for(const Config& c, const std::string& identity, bool& ok);
    // The counts with `extra` added as if sent at `now`.
    ipc::LimitReplyMsg counts(const Config& c, const std::string& identity, time_t now, Held extra);
    void forget(std::map<HoldKey, Hold>::iterator it);

    std::unique_ptr<CounterStore> store_;
    std::unique_ptr<map::MapRef> map_;
    std::map<HoldKey, Hold> holds_;
    std::unordered_map<std::string, Held> held_;  // identity -> the sum of its holds
};

}  // namespace tegami::auth
