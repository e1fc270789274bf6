// listen.hpp - listener addresses ("127.0.0.1:2525", "[::1]:25", "0.0.0.0:25").
// A pure parser, used by the configuration check and by master when it binds.
#pragma once

#include <cstdint>
#include <string>

namespace tegami {

struct ListenAddress {
    std::string host;  // numeric IPv4 or IPv6 (without brackets)
    uint16_t port = 0;
    bool ipv6 = false;
};

bool parse_listen_address(const std::string& s, ListenAddress& out);

}  // namespace tegami
