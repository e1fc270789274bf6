// server.hpp - the smtpd daemon's one event loop: accepts on every mta, msa and smtps
// listener (each session knows its role and gets that role's configuration snapshot)
// and on the "local" one (the MSP's Unix socket: peer uid from SO_PEERCRED, no relay limit),
// owns the sessions (Connection), the queue channel (QueueClient) and the aliases
// table used for recipient checks. Called by main.cpp's daemon hooks.
//
// Trusts the listeners master handed over and the configuration snapshot in the
// DaemonContext. Invariants: at most smtpd_client_limit sessions (extra clients get
// 421 4.7.0); at most smtpd_client_connection_count_limit sessions and
// smtpd_client_connection_rate_limit new connections a minute per client address,
// unless the address is exempt (trusted_networks, smtpd_client_event_limit_exceptions),
// with at most kMaxRateEntries addresses remembered; each session keeps the configuration it
// connected with; the aliases file is re-checked at most once per second; on stop no new
// connections are taken, sessions finish their transaction for up to kDrainSeconds, then get
// 421 4.3.2.
#pragma once

#include "lib/map/map.hpp"

#include <ctime>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/dns/resolver.hpp"
#include "lib/map/aliases.hpp"
#include "lib/net/networks.hpp"
#include "lib/tls/context.hpp"
#include "smtpd/server/auth_client.hpp"
#include "smtpd/server/connection.hpp"
#include "smtpd/server/policy.hpp"
#include "smtpd/server/queue_client.hpp"

namespace tegami::smtpd {

constexpr int kDrainSeconds = 5;
constexpr size_t kMaxRateEntries = 20000;
constexpr time_t kRateBucketSeconds = 10;  // a minute is 6 buckets
constexpr size_t kRateBuckets = 6;

class Server {
  public:
    explicit Server(DaemonContext& ctx);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start();   // hooks.init: listen on the mta, msa and smtps listeners
    void reload();  // hooks.reload
    bool stop();    // hooks.stop: true when the loop may end now

    // Deletes c if it is dead (called at the end of each of its callbacks).
    void reap(Connection* c);
    LocalKind classify_local(std::string_view local_part);
    std::optional<Reply> check_virtual(const Mailbox& mb);
    // The later answer of a suspended policy stage, or of the AUTH hook, for session id
    // (SessionState::id); false when that session is gone.
    bool policy_done(uint64_t id, const PolicyVerdict& v);
    bool auth_done(uint64_t id, const Reply& r, std::string login);
    PolicyVerdict policy(const SessionState& st, const VerbSpec& verb, const CommandArgs& args);
    // The policy stages' checks (relay control last): auth, the access map, limits add
    // theirs here at start-up.
    PolicyChain& policy_chain() { return policy_; }
    QueueClient& queue() { return queue_; }
    AuthClient& auth() { return auth_; }
    event_base* base() { return ctx_.base; }
    // The TLS context for new sessions, or null without a usable certificate.
    std::shared_ptr<tls::Context> tls() const { return tls_; }
    // The resolver for client names (smtpd_peername_lookup), or null when off. Shared: a
    // session keeps the one its lookup started on after a reload replaced it.
    std::shared_ptr<dns::Resolver> resolver() { return resolver_; }
    size_t sessions() const { return conns_.size(); }

  private:
    struct ListenerSlot {
        Server* server;
        Role role;
        std::string name;
        EvconnlistenerPtr listener;
    };
    static void accept_cb(evconnlistener* l, evutil_socket_t fd, sockaddr* sa, int len,
                          void* arg) noexcept;
    static void accept_error_cb(evconnlistener* l, void* arg) noexcept;
    static void accept_resume_cb(evutil_socket_t, short, void* arg) noexcept;
    void accept_failed(int err);
    static void stop_timer_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_accept(const ListenerSlot& ls, evutil_socket_t fd, const sockaddr* sa, int len);
    // The per-address refusal of a new connection ("" to accept it); counts it.
    std::string client_refusal(const Config& cfg, const std::string& addr);
    uint64_t connection_rate(const std::string& addr, time_t now, bool count);
    void make_role_configs();
    void load_tls(bool reload);
    static void ticket_timer_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_stop_timer();
    std::vector<Connection*> all();

    DaemonContext& ctx_;
    std::unique_ptr<map::MapRef> virtual_;  // virtual_map, opened on first use
    QueueClient queue_;
    AuthClient auth_;
    std::vector<std::unique_ptr<ListenerSlot>> listeners_;
    std::shared_ptr<const Config> role_config_[4];  // mta, msa, smtps, local
    std::vector<Network> exempt_nets_[4];           // trusted_networks + exceptions
    struct RateEntry {
        int64_t index[kRateBuckets] = {};  // now / kRateBucketSeconds
        uint32_t count[kRateBuckets] = {};
    };
    std::unordered_map<std::string, uint32_t> per_addr_;    // sessions per client address
    std::unordered_map<Connection*, std::string> counted_;  // whose session is counted
    std::unordered_map<std::string, RateEntry> rates_;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> conns_;
    std::unordered_map<uint64_t, Connection*> by_id_;
    uint64_t next_id_ = 0;
    PolicyChain policy_;
    std::shared_ptr<tls::Context> tls_;
    EventPtr ticket_timer_;
    std::unique_ptr<AliasFile> aliases_;
    time_t aliases_checked_ = 0;
    std::unordered_map<std::string, LocalKind> local_cache_;  // local part -> answer
    std::string local_sig_;                                   // passwd and aliases files
    time_t local_cache_born_ = 0;
    EventPtr stop_timer_;
    EventPtr accept_timer_;  // listeners paused after running out of descriptors
    // Made at start and again on each reload (dns_resolver and /etc/resolv.conf read then).
    std::shared_ptr<dns::Resolver> resolver_;
    void load_resolver(bool reload);
    int stop_stage_ = 0;  // 0 running, 1 draining, 2 told to close
};

}  // namespace tegami::smtpd
