// envelope.hpp - a queued message's envelope (sender, arrival, client, per-recipient
// delivery state) and its stored record format. Called by the stores (to persist),
// by intake (to build one from a SubmitMsg) and by the runner (to update states).
//
// The record is versioned and readable without a special tool: a sequence of fields,
// each "<decimal length>:<bytes>\n". Field order (version 4):
//   version "4", sender, arrival, client_addr, client_name, helo, protocol, flags, envid,
//   nrcpt, then per recipient: address, orcpt, notify, state, attempts, next_try, dsn, text,
//   route, dsn_orcpt.
// Version 1 records (no envid, orcpt or notify), version 2 (no route) and version 3 (no
// dsn_orcpt) are still read, and written back as version 4.
// Numbers are decimal; state is "pending", "deferred", "sent" or "failed".
// decode_envelope trusts nothing: a truncated record, bad version, bad length, bad number
// or trailing bytes is an error, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::queue {

enum class RcptState { pending, deferred, sent, failed };

const char* rcpt_state_name(RcptState s);
bool rcpt_state_final(RcptState s);

struct Recipient {
    std::string address;    // canonical (lib/mail/address.hpp canonical_address)
    std::string orcpt;      // as the client wrote it, for DSNs; "" when the same
    uint32_t notify = 0;    // ipc::kNotify* bits; 0 = not given
    std::string dsn_orcpt;  // the client's ORCPT, "type;decoded-address"; "" when none
    RcptState state = RcptState::pending;
    uint32_t attempts = 0;
    uint64_t next_try = 0;  // seconds since the epoch; 0 = now
    std::string dsn;        // last enhanced status, "4.2.0"
    std::string text;       // last delivery agent text (printable)
    // "" (route by the address) or kRouteMailbox: a local user's mailbox that local
    // handed back for mailbox_transport (added by a redirect, queue/runner.cpp).
    std::string route;
};

constexpr const char* kRouteMailbox = "mailbox";

struct Envelope {
    std::string queue_id;  // the key, not part of the record
    std::string sender;    // empty for <>
    uint64_t arrival = 0;  // seconds since the epoch
    std::string client_addr;
    std::string client_name;
    std::string helo;
    std::string protocol;
    uint32_t flags = 0;  // ipc kFlag* (8BITMIME, SMTPUTF8, RET) and kEnvelope* below
    std::string envid;   // DSN ENVID (decoded), "" when none
    std::vector<Recipient> recipients;

    bool all_final() const;
};

// Envelope flag (beside the ipc kFlag* bits): held by an administrator (sendmail -Q);
// the runner dispatches none of its recipients until released. Never sent to agents.
constexpr uint32_t kEnvelopeHeld = 1u << 31;
// The sender was sent a delay warning for this message (queue/bounce.hpp).
constexpr uint32_t kEnvelopeDelayWarned = 1u << 30;

constexpr uint32_t kEnvelopeVersion = 4;
constexpr size_t kMaxRecipients = 100000;

// When the message is next due, the key of the store's due index: the earliest next_try
// of a recipient not final (pending ones are 0: now), or 0 when every recipient is final
// (the runner finishes it: crashed before removal); nullopt for a held message (due
// only once released).
std::optional<uint64_t> envelope_due(const Envelope& env);

std::string encode_envelope(const Envelope& env);
// queue_id is taken from the key, not the record.
Result<Envelope> decode_envelope(std::string_view queue_id, std::string_view record);

// Replaces control and non-ASCII bytes with '?' so stored texts stay printable.
std::string printable(std::string_view s);

}  // namespace tegami::queue
