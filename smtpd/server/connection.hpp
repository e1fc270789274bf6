// connection.hpp - the socket side of one SMTP session: a Stream (lib/event/stream.hpp:
// direct nonblocking reads and writes over a plain or TLS transport, one event re-armed
// as the transport asks) feeding a Session and carrying its replies, with the RFC 5321
// 4.5.3.2 timeouts.
//
// Owned by the Server; created per accepted connection. Every libevent callback is a
// noexcept trampoline that catches, logs and closes this one session, then lets the
// server reap it (delete it once dead). Invariants: the stream holds buffers only while
// bytes wait in them, so an idle session is this object and its Session; while the
// session waits for the queue, input stays buffered (up to Stream::kInputCapacity) and
// is fed once the answer came.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lib/core/c_ptr.hpp"
#include "lib/dns/resolver.hpp"
#include "lib/event/stream.hpp"
#include "smtpd/server/auth_session.hpp"
#include "smtpd/server/queue_client.hpp"
#include "smtpd/server/session.hpp"

namespace tegami::smtpd {

class Server;

class Connection final : public SessionHost,
                         public SubmitWaiter,
                         public AuthWaiter,
                         public StreamOwner {
  public:
    Connection(Server& server, std::unique_ptr<Transport> transport,
               std::shared_ptr<const Config> config, ClientInfo client, Role role);
    ~Connection() override;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    void drain();         // stopping: close after the current transaction
    void shutdown_now();  // 421 4.3.2, then close
    bool dead() const { return dead_; }
    void set_id(uint64_t id) { session_.set_id(id); }
    uint64_t id() const { return session_.state().id; }
    // A suspended policy stage's verdict / the AUTH hook's later answer (through Server).
    void policy_done(const PolicyVerdict& v) noexcept;
    void auth_done(const Reply& r, std::string login) noexcept;

    // SessionHost
    void write(std::string_view bytes) override;
    LocalKind classify_local(std::string_view local_part) override;
    std::optional<Reply> check_virtual(const Mailbox& mb) override;
    std::string new_queue_id() override;
    std::string date() override;
    void submit(ipc::SubmitMsg msg) override;
    size_t body_chunk_size() const override { return chunk_size_; }
    void send_chunk(const std::string& queue_id, uint32_t index, std::string data) override;
    void abort_body(const std::string& queue_id) override;
    void delay(uint64_t seconds) override;
    PolicyVerdict policy(const SessionState& st, const VerbSpec& verb,
                         const CommandArgs& args) override;

    std::vector<std::string> auth_mechanisms(const SessionState& st) override;
    std::optional<Reply> auth(SessionState& st, std::string_view arg) override;
    std::optional<Reply> auth_line(SessionState& st, std::string_view line) override;

    // SubmitWaiter
    void submit_result(uint32_t status, std::string_view text) noexcept override;
    void chunk_result(uint32_t status, std::string_view text) noexcept override;
    // AuthWaiter
    void auth_reply(const ipc::AuthReplyMsg& r) noexcept override;

    // StreamOwner
    void stream_ready(short what) noexcept override;
    size_t stream_input(std::string_view in) override;
    void stream_timeout() override;
    bool stream_partial() const override { return session_.partial_line(); }
    void stream_secured() override;
    void start_tls() override;

  private:
    static void lookup_timeout_cb(evutil_socket_t, short, void* arg) noexcept;
    void named(std::string name, const std::string& why);
    void begin();
    template <typename F>
    void guarded(F&& f) noexcept;
    static void delay_cb(evutil_socket_t, short, void* arg) noexcept;
    void after_session();
    void set_timeouts(bool data);

    Server& server_;
    Session session_;
    AuthSession auth_;
    Stream stream_;
    uint64_t request_id_ = 0;
    EventPtr delay_ev_;      // the error sleep / tarpit timer
    size_t chunk_size_ = 0;  // smtpd_data_buffer_size (at least 4 KiB)
    bool dead_ = false;
    bool data_timeouts_ = false;
    bool greeted_ = false;  // smtps: the greeting waits for the handshake
    // The client's name (FCrDNS) is looked up before the greeting, within
    // smtpd_peername_timeout; the stream is paused meanwhile. The resolver it runs on is
    // kept for the connection's life (never freed inside its own answer callback; a
    // reload may have replaced the server's meanwhile).
    std::shared_ptr<dns::Resolver> lookup_resolver_;
    std::unique_ptr<dns::NameLookup> lookup_;
    EventPtr lookup_timer_;
};

// Printable address and name of a peer: "localhost" for 127.0.0.1 and ::1 (this host,
// never looked up), else "unknown" until the name lookup confirms one.
ClientInfo client_info(const struct sockaddr* sa, int len);
// The port of an AF_INET or AF_INET6 address (host order); 0 for any other family.
uint32_t socket_port(const struct sockaddr* sa);

}  // namespace tegami::smtpd
