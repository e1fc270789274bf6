// bounce.hpp - delivery status notifications (RFC 3464 multipart/report): the failure
// report for the failed recipients of a message, the success report (Action: delivered
// relayed or expanded) for recipients that asked NOTIFY=SUCCESS, the delay warning for recipients
// still deferred after delay_warning_time, and the double bounce that tells the
// postmaster about an undeliverable report. Pure: builds the envelope and body; the
// runner stores them in the same transaction as the state change that caused them.
//
// NOTIFY (RFC 3461) decides who is reported: NEVER nobody; a list names the events; no
// NOTIFY at all means failures and delays. The client's ORCPT becomes Original-Recipient
// (never anything else: RFC 3464 2.3.1), ENVID Original-Envelope-Id; a remote server's
// reply ("host[addr]:port said: 550 ...") becomes Remote-MTA and an smtp Diagnostic-Code.
// What is returned (RET): a failure report returns the whole message (message/rfc822)
// unless RET=HDRS, a success report only for RET=FULL; a message larger than
// size_limit, a delay warning and a double bounce return the header section only
// (text/rfc822-headers). A report on an SMTPUTF8 message is a global one (RFC 6533):
// message/global-delivery-status with utf-8 addresses in UTF-8 (utf-8-addr-unitext),
// message/global or message/global-headers for what it returns. Returned content with 8-bit
// octets is labelled Content-Transfer-Encoding: 8bit and the report sent as 8BITMIME, whether
// or not the client declared BODY=8BITMIME. Never bounce a bounce: a report has
// the null sender, a message with the null sender gets no report, and a failed report goes to the
// postmaster once (a failed double bounce is only logged). The double bounce's per-recipient fields
// are those of the report that failed (its recipient, why it failed); its text also quotes what
// that report said about the original message's recipients.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "queue/envelope.hpp"

namespace tegami::queue {

// Envelope flag (persisted with the others): the delay warning was sent.
constexpr uint32_t kFlagDelayWarned = kEnvelopeDelayWarned;
// The protocol field of the reports the queue makes itself.
constexpr const char* kProtocolDsn = "DSN";
constexpr const char* kProtocolDoubleBounce = "DSN2";

struct Bounce {
    Envelope envelope;  // sender <>, one recipient
    std::string body;   // CRLF line endings
};

enum class DsnKind { failure, delay, double_bounce, success };

// Per recipient, what a success report says (Message-side, in memory until reported).
// expanded: an alias or .forward made it several recipients (RFC 3461 6.2.1(c)).
enum class SuccessAction : uint8_t { none, delivered, relayed, expanded };

// Whether a recipient's NOTIFY asks for this event (ipc::kNotify* bits).
bool notify_wants(uint32_t notify, uint32_t event_bit);
// True when the message has a failed recipient whose NOTIFY wants it and a sender to tell.
bool needs_bounce(const Envelope& env);
// True when a failed report (null sender) should go to the postmaster instead.
bool needs_double_bounce(const Envelope& env);
// True when action says some recipient is to be reported as delivered/relayed and the
// message has a sender to tell.
bool needs_success_report(const Envelope& env, const std::vector<SuccessAction>& action);
// True when a delay warning is due: not sent yet, warn_after > 0 passed since arrival, a
// deferred recipient whose NOTIFY wants delays, and a sender to tell.
bool needs_delay_warning(const Envelope& env, uint64_t now, uint64_t warn_after);
// The header section of a message body (up to, not including, the empty line).
std::string_view header_section(std::string_view body);
// One per-recipient group of a delivery status report (RFC 3464 2.3), its values
// printable ASCII: what a double bounce quotes of the notification that failed.
struct ReportedRecipient {
    std::string final_recipient, original_recipient, action, status, diagnostic;
};
// The recipients the (message/delivery-status or message/global-delivery-status) part
// of report names, at most max, each value cut at 500 characters; none when it has no
// such part. Trusts nothing in it.
std::vector<ReportedRecipient> reported_recipients(std::string_view report, size_t max);
struct DsnOptions {
    std::string postmaster;                // the recipient of a double bounce
    uint64_t size_limit = 50000;           // bounce_size_limit: largest message returned whole
    std::vector<SuccessAction> successes;  // empty, or per recipient: also report these
    // The size of the whole original body when make_dsn is given only its leading part
    // (read_dsn_source); unset: orig_body is the whole body.
    std::optional<uint64_t> body_size = std::nullopt;
};
// The most octets read to find the end of a header section (the empty line): a body
// without one within this is quoted up to its last line end before it.
constexpr uint64_t kMaxHeaderRead = 1024 * 1024;
// What make_dsn needs of an original body of size octets, and no more: the whole body
// when the report returns it (RET=FULL or no RET, within opt.size_limit) or reads it (a
// double bounce looks for the report inside); else its leading octets up to the header
// section's end, read in growing pieces of 4 KiB, 16 KiB, ... up to kMaxHeaderRead.
// read(n) returns at most n leading octets of the body (fewer only when it ends). Given
// text and opt.body_size = size, make_dsn makes what it makes from the whole body.
struct DsnSource {
    std::string text;   // the leading octets read (all of them when whole)
    uint64_t size = 0;  // the size of the whole body
};
Result<DsnSource> read_dsn_source(DsnKind kind, const Envelope& orig, uint64_t size,
                                  const DsnOptions& opt,
                                  const std::function<Result<std::string>(uint64_t)>& read);
// new_qid: a fresh queue ID; now: seconds since the epoch. A failure report also lists
// the recipients opt.successes names (one report for both when they happen together).
Bounce make_dsn(DsnKind kind, const Envelope& orig, std::string_view orig_body,
                const std::string& hostname, const std::string& new_qid, uint64_t now,
                const DsnOptions& opt = DsnOptions{});
inline Bounce make_bounce(const Envelope& orig, std::string_view orig_body,
                          const std::string& hostname, const std::string& new_qid, uint64_t now) {
    return make_dsn(DsnKind::failure, orig, orig_body, hostname, new_qid, now, DsnOptions{});
}

}  // namespace tegami::queue
