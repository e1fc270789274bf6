// reply.cpp - see reply.hpp. Pure formatting; control characters in the text become '?'
// so no reply can carry a CR or LF of its own (reply splitting).
#include "lib/mail/reply.hpp"

#include <cstdio>

namespace tegami {

namespace {

void append_code(std::string& out, int code, char sep) {
    char buf[8];
    int n = std::snprintf(buf, sizeof buf, "%03d%c", code % 1000, sep);
    out.append(buf, static_cast<size_t>(n));
}

void append_text(std::string& out, std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
}

void append_line(std::string& out, int code, char sep, std::string_view enhanced,
                 std::string_view text) {
    append_code(out, code, sep);
    if (!enhanced.empty()) {
        out.append(enhanced);
        if (!text.empty()) out.push_back(' ');
    }
    append_text(out, text);
    out.append("\r\n");
}

bool digits(std::string_view s, size_t& pos, size_t max) {
    size_t start = pos;
    while (pos < s.size() && pos - start < max && s[pos] >= '0' && s[pos] <= '9')
        ++pos;
    return pos > start;
}

}  // namespace

void append_reply(std::string& out, const Reply& r) {
    append_line(out, r.code, ' ', r.enhanced, r.text);
}

std::string format_reply(const Reply& r) {
    std::string out;
    out.reserve(16 + r.enhanced.size() + r.text.size());
    append_reply(out, r);
    return out;
}

std::string format_multiline(int code, std::string_view enhanced,
                             const std::vector<std::string>& lines) {
    std::string out;
    if (lines.empty()) {
        append_line(out, code, ' ', enhanced, "");
        return out;
    }
    for (size_t i = 0; i < lines.size(); ++i)
        append_line(out, code, i + 1 == lines.size() ? ' ' : '-', enhanced, lines[i]);
    return out;
}

bool enhanced_code_prefix(std::string_view s, size_t& len) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    size_t pos = 2;
    if (!digits(s, pos, 3) || pos >= s.size() || s[pos] != '.') return false;
    ++pos;
    if (!digits(s, pos, 3)) return false;
    if (pos < s.size() && s[pos] != ' ') return false;
    len = pos;
    return true;
}

}  // namespace tegami
