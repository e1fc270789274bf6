// networks.hpp - client network lists ("mynetworks" style: "192.0.2.0/24, [::1]/128")
// and matching a client address against them. Pure; used by the configuration check
// (trusted_networks) and by smtpd's relay control.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami {

struct Network {
    bool v6 = false;
    uint8_t addr[16] = {};
    unsigned prefix = 0;  // bits
};

// One entry: "192.0.2.0/24", "192.0.2.1", "[2001:db8::]/32", "2001:db8::1", "[::1]".
// Host bits beyond the prefix must be zero (a typo otherwise widens nothing silently).
std::optional<Network> parse_network(std::string_view s);
// Every entry, or the first bad one in `bad`.
std::optional<std::vector<Network>> parse_networks(const std::vector<std::string>& list,
                                                   std::string& bad);
// addr is a numeric IPv4/IPv6 address as smtpd records clients ("192.0.2.1", "::1",
// "::ffff:192.0.2.1" matches IPv4 networks).
bool network_contains(const std::vector<Network>& nets, std::string_view addr);

}  // namespace tegami
