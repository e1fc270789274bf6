// own_addresses.cpp - see own_addresses.hpp.
#include "lib/net/own_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

namespace tegami {

namespace {

struct Addr {
    bool v6 = false;
    unsigned char bytes[16] = {};
};

bool same(const Addr& a, const Addr& b) {
    return a.v6 == b.v6 && std::memcmp(a.bytes, b.bytes, a.v6 ? 16 : 4) == 0;
}

std::vector<Addr> interface_addresses() {
    std::vector<Addr> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        Addr a;
        if (i->ifa_addr->sa_family == AF_INET) {
            std::memcpy(a.bytes, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            a.v6 = true;
            std::memcpy(a.bytes, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        out.push_back(a);
    }
    freeifaddrs(list);
    return out;
}

// The address a literal holds; false for a malformed one or another tag.
bool parse_literal(std::string_view lit, Addr& a) {
    if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') return false;
    std::string inner(lit.substr(1, lit.size() - 2));
    if (inner.size() > 5 && strncasecmp(inner.c_str(), "IPv6:", 5) == 0) {
        a.v6 = true;
        return inet_pton(AF_INET6, inner.c_str() + 5, a.bytes) == 1;
    }
    a.v6 = false;
    return inet_pton(AF_INET, inner.c_str(), a.bytes) == 1;
}

}  // namespace

bool is_own_address_literal(std::string_view literal) {
    Addr want;
    if (!parse_literal(literal, want)) return false;
    static std::mutex mu;
    static std::vector<Addr> cached;
    static time_t read_at = 0;
    std::lock_guard lock(mu);
    time_t now = std::time(nullptr);
    if (read_at == 0 || now - read_at >= kOwnAddressRefreshSeconds || now < read_at) {
        cached = interface_addresses();
        read_at = now;
    }
    for (const Addr& a : cached)
        if (same(a, want)) return true;
    return false;
}

}  // namespace tegami
