// relay_rules.cpp - see relay_rules.hpp.
#include "smtpd/server/relay_rules.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tegami::smtpd {

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

std::vector<std::string_view> split_owners(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            ++i;
        size_t j = i;
        while (j < s.size() && s[j] != ',' && s[j] != ' ' && s[j] != '\t')
            ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
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

std::optional<Reply> relay_trick(const Mailbox& rcpt) {
    std::string who = "<" + rcpt.str() + ">: ";
    if (rcpt.routed) return make_reply(550, "5.7.1", who + "Relaying denied (source route)");
    bool quoted = !rcpt.local.empty() && rcpt.local.front() == '"';
    std::string local = unquote_local(rcpt.local);
    if (local.find('%') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (%-hack)");
    if (local.find('!') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (bang path)");
    if (quoted && local.find('@') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (quoted @ in the local part)");
    return std::nullopt;
}

bool sender_login_ok(std::string_view login, const Mailbox& sender,
                     const std::vector<std::string>& local_domains, std::string_view owners) {
    if (sender.null()) return true;
    std::string addr = canonical_address(sender);
    if (iequals(addr, login)) return true;
    if (login.find('@') == std::string_view::npos && !sender.domain.empty() &&
        iequals(unquote_local(sender.local), login)) {
        for (const auto& d : local_domains)
            if (iequals(d, sender.domain)) return true;
    }
    for (std::string_view o : split_owners(owners))
        if (o == login) return true;
    return false;
}

}  // namespace tegami::smtpd
