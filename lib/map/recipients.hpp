// recipients.hpp - is this local part a deliverable local recipient? The one rule
// shared by smtpd (RCPT check, 550 5.1.1 for unknown) and local (delivery).
//
//   alias      : named in the aliases file (checked first, case-insensitive)
//   user       : a passwd user (looked up as given, then lower-cased) with uid != 0
//   root_user  : a passwd user with uid 0 and no alias: refused, local never delivers
//                as uid 0 (alias root to a person)
//   unknown    : neither
#pragma once

#include <string>
#include <string_view>

#include "lib/conf/config.hpp"
#include "lib/map/aliases.hpp"

namespace tegami {

enum class LocalKind { alias, user, root_user, unknown };

// local_part: the part before the last '@' of a recipient in a local domain.
// aliases may be null (no aliases file). With a delimiter ("+"), user+detail not known
// itself is classified as user (an alias for user+detail wins).
LocalKind classify_local(std::string_view local_part, const AliasFile* aliases,
                         std::string_view delimiter = "");

// Is domain one of local_domains (ASCII case-insensitive, exact: no subdomains), or an
// address literal of one of this host's interfaces (lib/net/own_addresses.hpp)? The one
// local-domain test of the suite (smtpd at RCPT, local for each request and alias target;
// the queue's routing asks the same of literals).
bool is_local_domain(const Config& c, std::string_view domain);

// Splits "local@domain" at the last '@'; false when there is no '@' or either side is empty.
bool split_address(std::string_view addr, std::string& local, std::string& domain);

}  // namespace tegami
