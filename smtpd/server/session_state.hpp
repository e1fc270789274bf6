// session_state.hpp - what one SMTP session knows (SessionState), what it needs from
// the rest of the daemon (SessionHost), and the shapes the verb table passes around.
// Shared by session.cpp (the line/data loop), verbs.cpp (the protocol table) and
// connection.cpp (the socket side). Holds no I/O: tests drive it with a scripted host.
//
// Memory: an idle session is this struct plus a few short strings; the transaction
// (and with it the message buffer) exists only between MAIL and the end of data, and
// holds at most two chunks of content (SessionHost::body_chunk_size()) at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/mail/data_reader.hpp"
#include "lib/mail/reply.hpp"
#include "lib/mail/smtp_command.hpp"
#include "lib/map/recipients.hpp"
#include "smtpd/server/send_limits.hpp"

namespace tegami::smtpd {

// The listener a session came in on (ListenerMsg.role): mta (port 25, no relaying for
// strangers), msa (587, RFC 6409: AUTH before mail), smtps (465, RFC 8314: implicit TLS,
// then as msa), local (the MSP's Unix socket; the submitter's uid from SO_PEERCRED).
enum class Role : uint8_t { mta, msa, smtps, local };
const char* role_name(Role r);
bool parse_role(std::string_view name, Role& out);

struct ClientInfo {
    std::string addr;  // "127.0.0.1", "::1"; "local" on the MSP socket
    std::string name;  // confirmed by DNS (FCrDNS), "localhost" for 127.0.0.1/::1, or "unknown"
    // The local (MSP) listener: the submitter's uid from SO_PEERCRED (never from the
    // client's words); trusted when that peer is root or this daemon's own user (the
    // client-queue runner), which alone may name another submitter with XUID.
    bool local = false;
    long uid = -1;
    bool trusted = false;
    // In trusted_networks or smtpd_client_event_limit_exceptions (or the MSP socket): no
    // error sleep, no harvest tarpit, no per-address connection limits.
    bool limits_exempt = false;
    // The address and port the client connected to (TCP only), looked up when first
    // needed (AUTH passes them to Dovecot as lip/lport); empty / 0 until then.
    std::string local_addr{};
    uint32_t local_port = 0;
};

struct Transaction {
    std::string queue_id;
    std::string sender;                   // empty for <>
    std::vector<std::string> recipients;  // canonical (lib/mail/address.hpp)
    uint64_t rcpt_commands = 0;           // RCPTs accepted, repeats included
    std::vector<std::string> orcpts;      // each as the client wrote it
    // DSN (RFC 3461), per recipient beside recipients: NOTIFY bits, ORCPT "type;addr".
    std::vector<uint32_t> notify;
    std::vector<std::string> dsn_orcpts;
    DsnRet ret = DsnRet::none;
    std::string envid;  // decoded; "" when none
    bool smtputf8 = false;
    BodyType body = BodyType::none;
    uint64_t size_hint = 0;
    std::string data;         // Received header, then the unstuffed content
    size_t received_len = 0;  // where the Received header ends in data
    // The sender's limits and counts, from the MAIL stage and the last counted RCPT
    // (limits_policy.hpp), with the transaction's hold on them; null when no sending
    // limit applies. limited_rcpts: the recipients it counts, at end of data.
    std::shared_ptr<const SendQuota> quota;
    uint64_t limited_rcpts = 0;
    DataReader reader;
    // A streamed body (the content outgrew SessionHost::body_chunk_size()): data then
    // holds only the head (the Received header, later the policy headers) and the
    // content goes to the queue in chunks, at most one unanswered while the next fills.
    std::string chunk;  // content being filled
    uint32_t chunks_sent = 0;
    uint32_t chunks_unanswered = 0;
    bool chunk_wait = false;     // reading paused: the next chunk is full, one is unanswered
    bool stream_failed = false;  // the queue cannot take it: the rest is read, then 451
    std::string stream_error;    // "4.3.0 ..."
    bool submitted = false;      // the SubmitMsg went out: the queue owns the chunks now
};

enum class Phase : uint8_t {
    command,   // reading command lines
    data,      // reading message content (after 354)
    waiting,   // suspended: a policy step or the queue will answer later
    starttls,  // 220 to STARTTLS sent: the connection drops buffered input, handshakes
    sasl,      // reading SASL continuation lines (RFC 4954), fed to SessionHost::auth_line
    closing,   // the last reply is written; the connection flushes and closes
};

enum class Greeting : uint8_t { none, helo, ehlo };

struct VerbCounter {
    uint32_t ok = 0;
    uint32_t total = 0;
};
constexpr size_t kVerbCount = static_cast<size_t>(Verb::unknown) + 1;

struct SessionState {
    std::shared_ptr<const Config> config;  // taken at connect; a reload does not change it
    ClientInfo client;
    uint64_t id = 0;  // unique in this smtpd: how a suspended stage finds its session again
    Role role = Role::mta;
    bool tls_available = false;   // a certificate is configured (STARTTLS may be offered)
    bool tls = false;             // the session runs under TLS
    std::string tls_info;         // "TLSv1.3 TLS_AES_256_GCM_SHA384" once under TLS
    std::string channel_binding;  // RFC 9266 tls-exporter bytes (TLS 1.3), for SCRAM-PLUS
    std::string auth_login;       // set by the AUTH hook on success; empty before
    bool may_relay = false;       // a policy (trusted network, AUTH) allows any recipient domain
    Greeting greeting = Greeting::none;
    std::string helo;
    std::unique_ptr<Transaction> tx;  // between MAIL and the end-of-data reply
    Phase phase = Phase::command;
    uint32_t errors = 0;
    uint64_t junk_commands = 0;  // NOOP, RSET, VRFY, HELP (smtpd_junk_command_limit)
    uint64_t unknown_rcpts = 0;  // RCPTs refused 550 5.1.1 (the harvest tarpit)
    bool draining = false;       // the daemon is stopping: close after this transaction
    VerbCounter counters[kVerbCount];
};

// The parsed arguments a verb's check hands to its policy and proceed steps.
using CommandArgs = std::variant<std::monostate, MailCommand, RcptCommand, std::string>;

struct VerbSpec;

// The policy stages (smtpd/server/policy.hpp runs them): at connect (before the
// greeting), HELO/EHLO, MAIL, RCPT, DATA and the end of data, each between the verb's
// check and its proceed step.
enum class PolicyStage : uint8_t { none, connect, helo, mail, rcpt, data, end_of_data };

// A stage's verdict. proceed: go on; reject: send `reply` instead of proceeding;
// suspend: the session stops reading and waits until Session::policy_done() brings the
// verdict (DNS, milters, ... answer later). relay (RCPT): this recipient may be of any
// domain. headers (end of data): lines, without CRLF, added after the Received header.
enum class PolicyStep : uint8_t { proceed, reject, suspend };
struct PolicyVerdict {
    PolicyVerdict() = default;
    PolicyVerdict(PolicyStep s, Reply r = {}) : step(s), reply(std::move(r)) {}
    PolicyStep step = PolicyStep::proceed;
    Reply reply;
    bool relay = false;
    std::vector<std::string> headers;
    std::shared_ptr<const SendQuota> quota;  // MAIL, RCPT: kept in the transaction
};

class SessionHost {
  public:
    virtual ~SessionHost() = default;
    // Appends reply bytes to the output (sent when the event loop returns).
    virtual void write(std::string_view bytes) = 0;
    virtual LocalKind classify_local(std::string_view local_part) = 0;
    // A recipient of a virtual domain (lib/map/virtual.hpp): nullopt when the virtual
    // user table has an entry for it, else the refusal to send.
    virtual std::optional<Reply> check_virtual(const Mailbox& mb) {
        return make_reply(550, "5.1.1", "<" + mb.str() + ">: no virtual user table");
    }
    virtual std::string new_queue_id() = 0;
    virtual std::string date() = 0;  // RFC 5322, now
    // Hands a complete message to the queue; the answer comes back later through
    // Session::submit_done (never from inside this call).
    virtual void submit(ipc::SubmitMsg msg) = 0;
    // Body streaming: the most content a session holds before it sends a chunk (0: the
    // body is held whole and goes with submit()). send_chunk's answer comes back later
    // through Session::chunk_done; abort_body gives up a streamed body never submitted.
    virtual size_t body_chunk_size() const { return 0; }
    virtual void send_chunk(const std::string& /*queue_id*/, uint32_t /*index*/,
                            std::string /*data*/) {}
    virtual void abort_body(const std::string& /*queue_id*/) {}
    // The policy stage of `verb` (verb.stage; never called for PolicyStage::none).
    virtual PolicyVerdict policy(const SessionState& st, const VerbSpec& verb,
                                 const CommandArgs& args) = 0;
    // Hold the session for `seconds` (error sleep, harvest tarpit): the connection
    // calls Session::delay_done() when they passed, from an event-loop timer (never a
    // sleep: other sessions go on meanwhile).
    virtual void delay(uint64_t /*seconds*/) {}
    // After the 220 to STARTTLS: the connection swaps in TLS, then calls
    // Session::tls_started (or closes the session when the handshake fails).
    virtual void start_tls() {}
    // ---- The AUTH hook (RFC 4954), filled in by the auth process's client.
    // Mechanisms offered in EHLO to this session now (empty: no AUTH keyword).
    virtual std::vector<std::string> auth_mechanisms(const SessionState&) { return {}; }
    // AUTH <mechanism> [initial-response]: a reply (a 334 challenge with st.phase set to
    // Phase::sasl for the client's next line), or nothing after setting st.phase to
    // Phase::waiting when the answer comes later (Server::auth_done(st.id, ...)).
    virtual std::optional<Reply> auth(SessionState&, std::string_view /*arg*/) {
        return make_reply(503, "5.5.1", "Error: authentication not enabled");
    }
    // One SASL continuation line (Phase::sasl), without its CRLF.
    virtual std::optional<Reply> auth_line(SessionState& st, std::string_view) {
        st.phase = Phase::command;
        return make_reply(501, "5.5.4", "Error: no SASL exchange in progress");
    }
};

}  // namespace tegami::smtpd
