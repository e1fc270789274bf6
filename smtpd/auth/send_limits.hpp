// send_limits.hpp - tegami-auth's side of the per-user sending limits: each identity's
// limits (the sender_limit_* defaults, or its entry in sender_limit_map) and the answer
// to smtpd's LimitCheckMsg from the counters (counter_store.hpp). Called by
// auth_server.cpp. parse_limit_override is pure; the rest trusts the configuration and
// the identity smtpd sent (it is only ever a key).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

class SendLimiter {
  public:
    explicit SendLimiter(std::unique_ptr<CounterStore> store) : store_(std::move(store)) {}
    // The identity's limits and counts at `now`.
    ipc::LimitReplyMsg check(const Config& c, const std::string& identity, time_t now);
    void count(const ipc::LimitCountMsg& m, time_t now);
    void flush() { store_->flush(); }

  private:
    SendLimits limits_for(const Config& c, const std::string& identity, bool& ok);

    std::unique_ptr<CounterStore> store_;
    std::unique_ptr<map::MapRef> map_;
};

}  // namespace tegami::auth
