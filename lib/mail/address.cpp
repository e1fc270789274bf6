// address.cpp - see address.hpp. Pure; a hand-written recursive-descent scanner over
// the client's octets, one function per grammar rule of RFC 5321 4.1.2.
#include "lib/mail/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tegami {

namespace {

bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_atext(unsigned char c) {
    return is_alpha(c) || is_digit(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c));
}
bool is_qtext(unsigned char c) {
    return c == 32 || c == 33 || (c >= 35 && c <= 126 && c != 92);
}

Reply syntax_error(PathKind kind, const char* what) {
    if (kind == PathKind::reverse)
        return make_reply(501, "5.1.7", std::string("Bad sender address syntax: ") + what);
    return make_reply(501, "5.1.3", std::string("Bad recipient address syntax: ") + what);
}

// Cursor over the client's text.
struct Scan {
    std::string_view s;
    size_t pos = 0;
    bool utf8 = false;
    bool at(char c) const { return pos < s.size() && s[pos] == c; }
    unsigned char cur() const { return pos < s.size() ? static_cast<unsigned char>(s[pos]) : 0; }
};

// Dot-string = Atom *("." Atom); returns false on an empty atom or a bad octet.
bool scan_dot_string(Scan& sc) {
    bool need_atom = true;
    while (sc.pos < sc.s.size()) {
        unsigned char c = sc.cur();
        if (c == '.') {
            if (need_atom) return false;
            need_atom = true;
        } else if (is_atext(c) || c >= 0x80) {
            if (c >= 0x80) sc.utf8 = true;
            need_atom = false;
        } else {
            break;
        }
        ++sc.pos;
    }
    return !need_atom;
}

// Quoted-string = DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE
bool scan_quoted_string(Scan& sc) {
    ++sc.pos;  // opening quote
    while (sc.pos < sc.s.size()) {
        unsigned char c = sc.cur();
        if (c == '"') {
            ++sc.pos;
            return true;
        }
        if (c == '\\') {
            ++sc.pos;
            unsigned char q = sc.cur();
            if (q < 32 || q > 126) return false;
        } else if (c >= 0x80) {
            sc.utf8 = true;
        } else if (!is_qtext(c)) {
            return false;
        }
        ++sc.pos;
    }
    return false;
}

// A domain or address literal, ending before any of `stops`.
bool scan_domain(Scan& sc, const char* stops, bool& literal) {
    size_t start = sc.pos;
    literal = sc.at('[');
    if (literal) {
        size_t close = sc.s.find(']', sc.pos);
        if (close == std::string_view::npos) return false;
        sc.pos = close + 1;
        return valid_address_literal(sc.s.substr(start, sc.pos - start));
    }
    while (sc.pos < sc.s.size() && !std::strchr(stops, sc.s[sc.pos]))
        ++sc.pos;
    std::string_view d = sc.s.substr(start, sc.pos - start);
    if (has_non_ascii(d)) sc.utf8 = true;
    return valid_domain(d, true);
}

// A-d-l = At-domain *( "," At-domain ) ":" -- accepted and dropped.
bool scan_source_route(Scan& sc) {
    for (;;) {
        if (!sc.at('@')) return false;
        ++sc.pos;
        bool literal = false;
        if (!scan_domain(sc, ",:>", literal)) return false;
        if (sc.at(':')) {
            ++sc.pos;
            return true;
        }
        if (!sc.at(',')) return false;
        ++sc.pos;
    }
}

bool valid_ipv4(std::string_view s) {
    if (s.size() > 15) return false;
    char buf[16];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = 0;
    in_addr a;
    return inet_pton(AF_INET, buf, &a) == 1;
}

bool valid_ipv6(std::string_view s) {
    if (s.size() > 45) return false;
    char buf[46];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = 0;
    in6_addr a;
    return inet_pton(AF_INET6, buf, &a) == 1;
}

}  // namespace

std::string Mailbox::str() const {
    if (domain.empty()) return local;
    std::string out;
    out.reserve(local.size() + 1 + domain.size());
    out.append(local).push_back('@');
    out.append(domain);
    return out;
}

bool has_non_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return true;
    return false;
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9 || c == 0xc0 || c == 0xc1 || c > 0xf4) return false;
        if (n > 0 && i + n >= s.size()) return false;
        uint32_t cp = n == 0 ? c : c & (0x3f >> n);
        for (size_t k = 1; k <= n; ++k) {
            auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool valid_domain(std::string_view d, bool allow_utf8) {
    if (d.empty() || d.size() > kMaxDomain) return false;
    size_t label = 0;
    unsigned char prev = '.';
    for (size_t i = 0; i <= d.size(); ++i) {
        unsigned char c = i < d.size() ? static_cast<unsigned char>(d[i]) : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || prev == '-') return false;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || (allow_utf8 && c >= 0x80)) {
            ++label;
        } else if (c == '-') {
            if (label == 0) return false;
            ++label;
        } else {
            return false;
        }
        prev = c;
    }
    return !allow_utf8 || valid_utf8(d);
}

