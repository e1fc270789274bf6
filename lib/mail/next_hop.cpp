// next_hop.cpp - see next_hop.hpp.
#include "lib/mail/next_hop.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "lib/mail/address.hpp"

namespace tegami {

namespace {

bool parse_port(std::string_view s, uint16_t& port) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
}

bool is_ip(const std::string& s) {
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

bool parse_next_hop(std::string_view s, NextHop& out, uint16_t default_port) {
    NextHop h;
    h.port = default_port;
    std::string_view rest;
    if (!s.empty() && s[0] == '[') {
        size_t close = s.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view inner = s.substr(1, close - 1);
        if (inner.size() > 5 && iequals(inner.substr(0, 5), "ipv6:")) inner.remove_prefix(5);
        h.host = lower_ascii(inner);
        h.mx = false;
        rest = s.substr(close + 1);
        if (h.host.empty() || (!is_ip(h.host) && !valid_domain(h.host, false))) return false;
    } else {
        size_t colon = s.rfind(':');
        std::string_view host = s.substr(0, colon);
        h.host = lower_ascii(host);
        rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
        if (is_ip(h.host))
            h.mx = false;
        else if (!valid_domain(h.host, false))
            return false;
    }
    if (!rest.empty()) {
        if (rest[0] != ':' || !parse_port(rest.substr(1), h.port)) return false;
    }
    h.implicit_tls = h.port == 465;
    out = std::move(h);
    return true;
}

std::string next_hop_string(const NextHop& h) {
    std::string host = h.mx ? h.host : "[" + h.host + "]";
    return host + ":" + std::to_string(h.port);
}

bool parse_lmtp_destination(std::string_view s, LmtpDestination& out) {
    LmtpDestination d;
    if (s.size() > 5 && s.substr(0, 5) == "unix:") {
        std::string_view path = s.substr(5);
        if (path.empty() || path[0] != '/' || path.size() >= 108 ||
            path.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
            return false;
        d.unix_path = std::string(path);
        d.inet.mx = false;
        out = std::move(d);
        return true;
    }
    if (s.size() > 5 && s.substr(0, 5) == "inet:") s.remove_prefix(5);
    if (s.empty() || !parse_next_hop(s, d.inet, 24)) return false;
    d.inet.mx = false;  // LMTP talks to the host named, never to an MX
    d.inet.implicit_tls = false;
    out = std::move(d);
    return true;
}

std::string lmtp_destination_string(const LmtpDestination& d) {
    if (!d.unix_path.empty()) return "unix:" + d.unix_path;
    bool v6 = d.inet.host.find(':') != std::string::npos;
    return "inet:" + (v6 ? "[" + d.inet.host + "]" : d.inet.host) + ":" +
           std::to_string(d.inet.port);
}

}  // namespace tegami
