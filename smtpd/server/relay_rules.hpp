// relay_rules.hpp - the pure parts of relay control and submission policy in smtpd:
// the relay tricks refused at RCPT for clients that may not relay, and the sender-login rule of
// MAIL FROM for an authenticated session. No I/O; called by the policy checks (relay_policy.cpp)
// and tested on their own.
//
// Trusts nothing: a network list that does not parse is a configuration error (named
// by the caller); an address that is not numeric matches nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/address.hpp"
#include "lib/mail/reply.hpp"
#include "lib/net/networks.hpp"

namespace tegami::smtpd {

// For a recipient of a local domain from a client that may not relay: the reply that
// refuses a relay trick (RFC 5321 3.6: routing through a local part), or nothing.
// Refused: a source route, '%' or '!' in the local part, '@' inside a quoted local part.
// (An address literal that is not one of local_domains is another host: relay control
// refuses it like any other domain.)
std::optional<Reply> relay_trick(const Mailbox& rcpt);

// Whether an authenticated login may use `sender` as MAIL FROM: the null sender; the
// login itself (an address, case-insensitive); login@D for a login without '@' and D one
// of local_domains; or an owner named by the sender-login map's value (`owners`: the
// logins of "user@domain" or "@domain", comma or space separated; empty when unmapped).
bool sender_login_ok(std::string_view login, const Mailbox& sender,
                     const std::vector<std::string>& local_domains, std::string_view owners);

}  // namespace tegami::smtpd
