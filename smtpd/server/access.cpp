// access.cpp - see access.hpp.
#include "smtpd/server/access.hpp"

#include <charconv>

namespace tegami::smtpd {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool is_dsn(std::string_view s) {
    size_t len = 0;
    return enhanced_code_prefix(s, len) && len == s.size();
}

void both(std::vector<std::string>& out, std::string_view tag, const std::vector<std::string>& k) {
    for (const auto& x : k)
        out.push_back(std::string(tag) + x);
    for (const auto& x : k)
        out.push_back(x);
}

}  // namespace

std::optional<AccessAction> parse_access_action(std::string_view v) {
    v = trim(v);
    AccessAction a;
    if (v == "OK") return a;
    if (v == "RELAY") return AccessAction{AccessKind::relay, {}};
    if (v == "REJECT") return AccessAction{AccessKind::reject, {}};
    if (v == "DISCARD") return AccessAction{AccessKind::discard, {}};
    if (v == "SKIP") return AccessAction{AccessKind::skip, {}};
    if (v.substr(0, 6) != "ERROR:") return std::nullopt;
    v.remove_prefix(6);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    std::string dsn;
    // sendmail's ERROR:D.S.N:XXX text
    size_t colon = v.find(':');
    if (colon != std::string_view::npos && is_dsn(v.substr(0, colon))) {
        dsn = std::string(v.substr(0, colon));
        v.remove_prefix(colon + 1);
    }
    int code = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + std::min<size_t>(3, v.size()), code);
    if (ec != std::errc() || p != v.data() + 3 || code < 400 || code > 599) return std::nullopt;
    v.remove_prefix(3);
    v = trim(v);
    size_t len = 0;
    if (dsn.empty() && enhanced_code_prefix(v, len)) {
        dsn = std::string(v.substr(0, len));
        v = trim(v.substr(len));
    }
    if (dsn.empty()) dsn = code < 500 ? "4.7.1" : "5.7.1";
    if (dsn[0] - '0' != code / 100) return std::nullopt;
    a.kind = AccessKind::error;
    a.reply = make_reply(code, dsn, v.empty() ? "Access denied" : std::string(v));
    return a;
}

std::vector<std::string> access_client_keys(std::string_view tag, std::string_view addr) {
    std::vector<std::string> k;
    if (addr.find(':') != std::string_view::npos) {
        std::string a(addr);
        for (;;) {
            k.push_back("IPv6:" + a);
            size_t c = a.rfind(':');
            if (c == std::string::npos || c == 0) break;
            a.resize(c);
            while (!a.empty() && a.back() == ':')
                a.pop_back();
            if (a.empty()) break;
        }
    } else {
        std::string a(addr);
        for (;;) {
            k.push_back(a);
            size_t d = a.rfind('.');
            if (d == std::string::npos) break;
            a.resize(d);
        }
    }
    std::vector<std::string> out;
    both(out, tag, k);
    return out;
}

std::vector<std::string> access_address_keys(std::string_view tag, std::string_view address) {
    std::vector<std::string> k;
    size_t at = address.rfind('@');
    if (at == std::string_view::npos) {
        k.emplace_back(address);
    } else {
        k.emplace_back(address);
        std::string_view d = address.substr(at + 1);
        for (;;) {
            k.emplace_back(d);
            size_t dot = d.find('.');
            if (dot == std::string_view::npos) break;
            d.remove_prefix(dot + 1);
        }
        k.push_back(std::string(address.substr(0, at + 1)));
    }
    std::vector<std::string> out;
    both(out, tag, k);
    return out;
}

}  // namespace tegami::smtpd
