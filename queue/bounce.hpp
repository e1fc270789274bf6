// bounce.hpp - delivery status notifications (RFC 3464 multipart/report) for the failed
// recipients of a message. Pure: builds the envelope and body of the bounce; the runner
// stores it as a new queue entry in the same transaction that removes the original.
// Never bounce a bounce: needs_bounce() is false for the null sender <>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "queue/envelope.hpp"

namespace tegami::queue {

struct Bounce {
    Envelope envelope;  // sender <>, one recipient: the original sender
    std::string body;   // CRLF line endings
};

// True when the message has a failed recipient and a sender to tell.
bool needs_bounce(const Envelope& env);
// The header section of a message body (up to, not including, the empty line).
std::string_view header_section(std::string_view body);
// new_qid: a fresh queue ID; now: seconds since the epoch.
Bounce make_bounce(const Envelope& orig, std::string_view orig_body, const std::string& hostname,
                   const std::string& new_qid, uint64_t now);

}  // namespace tegami::queue
