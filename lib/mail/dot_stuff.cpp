// dot_stuff.cpp - see dot_stuff.hpp. One pass over the body with memchr (glibc's vector
// search) for the line endings; the output is reserved once.
#include "lib/mail/dot_stuff.hpp"

#include <algorithm>
#include <cstring>

namespace tegami {

namespace {

// The position of the next c at or after i, or size when there is none.
size_t next_of(std::string_view s, size_t i, char c) {
    if (i >= s.size()) return s.size();
    const void* p = std::memchr(s.data() + i, c, s.size() - i);
    return p ? static_cast<size_t>(static_cast<const char*>(p) - s.data()) : s.size();
}

}  // namespace

void append_dot_stuffed(std::string& out, std::string_view body) {
    out.reserve(out.size() + body.size() + body.size() / 64 + 5);
    bool line_start = true;
    size_t i = 0;
    // The next CR and LF at or after i, each searched again only once passed.
    size_t cr = next_of(body, 0, '\r'), lf = next_of(body, 0, '\n');
    while (i < body.size()) {
        if (cr < i) cr = next_of(body, i, '\r');
        if (lf < i) lf = next_of(body, i, '\n');
        // Copy the run up to the next CR or LF in one append.
        size_t j = std::min(cr, lf);
        if (j > i) {
            if (line_start && body[i] == '.') out.push_back('.');
            out.append(body.data() + i, j - i);
            line_start = false;
        }
        if (j == body.size()) break;
        // CRLF, a lone CR or a lone LF: each is one line ending, sent as CRLF.
        if (body[j] == '\r' && j + 1 < body.size() && body[j + 1] == '\n')
            i = j + 2;
        else
            i = j + 1;
        out.append("\r\n");
        line_start = true;
    }
    if (!line_start) out.append("\r\n");
    out.append(".\r\n");
}

bool dot_stuff_views(std::string_view body, std::vector<std::string_view>& out, size_t max_pieces) {
    static constexpr std::string_view kDot = ".", kEnd = ".\r\n";
    size_t first = out.size(), pieces = 0;
    auto give_up = [&] {
        out.resize(first);
        return false;
    };
    if (!body.empty() && (body.size() < 2 || body.substr(body.size() - 2) != "\r\n"))
        return give_up();
    size_t run = 0, lines = 0, i = 0;
    while (i < body.size()) {
        if (body[i] == '.') {
            if (++pieces + 2 > max_pieces) return give_up();
            if (i > run) out.push_back(body.substr(run, i - run));
            out.push_back(kDot);
            run = i;  // the dot itself starts the next run
        }
        size_t lf = next_of(body, i, '\n');
        if (lf == i || body[lf - 1] != '\r') return give_up();  // a lone LF
        ++lines;
        i = lf + 1;
    }
    // Every LF follows a CR; a lone CR remains possible: there must be one CR per line.
    size_t crs = 0;
    for (size_t c = next_of(body, 0, '\r'); c < body.size(); c = next_of(body, c + 1, '\r'))
        ++crs;
    if (crs != lines) return give_up();
    if (body.size() > run) out.push_back(body.substr(run));
    out.push_back(kEnd);
    return true;
}

bool has_8bit(std::string_view body) {
    return std::any_of(body.begin(), body.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace tegami
