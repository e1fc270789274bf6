// send_limits.hpp - smtpd's pure side of the per-user sending limits (issue 13 item 5):
// who a session sends as (an authenticated login, or a local submitter's uid), which
// recipients count, and the 451 4.7.1 replies that say which limit was reached and
// when it frees up. The counts themselves live in tegami-auth (smtpd/auth/
// send_limits.hpp); limits_policy.cpp asks for them at MAIL and keeps the answer in the
// transaction (SendQuota), so RCPT is checked without another round trip.
//
// No I/O, no globals: verbs.cpp, session.cpp and limits_policy.cpp call these, the unit
// tests drive them with tables.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/mail/reply.hpp"

namespace tegami::smtpd {

struct ClientInfo;

// What tegami-auth answered at MAIL, for one identity.
struct SendQuota {
    std::string identity;  // "alice", "uid:1000"
    ipc::LimitWindowMsg hour;
    ipc::LimitWindowMsg day;
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
// "2026-12-02 01:35:00 UTC"
std::string utc_time(time_t t);

}  // namespace tegami::smtpd
