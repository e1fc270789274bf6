// smtp_command.hpp - SMTP command lines (RFC 5321 4.1): the verb and its argument,
// and the arguments of HELO/EHLO, MAIL FROM and RCPT TO with their ESMTP parameters.
// Pure parsers called by the smtpd session for each received line (without CRLF; the
// session has already enforced the line length and refused bare CR/LF). Nothing here
// trusts the line; errors come back as the reply to send.
//
// Grammar decisions (RFC 5321 4.1.2 with the tolerance most clients need):
//  - verbs and parameter keywords are case-insensitive; "FROM:" / "TO:" must follow
//    the verb after exactly one space with no space before the colon ("MAIL FROM :" is
//    501); spaces AFTER the colon are tolerated, as Postfix does, because many
//    clients send "MAIL FROM: <a@b>". The path must be in angle brackets.
//  - parameters are separated by one or more spaces; trailing spaces and tabs on
//    the line are ignored.
//  - MAIL parameters: SIZE=digits, BODY=7BIT|8BITMIME, SMTPUTF8 (no value), and DSN's
//    RET and ENVID; RCPT parameters: DSN's NOTIFY and ORCPT (values parsed by
//    lib/mail/dsn_params.hpp). A syntactically valid unknown keyword is 555 5.5.4, a bad
//    value or a repeated keyword 501 5.5.4.
//  - UTF-8 in a path is allowed only with SMTPUTF8 (MAIL's own parameter, or the
//    transaction's for RCPT); otherwise 553 5.6.7 (RFC 6531 3.7.4.1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/address.hpp"
#include "lib/mail/dsn_params.hpp"
#include "lib/mail/reply.hpp"

namespace tegami {

// xuid: Tegami's own, on the local (MSP) listener only: "XUID <uid>" from a trusted peer
// (the client-queue runner) names the submitter whose message it resends.
enum class Verb {
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    rset,
    noop,
    quit,
    help,
    vrfy,
    expn,
    starttls,
    auth,
    xuid,
    unknown
};

struct CommandLine {
    Verb verb = Verb::unknown;
    std::string_view name;  // the verb as sent
    std::string_view arg;   // after the first space, trailing blanks removed
};

CommandLine split_command(std::string_view line);
const char* verb_name(Verb v);  // lower case: "ehlo", "mail", ... "unknown"

enum class BodyType { none, seven_bit, eight_bit_mime };

struct MailParams {
    bool has_size = false;
    uint64_t size = 0;  // saturates at UINT64_MAX for absurd values
    BodyType body = BodyType::none;
    bool smtputf8 = false;
    DsnRet ret = DsnRet::none;  // RET=
    bool has_envid = false;
    std::string envid;  // ENVID=, decoded
    bool any = false;   // at least one parameter was given
};

struct MailCommand {
    Mailbox sender;  // null() for <>
    MailParams params;
};

struct RcptCommand {
    Mailbox rcpt;
    uint32_t notify = 0;  // NOTIFY= bits (kDsnNotify*); 0: not given
    std::string orcpt;    // ORCPT= as "type;decoded-address"; "" when not given
    bool any = false;     // at least one parameter was given
};

struct EsmtpParam {
    std::string_view keyword;
    std::string_view value;
    bool has_value = false;
};

// "FROM:<path> [params]"
ReplyOr<MailCommand> parse_mail(std::string_view arg);
// "TO:<path> [params]"; utf8_allowed when the transaction's MAIL had SMTPUTF8.
ReplyOr<RcptCommand> parse_rcpt(std::string_view arg, bool utf8_allowed);
// The HELO/EHLO argument: one word of printable ASCII (a domain or an address
// literal, not checked further, as most servers do). 501 5.5.4 when missing.
ReplyOr<std::string> parse_helo(std::string_view arg, bool ehlo);
// Space-separated esmtp-params (RFC 5321 4.1.2); values may hold UTF-8 if allowed.
ReplyOr<std::vector<EsmtpParam>> parse_params(std::string_view s, bool allow_utf8);
// xtext (RFC 3461 4): printable ASCII except '+' and '=', with "+XX" hex escapes.
bool valid_xtext(std::string_view s);

}  // namespace tegami
