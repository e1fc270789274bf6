// dsn_params.cpp - see dsn_params.hpp. Pure functions; every length is checked before
// anything is decoded.
#include "lib/mail/dsn_params.hpp"

#include "lib/mail/address.hpp"

namespace tegami {

namespace {

Reply bad(const std::string& what) {
    return make_reply(501, "5.5.4", "Bad parameter value: " + what);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool printable_ascii(std::string_view s, bool space_ok) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c > 0x7e || c < (space_ok ? 0x20 : 0x21)) return false;
    }
    return true;
}

// RFC 5322 atext.
bool atom_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
}

// One code point of valid UTF-8 at s[i]; advances i.
uint32_t next_code_point(std::string_view s, size_t& i) {
    auto c = static_cast<unsigned char>(s[i++]);
    if (c < 0x80) return c;
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    uint32_t cp = c & (0x3f >> extra);
    for (int k = 0; k < extra && i < s.size(); ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3f);
    return cp;
}

// RFC 6533 utf-8-addr-xtext / utf-8-addr-unitext -> UTF-8.
bool utf8_addr_decode(std::string_view s, bool unitext, std::string& out) {
    out.clear();
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '\\') {
            if (s.substr(i, 3) != "\\x{") return false;
            size_t close = s.find('}', i + 3);
            if (close == std::string_view::npos || close - (i + 3) < 2 || close - (i + 3) > 6)
                return false;
            uint32_t cp = 0;
            for (size_t k = i + 3; k < close; ++k) {
                char h = s[k];
                if (h >= 'a' && h <= 'f') h = static_cast<char>(h - 'a' + 'A');
                int v = hex_value(h);
                if (v < 0) return false;
                cp = cp * 16 + static_cast<uint32_t>(v);
            }
            // Only what may not appear literally: space, '+', '=', '\', and non-ASCII.
            bool ascii_ok = cp == 0x20 || cp == '+' || cp == '=' || cp == '\\';
            if (cp < 0x80 && !ascii_ok) return false;
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
            put_utf8(out, cp);
            i = close + 1;
        } else if ((c >= 0x21 && c <= 0x7e && c != '+' && c != '=') || (c >= 0x80 && unitext)) {
            out.push_back(static_cast<char>(c));  // QCHAR, or UTF-8 in utf-8-addr-unitext
            ++i;
        } else {
            return false;
        }
    }
    return !out.empty() && valid_utf8(out);
}

}  // namespace

std::string xtext_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string o;
    o.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            o.push_back(ch);
        } else {
            o.push_back('+');
            o.push_back(hex[c >> 4]);
            o.push_back(hex[c & 15]);
        }
    }
    return o;
}

bool xtext_decode(std::string_view s, std::string& out) {
    out.clear();
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '+') {
            if (i + 2 >= s.size()) return false;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c < '!' || c > '~' || c == '=') {
            return false;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return true;
}

std::string utf8_addr_xtext_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string o;
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = next_code_point(s, i);
        if (cp >= 0x21 && cp <= 0x7e && cp != '+' && cp != '=' && cp != '\\') {
            o.push_back(static_cast<char>(cp));
            continue;
        }
        std::string h;
        for (uint32_t v = cp; v; v >>= 4)
            h.insert(h.begin(), hex[v & 15]);
        while (h.size() < 2)
            h.insert(h.begin(), '0');
        o += "\\x{" + h + "}";
    }
    return o;
}

