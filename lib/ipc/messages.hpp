// messages.hpp - the layout of every message in wire.hpp, as structs with one encoder
// and one strict decoder each, both made from the message's field list in messages.cpp
// (Fields<M>). Adding a field means adding it to the struct here and to its field list,
// and bumping kVersion in wire.hpp; nothing else in the suite builds or splits frames by
// hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ipc/wire.hpp"

namespace tegami::ipc {

// master -> daemon, with one descriptor: a bound listening socket.
struct ListenerMsg {
    std::string role;  // "mta" (later "msa", "smtps"), "local" (the MSP socket), or
                       // "queue"/"deliver"/"control" for internal Unix sockets
    std::string name;  // printable address, "127.0.0.1:2525" or a socket path
};

// Message flags carried in the envelope.
constexpr uint32_t kFlag8BitMime = 1u << 0;  // BODY=8BITMIME
constexpr uint32_t kFlagSmtputf8 = 1u << 1;  // SMTPUTF8
constexpr uint32_t kFlagRetFull = 1u << 2;   // DSN RET=FULL
constexpr uint32_t kFlagRetHdrs = 1u << 3;   // DSN RET=HDRS (neither: RET not given)
// SubmitMsg only, never stored: the content came before as BodyChunkMsg frames on this
// channel, and SubmitMsg.body holds only the header block smtpd puts before it.
constexpr uint32_t kFlagStreamedBody = 1u << 16;

// smtpd -> queue: one complete message. The body is the message as received after
// dot-unstuffing, with smtpd's Received header first, lines ending in CRLF.
struct SubmitMsg {
    uint64_t request_id = 0;
    std::string queue_id;  // named by smtpd at MAIL (lib/core/queue_id.hpp); never reused
    std::string sender;    // empty for the null reverse path <>
    // Each recipient in its one canonical form (lib/mail/address.hpp canonical_address:
    // local part unquoted unless it needs quotes, domain lower-cased), as every later
    // process compares and splits it; orcpts[i] is the recipient as the client wrote it
    // (for ORCPT and DSNs). orcpts is empty (older senders) or as long as recipients.
    std::vector<std::string> recipients;
    std::vector<std::string> orcpts;
    std::string client_addr;  // "127.0.0.1", "::1"
    std::string client_name;  // "localhost" or "unknown"
    std::string helo;
    std::string protocol;  // "SMTP", "ESMTP", "ESMTPS", "ESMTPA", ...
    uint32_t flags = 0;
    // DSN (RFC 3461): ENVID decoded ("" when none); per recipient the NOTIFY bits
    // (kNotify*, 0 = not given) and the ORCPT parameter as "type;decoded-address" ("" when
    // not given). Each of notify and dsn_orcpts is empty or as long as recipients.
    std::string envid;
    std::vector<uint32_t> notify;
    std::vector<std::string> dsn_orcpts;
    std::string body;
};

// Reply classes used by every *_result message.
constexpr uint32_t kStatusOk = 2;
constexpr uint32_t kStatusTemp = 4;
constexpr uint32_t kStatusPerm = 5;

// smtpd -> queue: a streamed body (doc/QUEUE.md "Streamed bodies"). A message's content
// (after dot-unstuffing, CRLF lines) in chunks numbered 1, 2, ... in order, each at
// most smtpd_data_buffer_size, sent as it arrives; the queue stores each at once. The
// SubmitMsg with kFlagStreamedBody that follows on the same channel completes it.
struct BodyChunkMsg {
    std::string queue_id;
    uint32_t index = 0;  // 1 for the first chunk
    std::string data;
};

// queue -> smtpd: one per chunk, in order. status kStatusOk (stored), or kStatusTemp with
// text "4.3.0 ..." (the message cannot be queued: smtpd reads the rest and answers 451).
// index 0: the whole stream is lost (smtpd's own answer when the channel closed).
struct BodyChunkResultMsg {
    std::string queue_id;
    uint32_t index = 0;
    uint32_t status = kStatusTemp;
    std::string text;
};

// smtpd -> queue: the transaction ended without a SubmitMsg (refused at the end of data,
// RSET, the client went away): the queue removes the chunks it stored. No reply.
struct BodyAbortMsg {
    std::string queue_id;
};

// queue -> smtpd, just before the answer to chunk 1 (stored): lends queue_id's body file,
// one descriptor open for writing whose offset is where the content continues. smtpd
// writes the rest of the content there itself instead of sending further chunks, and
// closes it before the SubmitMsg. Not sent by a store that takes chunks only.
struct BodyWriterMsg {
    std::string queue_id;
};

// queue -> smtpd: sent only after the message is on stable storage (status 2), or
// when it was refused (4/5). text is an enhanced status code and words, "4.3.0 ...".
struct SubmitResultMsg {
    uint64_t request_id = 0;
    uint32_t status = kStatusTemp;
    std::string queue_id;
    std::string text;
};

// DSN NOTIFY bits of a recipient (RFC 3461); 0 means none given (the default: failure).
constexpr uint32_t kNotifyNever = 1u << 0;
constexpr uint32_t kNotifySuccess = 1u << 1;
constexpr uint32_t kNotifyFailure = 1u << 2;
constexpr uint32_t kNotifyDelay = 1u << 3;

// One due recipient of a DeliverMsg. index is the recipient's position in the queue's
// envelope (results name it); address is canonical (see SubmitMsg); orcpt is the ORCPT to
// pass on as "type;address" (the client's ORCPT, else "rfc822;" and the address as the
// client wrote it when that differs from the canonical one), "" for none.
struct DeliverRcpt {
    uint32_t index = 0;
    std::string address;
    std::string orcpt;
    uint32_t notify = 0;
};

// queue -> delivery agent: every due recipient of one message for one agent and next
// hop. The body (header and body as queued, CRLF lines) travels as the one descriptor
// attached to the frame, and is the range [body_offset, body_offset + body_size) of it:
// the queue's own body file, opened read-only (a streamed message; written once, never
// changed while queued), or a sealed memfd of exactly body_size bytes (body_offset 0).
// The agent maps or reads the range, never gets it inline.
struct DeliverMsg {
    uint64_t request_id = 0;
    std::string queue_id;
    std::string sender;
    std::vector<DeliverRcpt> recipients;  // at least one
    std::string next_hop;                 // "" for local; the remote agent's destination
    std::string envid;                    // DSN ENVID, "" when none
    uint32_t flags = 0;
    uint64_t arrival_time = 0;  // seconds since the epoch
    uint64_t body_size = 0;
    uint64_t body_offset = 0;
};

// The outcome for one recipient: status kStatusOk/Temp/Perm, dsn "2.0.0"/"4.x.x"/"5.x.x",
// text for logs and bounces.
struct RcptResult {
    uint32_t index = 0;
    uint32_t status = kStatusTemp;
    std::string dsn;
    std::string text;
    uint32_t flags = 0;  // kResult*: how a success was reached, for NOTIFY=SUCCESS
};
// RcptResult.flags for status kStatusOk (neither: delivered here, Action: delivered).
constexpr uint32_t kResultRelayed = 1u << 0;    // handed to a peer without DSN: "relayed"
constexpr uint32_t kResultDsnPassed = 1u << 1;  // the peer took NOTIFY: it reports, not us
// An alias or .forward expanded the recipient to more than one (RFC 3461 6.2.1(c)):
// "expanded"; the new recipients (DeliverRedirectMsg) do not inherit NOTIFY=SUCCESS.
constexpr uint32_t kResultExpanded = 1u << 2;

// agent -> queue: one result per recipient of the request (any order; a recipient the
// agent did not answer for is rescheduled unchanged).
struct DeliverResultMsg {
    uint64_t request_id = 0;
    std::vector<RcptResult> results;
    std::string relay;  // "local", "mbox", "maildir", "lmtp:...": for the relay= log field
    // For the delays= log field, when the agent measures them (0 and 0: it does not):
    // connection setup (DNS, connect, greeting, EHLO, TLS, AUTH) and transmission (MAIL
    // to the last reply), in milliseconds.
    uint32_t setup_ms = 0;
    uint32_t xfer_ms = 0;
};

// local -> queue, before the DeliverResultMsg of the same request: recipient `index`
// expanded (alias, .forward, virtusertable) to addresses local does not deliver itself:
// another domain's (route kRedirectAddress: the queue routes them, to smtp say), or a
// local user's mailbox for mailbox_transport (kRedirectMailbox: LMTP). The queue adds
// them to the envelope in the same transaction that makes `index` final, and only then
// (a deferred result drops them: the next attempt expands again). At most
// kMaxRedirects addresses per recipient. A target with a sender (owner-LIST: a member
// of a list that has an owner, reached in another domain or failed here) goes instead
// into a new message from that sender, so that the list's bounces go to its owner.
constexpr uint32_t kRedirectAddress = 0;
constexpr uint32_t kRedirectMailbox = 1;
constexpr size_t kMaxRedirects = 1000;
struct RedirectTarget {
    std::string address;  // canonical
    uint32_t route = kRedirectAddress;
    std::string sender = {};  // "": the message's own; else the new message's sender
};
struct DeliverRedirectMsg {
    uint64_t request_id = 0;
    uint32_t index = 0;
    std::vector<RedirectTarget> targets;
};

// sendmail -> queue on the control socket. ids: exact queue IDs (for run: none means
// every message). Only root and the suite's own user may run, hold, release or delete.
enum class ControlOp : uint32_t { list = 1, run = 2, hold = 3, release = 4, remove = 5 };
struct ControlRequestMsg {
    ControlOp op = ControlOp::list;
    std::vector<std::string> ids;
    std::string reason;  // hold: why (shown by mailq)
};

// queue -> sendmail: the queue as the caller may see it.
struct ControlRecipient {
    std::string address;
    std::string state;  // "pending", "deferred", "sent", "failed"
    std::string dsn;
    std::string text;
    uint64_t next_try = 0;
};
struct ControlEntry {
    std::string queue_id;
    uint32_t flags = 0;  // kControlActive, kControlHeld, kControlHidden
    uint64_t size = 0;
    uint64_t arrival = 0;
    std::string sender;
    std::string reason;  // hold reason
    std::vector<ControlRecipient> recipients;
};
constexpr uint32_t kControlActive = 1u << 0;  // a delivery is in flight
constexpr uint32_t kControlHeld = 1u << 1;    // held by an administrator
constexpr uint32_t kControlHidden = 1u << 2;  // another user's: no sender, no recipients
struct ControlListMsg {
    std::vector<ControlEntry> entries;
};
// status: kStatusOk, or kStatusPerm with text "Permission denied" / "No such message".
struct ControlResultMsg {
    uint32_t status = kStatusOk;
    uint32_t count = 0;  // messages affected
    std::string text;
};

// ---- smtpd <-> auth. SASL payloads travel decoded (smtpd checks the base64 and
// answers 501 itself); they are credentials: neither side ever logs them.
constexpr uint32_t kAuthTls = 1u << 0;  // AuthStartMsg.flags: the session is under TLS

// smtpd -> auth: AUTH mechanism [initial-response].
struct AuthStartMsg {
    uint64_t request_id = 0;   // names the conversation in every later step and reply
    std::string mechanism;     // upper case, as the client sent it
    uint32_t has_initial = 0;  // 1: an initial response was given ("=" is an empty one)
    std::string initial;
    std::string client_addr;      // "192.0.2.1": the failure counters and penalty box key
    std::string channel_binding;  // RFC 9266 tls-exporter bytes; empty without TLS
    uint32_t flags = 0;
    std::string local_addr;   // the address the client connected to; empty when unknown
    uint32_t local_port = 0;  // its port, 0 when unknown
};

// smtpd -> auth: the client's response to the last challenge.
struct AuthStepMsg {
    uint64_t request_id = 0;
    std::string response;
};

// smtpd -> auth: forget a conversation (the client sent "*", or the session ended).
struct AuthCancelMsg {
    uint64_t request_id = 0;
};

// smtpd -> auth: is this client address in the penalty box? (answered with auth_reply,
// status kAuthOk or kAuthBlocked)
struct AuthCheckMsg {
    uint64_t request_id = 0;
    std::string client_addr;
};

// AuthReplyMsg.status
constexpr uint32_t kAuthContinue = 1;   // 334 challenge
constexpr uint32_t kAuthOk = 2;         // 235 2.7.0; login is set
constexpr uint32_t kAuthTemp = 4;       // 454 4.7.0: the backend cannot answer now
constexpr uint32_t kAuthFail = 5;       // 535 5.7.8
constexpr uint32_t kAuthMalformed = 6;  // 501 5.5.2: the SASL message breaks its syntax
constexpr uint32_t kAuthBlocked = 7;    // 421 4.7.0 and close: too many failures
constexpr uint32_t kAuthNoMech = 8;     // 504 5.5.4: mechanism not offered
constexpr uint32_t kAuthWeak = 9;       // 534 5.7.9: the login needs a stronger mechanism

// auth -> smtpd. A failure reply comes only after the delay the penalty box imposes.
struct AuthReplyMsg {
    uint64_t request_id = 0;
    uint32_t status = kAuthTemp;
    std::string challenge;  // raw bytes (smtpd base64-encodes them) for kAuthContinue
    std::string login;      // the authenticated login, for kAuthOk
    std::string text;       // words for the reply and the log (never credentials)
};

// ---- smtpd <-> auth: per-user sending limits (smtpd/server/limits_policy.hpp asks,
// smtpd/auth/counter_store.hpp counts). identity: "alice" (an authenticated login) or
// "uid:1000" (a local submitter on the MSP socket).

// One window (the last hour or day): the identity's limits (0: none), what it sent, and
// when each count falls below its limit (0: it is below), seconds since the epoch;
// next_drop: when the oldest counted part leaves the window (0: nothing counted).
struct LimitWindowMsg {
    uint64_t max_messages = 0;
    uint64_t max_recipients = 0;
    uint64_t messages = 0;
    uint64_t recipients = 0;
    uint64_t messages_free_at = 0;
    uint64_t recipients_free_at = 0;
    uint64_t next_drop = 0;
};

// auth -> smtpd, the answer to a LimitReserveMsg (its status values are given there).
struct LimitReplyMsg {
    uint64_t request_id = 0;
    uint32_t status = kStatusTemp;
    LimitWindowMsg hour;
    LimitWindowMsg day;
};

// smtpd -> auth, answered by a LimitReplyMsg: hold `messages` and `recipients` (the totals
// of one transaction so far, replacing what `holder` held before) against the identity's
// limits while the transaction runs, so that concurrent sessions of one identity cannot
// each pass the same remaining room. holder: smtpd's number for the transaction, unique
// on its channel. The reply's counts are the counted ones plus what other holders hold
// (not this one); status kStatusOk: held; kStatusPerm: it does not fit (nothing changed);
// kStatusTemp: the counts cannot be read or too many are held.
struct LimitReserveMsg {
    uint64_t request_id = 0;
    std::string identity;
    uint64_t holder = 0;
    uint64_t messages = 0;
    uint64_t recipients = 0;
};

// smtpd -> auth, no answer: the transaction `holder` ended; `messages` and `recipients`
// are counted as sent (after the queue's durable 250; zero when it was not accepted or
// nothing of it counts), and what it held is given back, in one step.
struct LimitReleaseMsg {
    std::string identity;
    uint64_t holder = 0;
    uint64_t messages = 0;
    uint64_t recipients = 0;
};

std::string encode(const ListenerMsg& m, uint32_t nfds);
std::string encode(const LimitReserveMsg& m);
std::string encode(const LimitReleaseMsg& m);
bool decode(std::string_view payload, LimitReserveMsg& m);
bool decode(std::string_view payload, LimitReleaseMsg& m);
std::string encode(const LimitReplyMsg& m);
bool decode(std::string_view payload, LimitReplyMsg& m);
std::string encode(const SubmitMsg& m);
std::string encode(const SubmitResultMsg& m);
std::string encode(const BodyChunkMsg& m);
std::string encode(const BodyChunkResultMsg& m);
std::string encode(const BodyAbortMsg& m);
std::string encode(const BodyWriterMsg& m);
std::string encode(const DeliverMsg& m);
std::string encode(const DeliverResultMsg& m);
std::string encode(const DeliverRedirectMsg& m);
std::string encode(const AuthStartMsg& m);
std::string encode(const AuthStepMsg& m);
std::string encode(const AuthCancelMsg& m);
std::string encode(const AuthCheckMsg& m);
std::string encode(const AuthReplyMsg& m);
std::string encode_empty(MsgType type);

std::string encode(const ControlRequestMsg& m);
std::string encode(const ControlListMsg& m);
std::string encode(const ControlResultMsg& m);
bool decode(std::string_view payload, ControlRequestMsg& m);
bool decode(std::string_view payload, ControlListMsg& m);
bool decode(std::string_view payload, ControlResultMsg& m);
bool decode(std::string_view payload, ListenerMsg& m);
bool decode(std::string_view payload, SubmitMsg& m);
bool decode(std::string_view payload, SubmitResultMsg& m);
bool decode(std::string_view payload, BodyChunkMsg& m);
bool decode(std::string_view payload, BodyChunkResultMsg& m);
bool decode(std::string_view payload, BodyAbortMsg& m);
bool decode(std::string_view payload, BodyWriterMsg& m);
bool decode(std::string_view payload, DeliverMsg& m);
bool decode(std::string_view payload, DeliverResultMsg& m);
bool decode(std::string_view payload, DeliverRedirectMsg& m);

bool decode(std::string_view payload, AuthStartMsg& m);
bool decode(std::string_view payload, AuthStepMsg& m);
bool decode(std::string_view payload, AuthCancelMsg& m);
bool decode(std::string_view payload, AuthCheckMsg& m);
bool decode(std::string_view payload, AuthReplyMsg& m);

}  // namespace tegami::ipc
