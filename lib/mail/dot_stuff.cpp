// dot_stuff.cpp - see dot_stuff.hpp. One pass over the body; the output is reserved once.
#include "lib/mail/dot_stuff.hpp"

#include <algorithm>

namespace tegami {

void append_dot_stuffed(std::string& out, std::string_view body) {
    out.reserve(out.size() + body.size() + body.size() / 64 + 5);
    bool line_start = true;
    size_t i = 0;
    while (i < body.size()) {
        // Copy the run up to the next CR or LF in one append.
        size_t j = body.find_first_of("\r\n", i);
        if (j == std::string_view::npos) j = body.size();
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

bool has_8bit(std::string_view body) {
    return std::any_of(body.begin(), body.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace tegami
