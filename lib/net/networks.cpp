// networks.cpp - see networks.hpp.
#include "lib/net/networks.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tegami {

namespace {

bool parse_addr(std::string_view s, Network& n) {
    std::string a(s);
    if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
    if (a.rfind("IPv6:", 0) == 0 || a.rfind("ipv6:", 0) == 0) a = a.substr(5);
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, a.c_str(), &v4) == 1) {
        n.v6 = false;
        std::memcpy(n.addr, &v4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
        // An IPv4-mapped address is the IPv4 address.
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(&v6, kMapped, 12) == 0) {
            n.v6 = false;
            std::memcpy(n.addr, reinterpret_cast<const uint8_t*>(&v6) + 12, 4);
            return true;
        }
        n.v6 = true;
        std::memcpy(n.addr, &v6, 16);
        return true;
    }
    return false;
}

bool prefix_match(const uint8_t* a, const uint8_t* b, unsigned bits) {
    unsigned full = bits / 8, rest = bits % 8;
    if (std::memcmp(a, b, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Network> parse_network(std::string_view s) {
    Network n;
    size_t slash = s.find('/');
    std::string_view a = s.substr(0, slash);
    if (a.empty() || !parse_addr(a, n)) return std::nullopt;
    unsigned max = n.v6 ? 128 : 32;
    n.prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view p = s.substr(slash + 1);
        unsigned v = 0;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v > max)
            return std::nullopt;
        // "::ffff:10.0.0.0/104" style prefixes are not worth the confusion.
        if (!n.v6 && a.find(':') != std::string_view::npos) return std::nullopt;
        n.prefix = v;
    }
    uint8_t masked[16];
    std::memcpy(masked, n.addr, 16);
    for (unsigned bit = n.prefix; bit < max; ++bit)
        masked[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    if (std::memcmp(masked, n.addr, max / 8) != 0) return std::nullopt;  // host bits set
    return n;
}

std::optional<std::vector<Network>> parse_networks(const std::vector<std::string>& list,
                                                   std::string& bad) {
    std::vector<Network> out;
    for (const auto& e : list) {
        auto n = parse_network(e);
        if (!n) {
            bad = e;
            return std::nullopt;
        }
        out.push_back(*n);
    }
    return out;
}

bool network_contains(const std::vector<Network>& nets, std::string_view addr) {
    Network a;
    if (!parse_addr(addr, a)) return false;
    for (const Network& n : nets)
        if (n.v6 == a.v6 && prefix_match(n.addr, a.addr, n.prefix)) return true;
    return false;
}

}  // namespace tegami
