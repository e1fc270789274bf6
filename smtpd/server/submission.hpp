// submission.hpp - what the MSA adds to a submitted message (RFC 6409 8.2, 8.3): a
// Message-ID and a Date header when the message has none. A policy check at the end
// of data, for sessions on the submission listeners (msa, smtps), the MSP's local
// socket, and authenticated sessions on the MTA listener; mail relayed from other
// servers is never changed. The headers go right after smtpd's Received header.
//
// header_present is pure (over the message after the Received header); the check
// trusts the session state only.
#pragma once

#include <string>
#include <string_view>

#include "smtpd/server/policy.hpp"

namespace tegami::smtpd {

// Whether the header section of `message` (up to its first empty line) has a field
// `name` (case-insensitive; continuation lines are not fields).
bool header_present(std::string_view message, std::string_view name);

// "<QUEUEID.1764640000@host.example>"
std::string make_message_id(std::string_view queue_id, time_t now, std::string_view hostname);

class SubmissionHeaders final : public PolicyCheck {
  public:
    const char* name() const override { return "submission"; }
    PolicyVerdict check(PolicyStage stage, const SessionState& st,
                        const CommandArgs& args) override;
};

}  // namespace tegami::smtpd
