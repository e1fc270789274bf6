// session.hpp - one outgoing SMTP or LMTP connection: a nonblocking TCP socket (IPv4 or
// IPv6), or for LMTP also a Unix socket, on
// the agent's libevent loop, with OpenSSL for STARTTLS or implicit TLS, driving one
// SmtpClient (deliver/remote/smtp_client.hpp). Reports each finished message and the end
// of the session to its owner (deliver/remote/server.cpp). Between messages an idle
// session waits at most the reuse time for the next message to the same destination.
//
// Trusts nothing from the peer (the client state machine checks every reply); bounds every
// wait: the connect timeout, the reply timeouts of RFC 5321 4.5.3.2 as the client gives
// them, and 180 s for each block of data to leave (4.5.3.2.5). Writes gather the client's
// pieces (commands and views into the mapped body) into one sendmsg; under TLS they are
// staged into records of up to 16 KiB. Nothing written still points into a message's
// body once its results are handed on (the rest is copied first). The owner never deletes a
// session inside one of its callbacks (it frees closed sessions from its own timer).
#pragma once

#include <event2/event.h>

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "deliver/remote/smtp_client.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::remote {

// The monotonic clock in seconds (for the delays= split).
inline double steady_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

using tegami::Result;

struct SessionTarget {
    std::string host;     // for SNI, certificate checks and texts
    std::string address;  // printable IP
    uint16_t port = 25;
    bool implicit_tls = false;
    bool verify_tls = false;  // require a certificate valid for host
    std::string unix_path;    // LMTP over a Unix socket: connect here (address unused)
};

class Session {
  public:
    using MessageDone = std::function<void(Session&, std::vector<Outcome>)>;
    // session: why it ended (status 2 after a clean QUIT); partial: the outcomes for the
    // message in progress, if any (recipients the server answered keep their answers).
    using Closed =
        std::function<void(Session&, const Outcome& session, std::vector<Outcome> partial)>;

    Session(event_base* base, SSL_CTX* tls, SessionTarget target, ClientSettings settings,
            unsigned connect_timeout, MessageDone on_done, Closed on_closed);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    // Connects and sends m once the session is ready. on_closed is called (later, from
    // the loop) when the connection cannot be made.
    void start(MessageSpec m);
    // An idle session takes the next message.
    void send(MessageSpec m);
    // Sends QUIT (idle) or drops the connection; on_closed follows.
    void quit();
    bool idle() const { return idle_; }
    // True once a message was accepted or refused in this session (the peer spoke SMTP).
    bool delivered_any() const { return delivered_any_; }
    // When the current transaction's MAIL was written (steady clock, seconds; 0: not yet).
    double transaction_start() const { return mail_at_; }
    const SessionTarget& target() const { return target_; }
    std::string relay() const;  // "host[addr]:port", "lmtp[unix:/path]"
    bool tls() const { return client_.tls_active(); }

  private:
    static void on_io_cb(evutil_socket_t, short what, void* arg) noexcept;
    static void on_start_cb(evutil_socket_t, short, void* arg) noexcept;
    void handle_io(short what);
    void begin_connect();
    void do_read();
    void do_write();
    void do_handshake();
    void after_client();
    void arm();
    void close_with(const Outcome& o);

    event_base* base_;
    SSL_CTX* tls_ctx_;
    SessionTarget target_;
    SmtpClient client_;
    unsigned connect_timeout_;
    MessageDone on_done_;
    Closed on_closed_;
    UniqueFd fd_;
    SslPtr ssl_;
    EventPtr ev_;
    EventPtr start_ev_;
    bool connecting_ = false;
    bool handshaking_ = false;
    bool want_write_for_read_ = false;  // TLS: a read needs the socket writable
    bool idle_ = false;
    bool closed_ = false;
    bool delivered_any_ = false;
    uint64_t mails_seen_ = 0;
    double mail_at_ = 0;
    MessageSpec first_;
    OutBuf outbuf_;
    std::string tls_stage_;  // TLS: the record being written (retried unchanged)
    bool in_message_ = false;
    short armed_ = 0;  // the events ev_ waits for now (0: not yet assigned)
};

// A client TLS context: system trust store, TLS 1.2 or later.
Result<SslCtxPtr> make_client_tls_context();

}  // namespace tegami::remote
