// dot_stuff.hpp - the outgoing form of a message body for SMTP DATA (RFC 5321 4.5.2):
// every line ends in CRLF, a line starting with "." gets a second one, and the body ends
// with "CRLF.CRLF". Called by the remote agent's SMTP client for each message it sends.
// Pure; trusts nothing in the body: a lone LF or a lone CR becomes CRLF, so the next hop
// never sees a bare line ending (no SMTP smuggling look-alike), and a missing final line
// ending is added.
#pragma once

#include <string>
#include <string_view>

namespace tegami {

// Appends the DATA form of body (including the terminating ".\r\n") to out.
void append_dot_stuffed(std::string& out, std::string_view body);

// True when body holds an octet of 0x80 or above (needs BODY=8BITMIME).
bool has_8bit(std::string_view body);

}  // namespace tegami