ReplyOr<uint32_t> parse_notify(std::string_view value) {
    if (value.empty()) return bad("NOTIFY is empty");
    if (iequals(value, "NEVER")) return kDsnNotifyNever;
    uint32_t bits = 0;
    while (true) {
        size_t comma = value.find(',');
        std::string_view item = value.substr(0, comma);
        uint32_t bit = 0;
        if (iequals(item, "SUCCESS"))
            bit = kDsnNotifySuccess;
        else if (iequals(item, "FAILURE"))
            bit = kDsnNotifyFailure;
        else if (iequals(item, "DELAY"))
            bit = kDsnNotifyDelay;
        else if (iequals(item, "NEVER"))
            return bad("NOTIFY=NEVER cannot be combined");
        else
            return bad("NOTIFY takes NEVER or SUCCESS,FAILURE,DELAY");
        if (bits & bit) return bad("NOTIFY names an event twice");
        bits |= bit;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return bits;
}

ReplyOr<DsnRet> parse_ret(std::string_view value) {
    if (iequals(value, "FULL")) return DsnRet::full;
    if (iequals(value, "HDRS")) return DsnRet::hdrs;
    return bad("RET takes FULL or HDRS");
}

ReplyOr<std::string> parse_envid(std::string_view value) {
    if (value.empty()) return bad("ENVID is empty");
    if (value.size() > kMaxEnvidLength) return bad("ENVID longer than 100 characters");
    std::string out;
    if (!xtext_decode(value, out)) return bad("ENVID is not xtext");
    if (!printable_ascii(out, true)) return bad("ENVID holds control characters");
    return out;
}

ReplyOr<std::string> parse_orcpt(std::string_view value, bool utf8_allowed) {
    if (value.size() > kMaxOrcptLength) return bad("ORCPT longer than 500 characters");
    size_t semi = value.find(';');
    if (semi == std::string_view::npos) return bad("ORCPT needs addr-type;address");
    std::string_view type = value.substr(0, semi), addr = value.substr(semi + 1);
    if (type.empty()) return bad("ORCPT address type is empty");
    for (char c : type)
        if (!atom_char(c)) return bad("ORCPT address type is not an atom");
    if (addr.empty()) return bad("ORCPT address is empty");
    std::string t(type);
    for (char& c : t)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    std::string decoded;
    if (t == "utf-8") {
        if (!utf8_addr_decode(addr, utf8_allowed, decoded))
            return bad("ORCPT is not utf-8-addr-xtext");
        for (char c : decoded)
            if (static_cast<unsigned char>(c) < 0x21 && c != ' ') return bad("ORCPT control");
    } else {
        if (!xtext_decode(addr, decoded)) return bad("ORCPT is not xtext");
        // Some clients xtext-encode UTF-8 in an rfc822 ORCPT: taken when it is UTF-8.
        for (char c : decoded)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("ORCPT control");
        if (!valid_utf8(decoded)) return bad("ORCPT is not UTF-8");
    }
    return t + ";" + decoded;
}

std::string orcpt_param_value(std::string_view stored) {
    size_t semi = stored.find(';');
    std::string_view type = "rfc822", addr = stored;
    if (semi != std::string_view::npos)
        type = stored.substr(0, semi), addr = stored.substr(semi + 1);
    if (type.empty() || addr.empty()) return "";
    for (char c : type)
        if (!atom_char(c)) return "";
    // The parser's rules again: a stored value is sent only as it could have been received.
    for (char ch : addr) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return "";
    }
    if (!valid_utf8(addr)) return "";
    std::string v = std::string(type) + ";";
    v += type == "utf-8" ? utf8_addr_xtext_encode(addr) : xtext_encode(addr);
    return v.size() > kMaxOrcptLength ? "" : v;
}

std::string orcpt_field_value(std::string_view stored) {
    size_t semi = stored.find(';');
    if (semi == std::string_view::npos) return "rfc822; " + std::string(stored);
    std::string_view type = stored.substr(0, semi), addr = stored.substr(semi + 1);
    if (type == "utf-8" && valid_utf8(addr)) return "utf-8; " + utf8_addr_xtext_encode(addr);
    if (printable_ascii(addr, true)) return std::string(type) + "; " + std::string(addr);
    return std::string(type) + "; " + xtext_encode(addr);
}

std::string notify_value(uint32_t bits) {
    if (bits & kDsnNotifyNever) return "NEVER";
    std::string n;
    if (bits & kDsnNotifySuccess) n += ",SUCCESS";
    if (bits & kDsnNotifyFailure) n += ",FAILURE";
    if (bits & kDsnNotifyDelay) n += ",DELAY";
    return n.empty() ? n : n.substr(1);
}

}  // namespace tegami
