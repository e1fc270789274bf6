// dot_stuff.hpp - the outgoing form of a message body for SMTP DATA (RFC 5321 4.5.2):
// every line ends in CRLF, a line starting with "." gets a second one, and the body ends
// with "CRLF.CRLF". Called by the remote agent's SMTP client for each message it sends.
// Pure; trusts nothing in the body: a lone LF or a lone CR becomes CRLF, so the next hop
// never sees a bare line ending (no SMTP smuggling look-alike), and a missing final line
// ending is added.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tegami {

// Appends the DATA form of body (including the terminating ".\r\n") to out.
void append_dot_stuffed(std::string& out, std::string_view body);

// The same DATA form without copying the body: appends to out the pieces that, written in
// order, make it: views into body and the static literals "." (before a line that starts
// with a dot) and ".\r\n" (the end). Only for a body of whole CRLF lines (the stored form
// of every message smtpd accepted): returns false and adds nothing when body holds a lone
// CR or LF, does not end in CRLF, or would need more than max_pieces pieces; the caller
// then copies with append_dot_stuffed.
bool dot_stuff_views(std::string_view body, std::vector<std::string_view>& out, size_t max_pieces);

// True when body holds an octet of 0x80 or above (needs BODY=8BITMIME).
bool has_8bit(std::string_view body);

}  // namespace tegami
