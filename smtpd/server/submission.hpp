// submission.hpp - what the MSA adds to a submitted message (RFC 6409 8.1-8.3): a
// Message-ID and a Date header when the message has none, and, for an authenticated
// session whose From field does not name the envelope sender (an address the login may
// use: the sender-login check passed at MAIL) or names several mailboxes, a Sender field
// with the envelope sender (smtpd_sender_header). A Sender the client wrote is kept, as
// are From and every other field: the MSA adds, it never rewrites. A policy check at the end
// of data, for sessions on the submission listeners (msa, smtps), the MSP's local
// socket, and authenticated sessions on the MTA listener; mail relayed from other
// servers is never changed. The headers go right after smtpd's Received header.
//
// header_present is pure (over the message after the Received header); the check
// trusts the session state only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/server/policy.hpp"

namespace tegami::smtpd {

// Whether the header section of `message` (up to its first empty line) has a field
// `name` (case-insensitive; continuation lines are not fields).
bool header_present(std::string_view message, std::string_view name);

// The first field `name`, unfolded (CRLF + WSP joined), without leading/trailing space.
std::optional<std::string> header_value(std::string_view message, std::string_view name);

// The addr-specs of an address list (RFC 5322 3.4): "A <a@x>, b@y (c), G: c@z;" gives
// a@x, b@y, c@z; comments and display names (quoted or not) are skipped.
std::vector<std::string> address_list(std::string_view value);

// "<QUEUEID.1764640000@host.example>"
std::string make_message_id(std::string_view queue_id, time_t now, std::string_view hostname);

class SubmissionHeaders final : public PolicyCheck {
  public:
    const char* name() const override { return "submission"; }
    PolicyVerdict check(PolicyStage stage, const SessionState& st,
                        const CommandArgs& args) override;
};

}  // namespace tegami::smtpd
