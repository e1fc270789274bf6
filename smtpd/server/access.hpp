// access.hpp - sendmail's access map (makemap hash /etc/mail/access < access): the
// lookup keys smtpd tries for a client, a sender and a recipient, and the actions a
// value names. Pure; relay_policy.cpp does the lookups through lib/map.
//
// Keys, most specific first, each tagged ("Connect:", "From:", "To:") and then bare:
//   client 192.0.2.1  -> 192.0.2.1, 192.0.2, 192.0, 192
//   client 2001:db8::1 -> IPv6:2001:db8::1 and its leading ':'-groups (IPv6:2001:db8, ...)
//   address u@a.b.c   -> u@a.b.c, a.b.c, b.c, c, u@
// Values: OK, RELAY, REJECT, DISCARD, ERROR:"550 5.7.1 text" (also ERROR:550 text and
// sendmail's ERROR:5.7.1:550 text), SKIP (stop looking, no decision).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/reply.hpp"

namespace tegami::smtpd {

enum class AccessKind { ok, relay, reject, discard, error, skip };

struct AccessAction {
    AccessKind kind = AccessKind::ok;
    Reply reply;  // for error (and the reject default filled in by the caller)
};

// nullopt for a value that is none of the actions (logged by the caller, ignored).
std::optional<AccessAction> parse_access_action(std::string_view value);
std::vector<std::string> access_client_keys(std::string_view tag, std::string_view addr);
std::vector<std::string> access_address_keys(std::string_view tag, std::string_view address);

}  // namespace tegami::smtpd
