// dsn_params.hpp - the values of the DSN extension's ESMTP parameters (RFC 3461 4, with
// RFC 6533's utf-8 address type): MAIL's RET and ENVID, RCPT's NOTIFY and ORCPT, and the
// xtext coding they use. Pure functions over the parameter value (the part after '=')
// called by lib/mail/smtp_command.cpp for each parameter; the remote client and the
// queue's reports use the encoders. Trusts nothing: every error is the reply to send,
// always 501 5.5.4 (a bad value; an unknown keyword is the caller's 555).
//
// Decisions:
//  - NOTIFY is NEVER alone, or a comma list of SUCCESS, FAILURE, DELAY (any case), each
//    at most once; an empty value or an empty item is refused.
//  - RET is FULL or HDRS (any case).
//  - ENVID is xtext of at most 100 characters as sent (RFC 3461 4.4), decoded to
//    printable US-ASCII (space included); stored and handed on decoded.
//  - ORCPT is addr-type ";" value, at most 500 characters as sent (RFC 3461 4.2). The
//    type is an RFC 5322 atom, kept in lower case. For "rfc822" and other types the value
//    is xtext decoded, and must be free of control characters and valid UTF-8 (some
//    clients encode a UTF-8 address in an rfc822 ORCPT; it is kept, and re-encoded as
//    xtext wherever it is written). For "utf-8" (RFC 6533 3) it is
//    utf-8-addr-xtext, or utf-8-addr-unitext (raw UTF-8) when the transaction declared
//    SMTPUTF8, with \x{HEX} escapes; decoded to UTF-8. The result is "type;address"
//    ("rfc822;alice@example.org"), the form every later process carries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/mail/reply.hpp"

namespace tegami {

// The NOTIFY bits, the values of lib/ipc/messages.hpp kNotify* (0 = not given).
constexpr uint32_t kDsnNotifyNever = 1u << 0;
constexpr uint32_t kDsnNotifySuccess = 1u << 1;
constexpr uint32_t kDsnNotifyFailure = 1u << 2;
constexpr uint32_t kDsnNotifyDelay = 1u << 3;

enum class DsnRet : uint8_t { none, full, hdrs };

constexpr size_t kMaxEnvidLength = 100;
constexpr size_t kMaxOrcptLength = 500;

ReplyOr<uint32_t> parse_notify(std::string_view value);
ReplyOr<DsnRet> parse_ret(std::string_view value);
// The decoded envelope ID.
ReplyOr<std::string> parse_envid(std::string_view value);
// "type;decoded-address"; utf8_allowed: the transaction declared SMTPUTF8.
ReplyOr<std::string> parse_orcpt(std::string_view value, bool utf8_allowed);

// RFC 3461 4: "+XX" (upper-case hex) for '+', '=', and bytes outside '!'..'~'.
std::string xtext_encode(std::string_view s);
// False on a bad escape (lower-case hex, short, "+" at the end) or a byte outside
// '!'..'~'.
bool xtext_decode(std::string_view s, std::string& out);
// RFC 6533 utf-8-addr-xtext: printable ASCII except '+', '=', '\' as is, everything
// else as \x{HEX} of its code point. s must be valid UTF-8.
std::string utf8_addr_xtext_encode(std::string_view s);
// "type;address" as stored -> the ORCPT parameter value to send ("rfc822;a+2Bb@c"), always
// 7-bit: a utf-8 address as utf-8-addr-xtext (RFC 6533 3: fit for a peer with or without
// SMTPUTF8; it holds no '+', '=' or byte outside '!'..'~', so it is its own xtext), any
// other type as xtext. "" when the stored value is not one parse_orcpt could have
// produced (a bad type, controls, invalid UTF-8) or the result is over 500 characters
// (RFC 3461 4.2): the parameter is then left out, never sent malformed.
std::string orcpt_param_value(std::string_view stored);
// "type;address" as stored -> the Original-Recipient field value ("rfc822; a@b"), ASCII.
std::string orcpt_field_value(std::string_view stored);
// The NOTIFY value to send for bits (""; "NEVER"; "SUCCESS,FAILURE", ...).
std::string notify_value(uint32_t bits);

}  // namespace tegami
