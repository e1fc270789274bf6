// reply.hpp - SMTP replies: a three-digit code, an enhanced status code (RFC 3463,
// registry RFC 5248) and text, and their wire form. Every parser of SMTP input returns
// its error as a Reply (ReplyOr<T>), so the session only sends what the parser decided.
// Called by the SMTP parsers (lib/mail) and the smtpd session. Pure; trusts nothing in
// `text`: formatting replaces CR, LF and other control characters so a reply is always
// exactly the lines the caller meant.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami {

struct Reply {
    int code = 250;
    std::string enhanced;  // "2.1.0"; empty for the greeting, EHLO/HELO and 354
    std::string text;

    bool positive() const { return code >= 200 && code < 400; }
    bool transient() const { return code >= 400 && code < 500; }
    bool permanent() const { return code >= 500; }
};

inline Reply make_reply(int code, std::string enhanced, std::string text) {
    return Reply{code, std::move(enhanced), std::move(text)};
}

// "250 2.1.0 Ok\r\n" (enhanced code and a space only when present).
std::string format_reply(const Reply& r);
void append_reply(std::string& out, const Reply& r);
// "250-first\r\n250-second\r\n250 last\r\n"; each line prefixed by the enhanced code
// when given. An empty list formats as one line with no text.
std::string format_multiline(int code, std::string_view enhanced,
                             const std::vector<std::string>& lines);

// True when s starts with an enhanced status code "c.sss.ddd" (class 2, 4 or 5);
// len receives its length.
bool enhanced_code_prefix(std::string_view s, size_t& len);

// A value, or the reply that explains why there is none.
template <typename T>
using ReplyOr = ValueOr<T, Reply>;

}  // namespace tegami
