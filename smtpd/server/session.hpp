// session.hpp - one SMTP session's protocol engine, with no I/O of its own: the
// connection (connection.cpp) feeds it the client's bytes and it writes replies
// through its SessionHost; tests feed it scripted input. Each command line goes
// through the verb table (verbs.hpp): check -> policy -> proceed.
//
// Trusts nothing it is fed. Invariants:
//  - a command line is at most kMaxCommandLine octets with its CRLF (an AUTH command
//    with an initial response: kMaxSaslLine and the command, RFC 4954 4); a longer one
//    is discarded up to its LF (never buffered whole) and answered 500 5.5.2 (5.5.6 for
//    AUTH);
//  - a line ending in a bare LF or holding a bare CR is answered 500 5.5.2;
//  - feed() consumes nothing while the session waits (policy or queue), so pipelined
//    input stays with the caller until submit_done()/policy_done();
//  - during DATA at most body_chunk_size() octets of content are held per buffer: a
//    larger body goes to the queue in chunks as it arrives, and while one chunk is
//    unanswered and the next is full the session waits (reading stops) for chunk_done();
//  - the per-verb gate (verbs.hpp) runs before each verb's check: 530 5.7.0 before AUTH on
//    the submission listeners;
//  - after STARTTLS nothing more is consumed until tls_started(): whatever the client
//    pipelined in plaintext is the connection's to discard (CVE-2011-0411);
//  - every 4xx/5xx reply to a command counts as an error; at smtpd_error_limit the
//    session answers 421 4.7.0 and closes;
//  - past smtpd_soft_error_limit errors each error reply, and past
//    smtpd_unknown_recipient_tarpit unknown recipients each RCPT reply, is held back
//    (Phase::waiting, nothing read) until SessionHost::delay's timer calls delay_done();
//    at smtpd_unknown_recipient_limit unknown recipients the session answers 421 4.7.0
//    and closes. Clients with ClientInfo::limits_exempt get none of this;
//  - input that came in the same feed right behind a DATA that was refused is the body
//    of a client that did not wait for the reply (RFC 2920 3.1): none of it is read as
//    commands; the session answers 421 4.5.0 and closes.
#pragma once

#include <string>
#include <string_view>

#include "smtpd/server/session_state.hpp"
#include "smtpd/server/verbs.hpp"

namespace tegami::smtpd {

constexpr size_t kMaxCommandLine = 1024;  // 512 + 512 for ESMTP parameters (RFC 5321 4.5.3.1.4)

class Session {
  public:
    Session(SessionHost& host, std::shared_ptr<const Config> config, ClientInfo client,
            Role role = Role::mta);

    void start();  // the 220 greeting
    // Consumes client input; returns the octets used. Stops early (returning less) when
    // the session starts waiting or closing.
    size_t feed(std::string_view in);

    void policy_done(const PolicyVerdict& v);
    // The TLS handshake after STARTTLS completed: the state resets to before EHLO (RFC
    // 3207 4.2) and reading resumes. info: "TLSv1.3 TLS_AES_256_GCM_SHA384".
    void tls_started(std::string info);
    // Implicit TLS (smtps): the session starts under TLS.
    void set_tls(std::string info);
    // The session's RFC 9266 tls-exporter bytes (after set_tls / tls_started).
    void set_channel_binding(std::string cb) { st_.channel_binding = std::move(cb); }
    // The AUTH hook's later answer (after it returned nothing). login: set on success.
    void auth_done(const Reply& r, std::string login);
    // The AUTH hook's 334 challenge: the session then reads the next SASL line.
    void auth_challenge(std::string_view challenge);
    void submit_done(uint32_t status, std::string_view text);
    // The delay SessionHost::delay was asked for has passed: the held reply is sent.
    void delay_done();
    // The queue's answer to a streamed chunk (status 2, or 4 with "4.3.0 ..." text:
    // the message cannot be queued; the rest of it is read and answered 451).
    void chunk_done(uint32_t status, std::string_view text);
    // The connection ends: a transaction still open is given up (a streamed body's
    // chunks are aborted). Called before the host goes away.
    void discard_transaction();
    void timeout();   // 421 4.4.2 and close
    void shutdown();  // 421 4.3.2 and close
    // The daemon is stopping: close now if between transactions, else after the
    // current one.
    void drain();

    Phase phase() const { return st_.phase; }
    bool waiting() const { return st_.phase == Phase::waiting; }
    bool closing() const { return st_.phase == Phase::closing; }
    bool in_data() const { return st_.phase == Phase::data; }
    // Part of a client line (command, SASL response or body line) is held, waiting for
    // the rest: the connection bounds how long (Stream's partial-line deadline).
    bool partial_line() const {
        if (st_.phase == Phase::data) return st_.tx && !st_.tx->reader.at_line_start();
        return (st_.phase == Phase::command || st_.phase == Phase::sasl) &&
               (!line_.empty() || discarding_);
    }
    bool wants_tls() const { return st_.phase == Phase::starttls; }
    // Whether STARTTLS can be offered (the connection has a TLS context).
    void set_tls_available(bool on) { st_.tls_available = on; }
    void set_id(uint64_t id) { st_.id = id; }
    const SessionState& state() const { return st_; }
    // The client's name once its lookup ended (before start()).
    void set_client_name(std::string name) { st_.client.name = std::move(name); }
    // "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4", as in the disconnect log line.
    std::string summary() const;

  private:
    size_t feed_line(std::string_view in);
    size_t feed_data(std::string_view in);
    bool send_chunk();
    void end_transaction();
    size_t feed_sasl(std::string_view in);
    void greet(const PolicyVerdict& v);
    void handle_line(std::string_view line);
    void dispatch(const VerbSpec& spec, std::string_view arg);
    void proceed(const VerbSpec& spec, CommandArgs& args);
    void add_headers(const VerbSpec& spec, const PolicyVerdict& v);
    void keep_quota(const VerbSpec& spec, const PolicyVerdict& v);
    void finish(const VerbSpec& spec, const Reply& r);
    void send(const Reply& r);
    void out(std::string_view bytes);
    uint64_t reply_delay(const VerbSpec& spec, bool error) const;
    void protocol_error(const Reply& r);
    void sync_error();
    void release_line();

    SessionHost& host_;
    SessionState st_;
    std::string line_;  // a command line that arrived in pieces
    bool discarding_ = false;
    bool discarding_auth_ = false;  // the line being discarded is an AUTH command
    bool delaying_ = false;         // replies go to held_ until delay_done()
    bool data_refused_ = false;     // the command just answered was a DATA refused (finish)
    std::string held_;
    const VerbSpec* pending_ = nullptr;  // suspended in its policy step
    CommandArgs pending_args_;
};

}  // namespace tegami::smtpd
