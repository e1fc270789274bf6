// verbs.hpp - the SMTP protocol as a table (RFC 5321, with ESMTP PIPELINING, SIZE,
// 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8). Each verb has
//   check   : pure; state + argument -> a reply (refusal) or nothing (go on), filling
//             the parsed arguments;
//   policy  : SessionHost::policy, between the two; may suspend the session;
//   proceed : the side effects (state changes, recipient lookup, queue hand-off); its
//             reply, or nothing when the answer comes later (the queue).
// STARTTLS (RFC 3207) and AUTH (RFC 4954, through SessionHost's hook) are rows too.
// The end of data is one more row ("."), so its checks and its policy step (DKIM,
// milters later) look like any command's. Called by session.cpp only.
//
// Replies: every reply after the greeting carries an enhanced status code except
// those RFC 2034 exempts (the EHLO/HELO replies, whose lines are keywords) and 354,
// which has no enhanced class. A '\n' in a reply's text separates the lines of a
// multiline reply; client text never holds an LF (lines are split at LF).
#pragma once

#include <optional>
#include <string_view>

#include "smtpd/server/session_state.hpp"

namespace tegami::smtpd {

struct VerbSpec {
    const char* name;   // "mail", or "." for the end of data, "connect" before the greeting
    Verb verb;          // Verb::unknown for unknown commands and the end of data
    bool command;       // counted as a command (false for the end of data)
    PolicyStage stage;  // the policy stage between check and proceed (none: no policy)
    std::optional<Reply> (*check)(const SessionState& st, std::string_view arg, CommandArgs& out);
    std::optional<Reply> (*proceed)(SessionState& st, SessionHost& host, CommandArgs& args);
};

const VerbSpec& verb_spec(Verb v);
const VerbSpec& end_of_data_spec();
const VerbSpec& connect_spec();  // the connect stage: policy only, before the greeting

// The per-verb gate by role and state, before a verb's check: on msa and smtps only
// EHLO, HELO, STARTTLS, AUTH, NOOP, RSET, QUIT and HELP before AUTH (530 5.7.0).
std::optional<Reply> gate(const SessionState& st, Verb v);

// The EHLO reply's keyword lines, from the table of what the listener and the session's
// state offer (STARTTLS only with a certificate and not yet under TLS; AUTH only when
// the auth hook names mechanisms).
std::string ehlo_keywords(const SessionState& st, SessionHost& host);

// The reply to the queue's answer (SubmitResultMsg status and text).
Reply submit_reply(uint32_t status, std::string_view text, std::string_view queue_id);

}  // namespace tegami::smtpd
