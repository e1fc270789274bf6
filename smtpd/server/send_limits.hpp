// send_limits.hpp - smtpd's pure side of the per-user sending limits (issue 13 item 5):
// who a session sends as (an authenticated login, or a local submitter's uid), which
// recipients count, and the 451 4.7.1 replies that say which limit was reached and
// when it frees up. The counts themselves live in tegami-auth (smtpd/auth/
// send_limits.hpp); limits_policy.cpp holds the transaction's share there at MAIL and at
// each counted RCPT and keeps the answer in the transaction (SendQuota, with its
// LimitHold, which gives the share back, or counts it, when the transaction ends).
//
// No I/O, no globals: verbs.cpp, session.cpp and limits_policy.cpp call these, the unit
// tests drive them with tables.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/mail/reply.hpp"

namespace tegami::smtpd {

struct ClientInfo;

// A transaction's hold on its identity's limits in tegami-auth. When the last reference
// goes (the transaction ended: RSET, a refusal, the session closed) the hold is given
// back; commit() instead counts the accepted message with it, in one step.
class LimitHold {
  public:
    using Release = std::function<void(uint64_t messages, uint64_t recipients)>;
    LimitHold(uint64_t holder, Release release) : holder_(holder), release_(std::move(release)) {}
    LimitHold(const LimitHold&) = delete;
    LimitHold& operator=(const LimitHold&) = delete;
    ~LimitHold();
    uint64_t holder() const { return holder_; }
    // The queue accepted the message: one message and `recipients` counted recipients
    // (none: nothing is counted, as for a message to local recipients only).
    void commit(uint64_t recipients);

  private:
    uint64_t holder_;
    Release release_;
};

// What tegami-auth answered at MAIL (and at the last counted RCPT), for one identity:
// the counts include what other transactions of it hold, not this one.
struct SendQuota {
    std::string identity;  // "alice", "uid:1000"
    ipc::LimitWindowMsg hour;
    ipc::LimitWindowMsg day;
    std::shared_ptr<LimitHold> hold;  // null: nothing held (unit tests)
};

// Whether any sending limit can apply (a non-zero default or a per-user map).
bool limits_configured(const Config& c);
// "alice" for an authenticated session, "uid:1000" on the MSP socket, else "" (no limit).
std::string limit_identity(std::string_view auth_login, const ClientInfo& client);
// A recipient domain that counts: outside local_domains and virtual_domains.
bool counted_domain(const Config& c, std::string_view domain);
// The counted recipients of canonical addresses ("user@domain").
uint64_t counted_recipients(const Config& c, const std::vector<std::string>& rcpts);

// MAIL: 451 4.7.1 when a message limit is reached, else nothing.
std::optional<Reply> mail_limit_refusal(const SendQuota& q);
// RCPT of one more counted recipient, with `pending` counted already in this
// transaction: 451 4.7.1 past a recipient limit, else nothing.
std::optional<Reply> rcpt_limit_refusal(const SendQuota& q, uint64_t pending);
// Whether any recipient limit applies to q's identity (else RCPT holds nothing more).
bool has_recipient_limit(const SendQuota& q);
// "2026-12-02 01:35:00 UTC"
std::string utc_time(time_t t);

}  // namespace tegami::smtpd
