// bounce.hpp - delivery status notifications (RFC 3464 multipart/report): the failure
// report for the failed recipients of a message, the delay warning for recipients still
// deferred after delay_warning_time, and the double bounce that tells the postmaster
// about an undeliverable report. Pure: builds the envelope and body; the runner stores
// them (a failure report in the same transaction that removes the original).
//
// NOTIFY (RFC 3461) decides who is reported: NEVER nobody; a list names the events; no
// NOTIFY at all means failures and delays. ORCPT becomes Original-Recipient, ENVID
// Original-Envelope-Id; a remote server's reply ("host[addr]:port said: 550 ...") becomes
// Remote-MTA and an smtp Diagnostic-Code. Never bounce a bounce: a report has the null
// sender, and a failed report goes to the postmaster once (a failed double bounce is only
// logged).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "queue/envelope.hpp"

namespace tegami::queue {

// Envelope flag (persisted with the others): the delay warning was sent.
constexpr uint32_t kFlagDelayWarned = 1u << 31;
// The protocol field of the reports the queue makes itself.
constexpr const char* kProtocolDsn = "DSN";
constexpr const char* kProtocolDoubleBounce = "DSN2";

struct Bounce {
    Envelope envelope;  // sender <>, one recipient
    std::string body;   // CRLF line endings
};

enum class DsnKind { failure, delay, double_bounce };

// Whether a recipient's NOTIFY asks for this event (ipc::kNotify* bits).
bool notify_wants(uint32_t notify, uint32_t event_bit);
// True when the message has a failed recipient whose NOTIFY wants it and a sender to tell.
bool needs_bounce(const Envelope& env);
// True when a failed report (null sender) should go to the postmaster instead.
bool needs_double_bounce(const Envelope& env);
// True when a delay warning is due: not sent yet, warn_after > 0 passed since arrival, a
// deferred recipient whose NOTIFY wants delays, and a sender to tell.
bool needs_delay_warning(const Envelope& env, uint64_t now, uint64_t warn_after);
// The header section of a message body (up to, not including, the empty line).
std::string_view header_section(std::string_view body);
// new_qid: a fresh queue ID; now: seconds since the epoch; postmaster: the address for a
// double bounce.
Bounce make_dsn(DsnKind kind, const Envelope& orig, std::string_view orig_body,
                const std::string& hostname, const std::string& new_qid, uint64_t now,
                const std::string& postmaster = "");
inline Bounce make_bounce(const Envelope& orig, std::string_view orig_body,
                          const std::string& hostname, const std::string& new_qid, uint64_t now) {
    return make_dsn(DsnKind::failure, orig, orig_body, hostname, new_qid, now);
}

}  // namespace tegami::queue
