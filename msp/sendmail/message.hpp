// message.hpp - what sendmail does to a message read from its standard input before it
// hands it on: line ends, the lone-dot rule, over-long lines, the header block (-t
// recipients, Bcc removed, From:/Date:/Message-Id: added when missing, the
// X-Authentication-Warning for an untrusted -f). Pure functions, no I/O.
//
// Called by the submission path (submit.cpp) only AFTER the MSP group was given up:
// this is the RFC 5322 parsing STYLE.md keeps out of set-group-ID code. Trusts nothing
// in the message. Invariants of a normalized message: every line ends in CRLF, no line
// is longer than 998 octets before its CRLF, no bare CR or LF remains, it ends in CRLF
// (or is empty). NUL and 8-bit octets are kept as they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::msp {

constexpr size_t kMaxLine = 998;  // octets before CRLF (RFC 5322 2.1.1)

// Streaming normalizer fed the caller's bytes in pieces of any size:
//  - LF, CRLF and a lone CR all end a line; each becomes CRLF;
//  - unless ignore_dots (-i), a line holding only "." ends the message (what follows
//    is not read: done() turns true);
//  - a body line longer than kMaxLine is broken as sendmail breaks lines over its
//    mailer's limit: the first kMaxLine-1 octets, "!", CRLF, then the rest;
//  - a header line longer than kMaxLine is folded (RFC 5322 2.2.3) before its last
//    space or tab that fits, so unfolding gives the field back unchanged; one with
//    nowhere to fold is broken as a body line but continues with a space, as sendmail
//    does, so that the fields after it stay in the header block;
//  - finish() ends a last line that had no newline.
class Normalizer {
  public:
    explicit Normalizer(bool ignore_dots) : ignore_dots_(ignore_dots) {}
    void feed(std::string_view in, std::string& out);
    void finish(std::string& out);
    bool done() const { return done_; }
    bool eight_bit() const { return eight_bit_; }

  private:
    void end_line(std::string& out);
    void break_line(std::string& out);
    bool ignore_dots_;
    bool done_ = false;
    bool in_header_ = true;     // no line so far has ended the header block
    bool after_field_ = false;  // the last line was a header field or its continuation
    bool first_line_ = true;
    bool after_cr_ = false;
    bool eight_bit_ = false;
    bool dot_unstuffed_ = false;  // this line lost a leading dot (or is a continuation)
    size_t line_len_ = 0;
    size_t line_start_ = 0;  // offset in out of the current line
};

// The header block of a normalized message: from the start up to the empty line (or
// the first line that is not a header field, or the end).
struct HeaderScan {
    size_t end = 0;  // offset just past the header block (the empty line not included)
    bool has_from = false, has_date = false, has_message_id = false;
    bool has_to = false;                  // To:, Cc: or Bcc: present
    bool resent = false;                  // Resent-* headers present: -t uses Resent-To/Cc/Bcc
    std::vector<std::string> recipients;  // To/Cc/Bcc (or Resent-*) addresses, in order
};
HeaderScan scan_headers(std::string_view msg);

// The addr-specs of an RFC 5322 address list ("A <a@x>, b@y (c), g: c@z;").
// Comments, quoted phrases, groups and source routes are understood; an unqualified
// name stays as written.
std::vector<std::string> parse_address_list(std::string_view value);

// The addresses in one recipient argument of the command line, which sendmail reads as
// an address list too ("alice, bob@x", "Alice <alice@x>"). An argument with no
// address in it comes back as it is, for the caller to refuse.
std::vector<std::string> argument_addresses(std::string_view arg);

struct HeaderEdits {
    std::string hostname;
    std::string from_address;  // the envelope sender, used for a missing From:
    std::string full_name;     // -F or the GECOS name; "" for none
    bool bare_from = false;    // -f named another address: "From: addr" without a name
    std::string date;          // rfc5322_date_now()
    std::string message_id;    // "<...@host>"
    std::string auth_warning;  // X-Authentication-Warning value, or ""
};
// Returns the message with Bcc: removed and the missing headers added (before the
// existing ones, as sendmail's header order has them). msg is normalized.
std::string edit_headers(std::string_view msg, const HeaderScan& scan, const HeaderEdits& e);

// "Full Name <addr>" with the phrase quoted when it holds specials.
std::string from_header_value(std::string_view full_name, std::string_view address);
// The full name in a passwd GECOS field (first comma field; '&' is the login name
// capitalized), as sendmail's MatchGECOS-free default.
std::string gecos_full_name(std::string_view gecos, std::string_view login);

}  // namespace tegami::msp
