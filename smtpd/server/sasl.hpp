// sasl.hpp - smtpd's side of SMTP AUTH (RFC 4954) that needs no I/O: parsing the AUTH
// argument and continuation lines (strict base64, "=" for an empty initial response,
// "*" to cancel), whether AUTH is offered to a session, and the SMTP reply for each
// answer of tegami-auth. The session (session.cpp) and the connection's AUTH hook call
// these; tests call them directly.
//
// Trusts nothing from the client. The decoded bytes are credentials: nothing here logs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ipc/messages.hpp"
#include "lib/mail/reply.hpp"
#include "lib/mail/smtp_command.hpp"

namespace tegami::smtpd {

constexpr size_t kMaxSaslLine = 12288;  // RFC 4954 4: at least 12288 octets allowed

struct AuthCommand {
    std::string mechanism;  // upper-cased
    bool has_initial = false;
    std::string initial;  // decoded
};

// "PLAIN", "PLAIN AGFsaWNlAHBlbmNpbA==", "PLAIN =": the command, or 501 (5.5.4 for the
// syntax, 5.5.2 for base64 that does not decode) / 504 5.5.4 for a mechanism name that
// is not a SASL name (RFC 4422 3.1: 1-20 of A-Z 0-9 - _).
ReplyOr<AuthCommand> parse_auth(std::string_view arg);

// A continuation line: nullopt with `cancel` for "*", else the decoded bytes, or 501.
struct SaslLine {
    bool cancel = false;
    std::string data;
};
ReplyOr<SaslLine> parse_sasl_line(std::string_view line);

// "334 <base64 challenge>" (a bare "334 " for an empty one).
std::string challenge_reply(std::string_view challenge);

// The reply for a final AuthReplyMsg status (not kAuthContinue).
Reply auth_final_reply(uint32_t status, std::string_view text);

// Whether AUTH is offered: under TLS, or in clear on a loopback client when
// smtpd_auth_allow_plaintext_loopback is set.
bool auth_allowed(bool tls, bool allow_plaintext_loopback, std::string_view client_addr);
// The mechanisms offered: auth_mechanisms when set (SCRAM-SHA-256-PLUS dropped without
// channel binding data or with the Dovecot backend), else the backend's defaults: with
// channel binding data SCRAM-SHA-256-PLUS first, then SCRAM-SHA-256, PLAIN, LOGIN for
// the builtin store; PLAIN and LOGIN for Dovecot.
std::vector<std::string> auth_mechanism_names(const std::vector<std::string>& configured,
                                              bool dovecot, bool channel_binding);

}  // namespace tegami::smtpd
