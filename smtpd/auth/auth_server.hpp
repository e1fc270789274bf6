// auth_server.hpp - tegami-auth's one event loop: accepts smtpd on the "auth" Unix
// socket (SO_PEERCRED must name smtpd's account), runs one SASL conversation per
// AuthStartMsg (mechanisms.hpp) against the built-in store (lib/sasl/passwd_db.hpp) or,
// with auth_backend = dovecot, relays it to Dovecot's auth socket (dovecot_client.hpp),
// and answers every start/step with an AuthReplyMsg. Failures are counted per client
// address in the penalty box (penalty.hpp) and answered only after a growing delay;
// past auth_failure_limit the answer is kAuthBlocked and the address stays refused.
//
// It also owns the per-user sending counters (send_limits.hpp, counter_store.hpp):
// smtpd holds a transaction's share of an identity's limits at MAIL and at each counted
// RCPT (the answer carries the counts) and gives it back, counted if the message was
// accepted, when the transaction ends; a channel's holds go when it closes. The counters are
// flushed to auth_dir/limits.db every kLimitFlushSeconds and when tegami-auth stops. tegami-auth
// rather than the queue or smtpd owns them: it already holds the per-identity state (logins, the
// penalty box) under its own account, smtpd already talks to it at AUTH, and its loop is not the
// queue's hot path; smtpd itself never waits for a disk write.
//
// Trusts smtpd to relay what its client sent and the client address it saw; trusts
// nothing in the SASL payloads; trusts Dovecot's verdict and user= (see doc/SECURITY.md). Never
// logs a response, a password, a hash or a key; logs the login only once it authenticated. A
// malformed frame closes that channel.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "lib/core/c_ptr.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/sasl/passwd_db.hpp"
#include "smtpd/auth/dovecot_client.hpp"
#include "smtpd/auth/mechanisms.hpp"
#include "smtpd/auth/penalty.hpp"
#include "smtpd/auth/send_limits.hpp"

namespace tegami::auth {

constexpr size_t kMaxConversations = 4096;  // per smtpd channel
constexpr time_t kConversationIdle = 600;   // seconds before an abandoned one is dropped
constexpr uint64_t kMaxFailureDelay = 30;   // seconds
constexpr time_t kLimitFlushSeconds = 10;   // sending counters written at most this late
constexpr size_t kMaxVerified = 10000;      // logins in the verification cache

class AuthServer : public CredentialSource {
  public:
    explicit AuthServer(DaemonContext& ctx);
    ~AuthServer() override;
    AuthServer(const AuthServer&) = delete;
    AuthServer& operator=(const AuthServer&) = delete;

    void start();
    void reload();
    void stop();  // writes the sending counters
    Result<std::optional<sasl::Credential>> lookup(std::string_view login) override;
    bool recently_verified(std::string_view login, const sasl::Credential& c,
                           std::string_view password) override;
    void verified(std::string_view login, const sasl::Credential& c,
                  std::string_view password) override;

  private:
    // An exchange relayed to Dovecot; cancelled there when the conversation goes.
    struct DovecotExchange {
        DovecotClient* client = nullptr;
        uint32_t id = 0;
        DovecotExchange() = default;
        DovecotExchange(DovecotExchange&& o) noexcept : client(o.client), id(o.id) { o.id = 0; }
        DovecotExchange& operator=(DovecotExchange&&) = delete;
        ~DovecotExchange() {
            if (client && id) client->cancel(id);
        }
    };
    struct Conversation {
        std::string mechanism;
        std::string client_addr;
        std::unique_ptr<MechContext> mctx;  // outlives mech, which refers to it
        std::unique_ptr<Mechanism> mech;    // builtin backend
        DovecotExchange dovecot;            // dovecot backend (id != 0)
        time_t last = 0;
    };
    struct Session {
        std::unique_ptr<ipc::Channel> channel;
        std::unordered_map<uint64_t, Conversation> conversations;
    };
    struct Delayed {
        AuthServer* owner = nullptr;
        uint64_t sid = 0;
        ipc::AuthReplyMsg reply;
        EventPtr ev;
        std::list<Delayed>::iterator self;
    };

    static void on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int,
                             void* arg) noexcept;
    static void on_delay_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_sweep_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_reap_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_flush_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_accept(UniqueFd fd);
    void on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload);
    void start_conversation(uint64_t sid, ipc::AuthStartMsg& m);
    void step_conversation(uint64_t sid, ipc::AuthStepMsg& m);
    void start_dovecot(uint64_t sid, ipc::AuthStartMsg& m, Conversation& c);
    void on_dovecot(uint64_t sid, uint64_t rid, StepResult r);
    void finish_step(uint64_t sid, uint64_t rid, StepResult r);
    void send(uint64_t sid, ipc::AuthReplyMsg reply, uint64_t delay_seconds = 0);
    void drop(uint64_t sid, const char* why);
    void sweep();

    DaemonContext& ctx_;
    std::unique_ptr<sasl::PasswdDb> db_;
    PenaltyBox penalty_;
    std::unique_ptr<SendLimiter> limiter_;
    EventPtr flush_ev_;
    std::string secret_;
    std::unique_ptr<DovecotClient> dovecot_;  // declared before sessions_: outlives them
    EvconnlistenerPtr listener_;
    EventPtr sweep_ev_;
    EventPtr reap_ev_;
    std::unordered_map<uint64_t, Session> sessions_;
    std::vector<std::unique_ptr<ipc::Channel>> dead_;
    std::list<Delayed> delayed_;
    // auth_cache_time: login -> HMAC(secret_, stored hash NUL password), valid until.
    struct Verified {
        std::string mac;
        time_t until = 0;
    };
    std::unordered_map<std::string, Verified> verified_;
    uint64_t next_sid_ = 1;
};

}  // namespace tegami::auth
