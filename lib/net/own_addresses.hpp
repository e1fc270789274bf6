// own_addresses.hpp - whether an address literal names this host. RFC 5321 4.1.3 lets a
// mailbox name a host by address ("user@[192.0.2.25]", "user@[IPv6:2001:db8::25]"); a
// literal of one of this machine's own interface addresses is a local domain, as sendmail
// (class w) and Postfix (inet_interfaces) treat it, not a host to relay to. Any other
// literal stays another host, for relay control to refuse.
//
// The interface addresses come from getifaddrs(3), read again at most every
// kOwnAddressRefreshSeconds so that an address added while the daemons run is seen.
// Thread-safe.
#pragma once

#include <string_view>

namespace tegami {

constexpr int kOwnAddressRefreshSeconds = 30;

// "[a.b.c.d]" or "[IPv6:...]" (the tag in any case) holding an address of one of this
// host's interfaces. False for anything else, a malformed literal included.
bool is_own_address_literal(std::string_view literal);

}  // namespace tegami
