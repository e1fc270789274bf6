// smtp_relay.cpp - see smtp_relay.hpp.
#include "msp/sendmail/smtp_relay.hpp"

#include <strings.h>

namespace tegami::msp {

namespace {

constexpr size_t kMaxPart = 64 * 1024;  // a longer line is not SMTP: stop counting

bool verb_is(std::string_view line, std::string_view verb) {
    if (line.size() < verb.size() || strncasecmp(line.data(), verb.data(), verb.size()) != 0)
        return false;
    return line.size() == verb.size() || line[verb.size()] == ' ';
}

// Calls f for each complete line in part + bytes (without its LF or CRLF); the rest
// stays in part.
template <typename F>
bool each_line(std::string& part, std::string_view bytes, F f) {
    part.append(bytes);
    size_t start = 0;
    for (size_t eol; (eol = part.find('\n', start)) != std::string::npos; start = eol + 1) {
        std::string_view line(part.data() + start, eol - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        f(line);
    }
    part.erase(0, start);
    return part.size() <= kMaxPart;
}

}  // namespace

void ReplyCounter::client_line(std::string_view line) {
    if (in_data_) {
        if (line == ".") {
            in_data_ = false;
            ++owed_;
        }
        return;
    }
    ++owed_;
    if (verb_is(line, "DATA")) in_data_ = true;
    if (verb_is(line, "BDAT") || verb_is(line, "STARTTLS")) counting_ = false;
}

void ReplyCounter::client_sent(std::string_view bytes) {
    if (!counting_) return;
    if (!each_line(client_part_, bytes, [&](std::string_view l) { client_line(l); }))
        counting_ = false;
}

void ReplyCounter::server_sent(std::string_view bytes) {
    if (!counting_) return;
    auto final_line = [&](std::string_view l) {
        if (l.size() == 3 || (l.size() > 3 && l[3] == ' ')) ++received_;
    };
    if (!each_line(server_part_, bytes, final_line)) counting_ = false;
}

}  // namespace tegami::msp
