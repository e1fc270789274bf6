// address.hpp - SMTP mailboxes and paths (RFC 5321 4.1.2, SMTPUTF8 per RFC 6531).
// Pure parsers over the client's bytes, called by smtp_command.cpp for MAIL FROM and
// RCPT TO. They trust nothing: every octet is checked against the grammar, lengths
// are bounded (local part 64, domain 255, path 256 octets, RFC 5321 4.5.3.1), and
// errors come back as the SMTP reply to send (501 5.1.7 for a sender, 501 5.1.3 for
// a recipient).
//
// Invariants of a parsed Mailbox: the local part is exactly as written (dot-string, or
// quoted-string with its quotes and escapes), the domain is lower-cased (ASCII letters
// only) or an address literal as written; `utf8` is set when either holds octets of
// 0x80 and above (well-formed UTF-8 checked); the caller decides whether UTF-8 was
// allowed (SMTPUTF8 given) and answers 553 5.6.7 otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lib/mail/reply.hpp"

namespace tegami {

enum class PathKind {
    reverse,  // MAIL FROM: <> allowed
    forward,  // RCPT TO: <Postmaster> without a domain allowed, <> not
};

constexpr size_t kMaxLocalPart = 64;
constexpr size_t kMaxDomain = 255;
constexpr size_t kMaxPath = 256;  // "<" local "@" domain ">"

struct Mailbox {
    std::string local;     // empty with an empty domain: the null reverse path <>
    std::string domain;    // empty for <Postmaster>
    std::string original;  // the mailbox exactly as the client wrote it (no route, no <>)
    bool utf8 = false;
    bool routed = false;  // a source route ("<@a,@b:x@y>") was given and dropped

    bool null() const { return local.empty() && domain.empty(); }
    // "local@domain", "Postmaster", or "" for the null path.
    std::string str() const;
};

// The one canonical form of an address that every process after smtpd compares, stores
// and splits: the local part unquoted when it needs no quotes ("alice" and "al\ice" are
// alice), else re-quoted with only '"' and '\' escaped; the domain lower-cased (ASCII
// letters; an address literal as written). Case of the local part is kept (RFC 5321
// 2.4: only the receiving host may fold it). Pure.
std::string canonical_local(std::string_view local);
std::string canonical_address(const Mailbox& m);
// Splits a canonical address at its last '@' (a quoted local part may hold '@') and
// returns the local part as the user meant it (unquoted). False without '@' or with an
// empty side.
bool split_canonical(std::string_view addr, std::string& local, std::string& domain);

// Parses a path "<[@route,@route:]local@domain>" at the start of s (source routes are
// accepted and dropped, RFC 5321 4.1.2 and appendix C). consumed receives the octets
// taken, up to and including '>'.
ReplyOr<Mailbox> parse_path(std::string_view s, PathKind kind, size_t& consumed);

// A domain: dot-separated labels of letters, digits and inner hyphens, each 1..63
// octets, 255 in all; with allow_utf8, octets >= 0x80 count as letters (U-labels).
bool valid_domain(std::string_view d, bool allow_utf8);
// "[1.2.3.4]", "[IPv6:...]" or "[tag:content]" (RFC 5321 4.1.3).
bool valid_address_literal(std::string_view lit);
bool valid_utf8(std::string_view s);
bool has_non_ascii(std::string_view s);
std::string lower_ascii(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

// The local part as the user meant it: a quoted-string's content with quoted-pairs
// resolved, a dot-string unchanged. Input must come from a parsed Mailbox.
std::string unquote_local(std::string_view local);

}  // namespace tegami