bool valid_address_literal(std::string_view lit) {
    if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') return false;
    std::string_view in = lit.substr(1, lit.size() - 2);
    // Printable ASCII only (RFC 5321 dcontent), checked before inet_pton sees a C string
    // that a NUL byte would cut short.
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126) return false;
    }
    if (in.size() > 5 && iequals(in.substr(0, 5), "IPv6:")) return valid_ipv6(in.substr(5));
    size_t colon = in.find(':');
    if (colon == std::string_view::npos) return valid_ipv4(in);
    // General-address-literal = Standardized-tag ":" 1*dcontent
    std::string_view tag = in.substr(0, colon), content = in.substr(colon + 1);
    if (tag.empty() || content.empty() || !valid_domain(tag, false) || tag.find('.') != tag.npos)
        return false;
    for (char ch : content) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126 || (c >= 91 && c <= 93)) return false;
    }
    return true;
}

std::string unquote_local(std::string_view local) {
    if (local.size() < 2 || local.front() != '"') return std::string(local);
    std::string out;
    for (size_t i = 1; i + 1 < local.size(); ++i) {
        if (local[i] == '\\' && i + 2 < local.size()) ++i;
        out.push_back(local[i]);
    }
    return out;
}

namespace {

bool dot_string(std::string_view s) {
    Scan sc{s};
    return scan_dot_string(sc) && sc.pos == s.size();
}

}  // namespace

std::string canonical_local(std::string_view local) {
    std::string plain = unquote_local(local);
    if (dot_string(plain)) return plain;
    std::string out = "\"";
    for (char c : plain) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string canonical_address(const Mailbox& m) {
    if (m.null()) return {};
    std::string out = canonical_local(m.local);
    if (m.domain.empty()) return out;
    out.push_back('@');
    out += m.domain;
    return out;
}

bool split_canonical(std::string_view addr, std::string& local, std::string& domain) {
    size_t at = addr.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == addr.size()) return false;
    local = unquote_local(addr.substr(0, at));
    domain.assign(addr.substr(at + 1));
    return !local.empty();
}

ReplyOr<Mailbox> parse_path(std::string_view s, PathKind kind, size_t& consumed) {
    Scan sc{s};
    if (!sc.at('<')) return syntax_error(kind, "missing <");
    ++sc.pos;
    bool routed = sc.at('@');
    if (routed && !scan_source_route(sc)) return syntax_error(kind, "bad source route");
    if (sc.at('>')) {
        if (kind == PathKind::forward || routed) return syntax_error(kind, "empty address");
        consumed = sc.pos + 1;
        return Mailbox{};
    }
    size_t lstart = sc.pos;
    bool ok = sc.at('"') ? scan_quoted_string(sc) : scan_dot_string(sc);
    if (!ok || sc.pos == lstart) return syntax_error(kind, "bad local part");
    Mailbox mb;
    mb.routed = routed;
    mb.local.assign(s.substr(lstart, sc.pos - lstart));
    if (mb.local.size() > kMaxLocalPart) return syntax_error(kind, "local part too long");
    if (sc.at('>') && kind == PathKind::forward && !routed && iequals(mb.local, "postmaster")) {
        mb.original = mb.local;
        consumed = sc.pos + 1;
        return mb;
    }
    if (!sc.at('@')) return syntax_error(kind, "missing @domain");
    ++sc.pos;
    size_t dstart = sc.pos;
    bool literal = false;
    if (!scan_domain(sc, ">", literal)) return syntax_error(kind, "bad domain");
    if (!sc.at('>')) return syntax_error(kind, "missing >");
    std::string_view d = s.substr(dstart, sc.pos - dstart);
    if (d.size() > kMaxDomain) return syntax_error(kind, "domain too long");
    mb.domain = literal ? std::string(d) : lower_ascii(d);
    if (mb.local.size() + mb.domain.size() + 3 > kMaxPath)
        return syntax_error(kind, "path too long");
    mb.utf8 = sc.utf8;
    if (mb.utf8 && !valid_utf8(mb.local)) return syntax_error(kind, "malformed UTF-8");
    mb.original.assign(s.substr(lstart, sc.pos - lstart));
    consumed = sc.pos + 1;
    return mb;
}

}  // namespace tegami
