// server.hpp - the remote agent's event-driven part: accepts the queue's connections on
// the "remote" Unix socket (peer uid must be our own), takes DeliverMsg requests (all due
// recipients of one message for one next hop, the body as a sealed memfd it maps
// read-only), finds the hosts (MX or the bracketed host, lib/dns/resolver.hpp and
// mx.hpp), tries each host and address in turn within one attempt (deliver/remote/
// session.hpp), and answers each request with one DeliverResultMsg holding an outcome per
// recipient. A session that finished a message waits up to smtp_connection_reuse_time
// for the next message to the same next hop. A next hop "lmtp:DEST" (the queue's lmtp
// transport) is an LMTP server (RFC 2033) on a Unix socket or host:port: no MX lookup, no
// TLS or AUTH, LHLO and one reply per recipient, its connections kept for
// lmtp_connection_reuse_time. Called from main.cpp through the daemon hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "deliver/remote/authinfo.hpp"
#include "deliver/remote/mx.hpp"
#include "deliver/remote/session.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/dns/resolver.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/mail/next_hop.hpp"
#include "lib/map/map.hpp"

namespace tegami::remote {

// The resolver (lib/dns) is shared with smtpd.
using dns::addresses_from_rdata;
using dns::DnsAnswer;
using dns::kRrA;
using dns::kRrAaaa;
using dns::kRrMx;
using dns::Resolver;

// A request's body: read whole when small (kReadBodyMax), else a read-only mapping of its
// descriptor (a sealed memfd or a body file: any regular file of the announced size).
class MappedBody {
  public:
    MappedBody() = default;
    MappedBody(const MappedBody&) = delete;
    MappedBody& operator=(const MappedBody&) = delete;
    // Maps [offset, offset + size) of fd, a regular file exactly offset + size long (a
    // small body is read instead, kReadBodyMax).
    bool map(int fd, uint64_t offset, uint64_t size, std::string& why);
    std::string_view view() const { return read_ ? std::string_view(small_) : m_.view(); }
    // The view is a shared file mapping, whose sent pages may be given back
    // (UniqueMapping::drop_pages); false for a body read into memory.
    bool mapped() const { return !read_ && !m_.view().empty(); }
    static constexpr uint64_t kReadBodyMax = 16384;

  private:
    UniqueMapping m_;
    std::string small_;
    bool read_ = false;
};

class RemoteServer {
  public:
    // The credentials for a host (sendmail authinfo), or none.
    using AuthLookup = std::function<std::optional<AuthInfo>(const std::string& host)>;

    RemoteServer() = default;
    RemoteServer(const RemoteServer&) = delete;
    RemoteServer& operator=(const RemoteServer&) = delete;
    ~RemoteServer();

    void init(DaemonContext& ctx);
    void reload(DaemonContext& ctx);
    bool stop(DaemonContext& ctx);
    void set_auth_lookup(AuthLookup f) { auth_lookup_ = std::move(f); }
    // The authinfo map's entry for host ("AuthInfo:host", then "AuthInfo:"), parsed.
    std::optional<AuthInfo> authinfo_for(const std::string& host);

  private:
    struct Job {
        uint64_t conn_id = 0;
        ipc::DeliverMsg msg;
        MappedBody body;
        NextHop hop;
        bool lmtp = false;
        LmtpDestination lmtp_dest;                    // when lmtp
        std::vector<std::optional<Outcome>> results;  // by position in msg.recipients
        std::vector<std::string> hosts;               // still to try
        std::vector<std::string> addrs;               // of the current host, still to try
        std::string host;                             // the current host
        Outcome last{4, "4.4.1", "no host was tried"};
        std::string relay;
        uint64_t dns_a = 0, dns_aaaa = 0, dns_mx = 0;
        int dns_waiting = 0;
        std::vector<std::string> v4, v6;
        bool perm_dns = false;
        double received = 0;  // steady_seconds(): when the request came
        double mail_at = 0;   // when its transaction started (MAIL); 0: it never did
    };

    static void on_accept_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_cleanup_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_idle_cb(evutil_socket_t, short, void* arg) noexcept;
    void accept_all();
    void on_frame(uint64_t conn_id, ipc::MsgType t, std::string_view payload,
                  std::vector<UniqueFd>& fds);
    void drop_conn(uint64_t id, const std::string& why);
    void start_job(const std::shared_ptr<Job>& job);
    void on_mx(const std::shared_ptr<Job>& job, const DnsAnswer& a);
    void next_host(const std::shared_ptr<Job>& job);
    void on_addrs(const std::shared_ptr<Job>& job, int rrtype, const DnsAnswer& a);
    void next_address(const std::shared_ptr<Job>& job);
    MessageSpec spec_for(const Job& job) const;
    void on_session_done(Session& s, const std::vector<Outcome>& results);
    void on_session_closed(Session& s, const Outcome& o, const std::vector<Outcome>& partial);
    void apply(Job& job, const std::vector<Outcome>& outcomes, const Outcome* session_failure);
    void finish_all(const std::shared_ptr<Job>& job, const Outcome& o);
    void answer(const std::shared_ptr<Job>& job);
    bool try_reuse(const std::shared_ptr<Job>& job);
    static std::string reuse_key(const NextHop& hop, const std::string& level,
                                 const std::string& user, const std::string& password);
    std::string key_for(const Job& job);
    void restart_hosts(const std::shared_ptr<Job>& job);
    void park(Session& s);
    void schedule_cleanup();

    DaemonContext* ctx_ = nullptr;
    const Config& cfg() const { return *ctx_->config; }
    int listen_fd_ = -1;
    EventPtr accept_ev_, cleanup_ev_;
    std::unique_ptr<Resolver> resolver_;
    SslCtxPtr tls_;
    AuthLookup auth_lookup_;
    std::unique_ptr<map::MapRef> authinfo_;
    std::unique_ptr<map::MapRef> tls_policy_;
    // The TLS level for a next hop: the policy map's entry, else smtp_tls_security.
    std::string tls_level(const std::string& host);
    std::mt19937 rng_{std::random_device{}()};
    std::map<uint64_t, std::unique_ptr<ipc::Channel>> conns_;
    std::vector<std::unique_ptr<ipc::Channel>> dead_conns_;
    uint64_t next_conn_ = 1;
    struct Active {
        std::unique_ptr<Session> session;
        std::shared_ptr<Job> job;  // null while idle
        std::string hop_key;
        EventPtr idle_timer;
        RemoteServer* owner = nullptr;
    };
    std::map<Session*, std::unique_ptr<Active>> sessions_;
    std::vector<std::unique_ptr<Active>> dead_sessions_;
    size_t jobs_ = 0;
    bool stopping_ = false;
};

}  // namespace tegami::remote
