// connection.hpp - the socket side of one SMTP session: a bufferevent (plain TCP now;
// a bufferevent_openssl filter plugs in here for STARTTLS and port 465) feeding a
// Session and carrying its replies, with the RFC 5321 4.5.3.2 timeouts.
//
// Owned by the Server; created per accepted connection. Every libevent callback is a
// noexcept trampoline that catches, logs and closes this one session, then lets the
// server reap it (delete it once dead). Invariants: input is read from the
// bufferevent's own buffer, so nothing is copied or kept while idle (libevent frees
// drained chains); while the session waits for the queue, input stays buffered (up to
// the read high-water mark) and is fed once the answer came.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lib/core/c_ptr.hpp"
#include "smtpd/server/auth_session.hpp"
#include "smtpd/server/queue_client.hpp"
#include "smtpd/server/session.hpp"

namespace tegami::smtpd {

class Server;

class Connection final : public SessionHost, public SubmitWaiter, public AuthWaiter {
  public:
    Connection(Server& server, BuffereventPtr bev, std::shared_ptr<const Config> config,
               ClientInfo client);
    ~Connection() override;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    void drain();         // stopping: close after the current transaction
    void shutdown_now();  // 421 4.3.2, then close
    bool dead() const { return dead_; }

    // SessionHost
    void write(std::string_view bytes) override;
    LocalKind classify_local(std::string_view local_part) override;
    std::string new_queue_id() override;
    std::string date() override;
    void submit(ipc::SubmitMsg msg) override;
    PolicyVerdict policy(const SessionState& st, const VerbSpec& verb,
                         const CommandArgs& args) override;

    std::vector<std::string> auth_mechanisms(const SessionState& st) override;
    std::optional<Reply> auth(SessionState& st, std::string_view arg) override;
    std::optional<Reply> auth_line(SessionState& st, std::string_view line) override;

    // SubmitWaiter
    void submit_result(uint32_t status, std::string_view text) noexcept override;
    // AuthWaiter
    void auth_reply(const ipc::AuthReplyMsg& r) noexcept override;

  private:
    static void read_cb(bufferevent* bev, void* arg) noexcept;
    static void write_cb(bufferevent* bev, void* arg) noexcept;
    static void event_cb(bufferevent* bev, short events, void* arg) noexcept;
    template <typename F>
    static void guarded(Connection* c, F&& f) noexcept;

    void drive();
    void after_session();
    void set_timeouts(bool data);
    void on_event(short events);

    Server& server_;
    BuffereventPtr bev_;
    Session session_;
    AuthSession auth_;
    uint64_t request_id_ = 0;
    bool dead_ = false;
    bool data_timeouts_ = false;
};

// Printable address and name ("localhost" for loopback, else "unknown") of a peer.
ClientInfo client_info(const struct sockaddr* sa, int len);

}  // namespace tegami::smtpd
