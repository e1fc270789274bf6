// listen.cpp - see listen.hpp. Only numeric addresses are accepted, so binding never
// depends on DNS at start-up.
#include "lib/conf/listen.hpp"

#include <arpa/inet.h>

namespace tegami {

bool parse_listen_address(const std::string& s, ListenAddress& out) {
    std::string host, port;
    if (!s.empty() && s[0] == '[') {
        size_t close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return false;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
        out.ipv6 = true;
    } else {
        size_t colon = s.rfind(':');
        if (colon == std::string::npos || s.find(':') != colon) return false;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        out.ipv6 = false;
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return false;
    unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535) return false;
    unsigned char buf[16];
    if (inet_pton(out.ipv6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) return false;
    out.host = host;
    out.port = static_cast<uint16_t>(p);
    return true;
}

}  // namespace tegami
