// server.cpp - see server.hpp.
#include "smtpd/server/server.hpp"

#include "smtpd/server/limits_policy.hpp"
#include "smtpd/server/relay_policy.hpp"
#include "smtpd/server/submission.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/map/virtual.hpp"
#include "lib/tls/transport.hpp"

namespace tegami::smtpd {

Server::Server(DaemonContext& ctx)
    : ctx_(ctx),
      queue_(ctx.base, [&ctx] { return ctx.config; }),
      auth_(ctx.base, [&ctx] { return ctx.config; }) {
    policy_.add(std::make_unique<RelayPolicy>());
    policy_.add(std::make_unique<SubmissionHeaders>());
    policy_.add(std::make_unique<LimitsPolicy>(*this));  // last: it suspends MAIL
}

Server::~Server() {
    conns_.clear();  // sessions cancel their queue requests while queue_ still exists
}

void Server::start() {
    make_role_configs();
    load_tls(false);
    load_resolver(false);
    for (auto& l : ctx_.listeners) {
        Role role;
        if (!parse_role(l.role, role) || !l.fd.valid()) continue;
        if (role == Role::smtps && !tls_) {
            log_error("not listening on %s (smtps): no usable TLS certificate", l.name.c_str());
            l.fd.reset();
            continue;
        }
        evutil_make_socket_nonblocking(l.fd.get());
        auto ls = std::make_unique<ListenerSlot>(ListenerSlot{this, role, l.name, {}});
        ls->listener.reset(evconnlistener_new(ctx_.base, &Server::accept_cb, ls.get(),
                                              LEV_OPT_CLOSE_ON_FREE, 0, l.fd.get()));
        if (!ls->listener) {
            log_error("cannot listen on %s", l.name.c_str());
            continue;
        }
        l.fd.release();  // the listener closes it now
        evconnlistener_set_error_cb(ls->listener.get(), &Server::accept_error_cb);
        log_info("listening on %s (%s)", l.name.c_str(), role_name(role));
        listeners_.push_back(std::move(ls));
    }
    if (listeners_.empty()) log_warning("no SMTP listener: nothing to serve");
}

// Each role's snapshot: the file's values with that listener's overrides applied.
void Server::make_role_configs() {
    for (Role r : {Role::mta, Role::msa, Role::smtps, Role::local}) {
        auto c = std::make_shared<const Config>(config_for_role(*ctx_.config, role_name(r)));
        std::vector<std::string> list = c->trusted_networks;
        list.insert(list.end(), c->smtpd_client_event_limit_exceptions.begin(),
                    c->smtpd_client_event_limit_exceptions.end());
        std::string bad;  // checked when the file was read
        auto nets = parse_networks(list, bad);
        exempt_nets_[static_cast<size_t>(r)] = nets ? std::move(*nets) : std::vector<Network>{};
        role_config_[static_cast<size_t>(r)] = std::move(c);
    }
}

// New connections from addr in the last minute (6 buckets of 10 s), this one included
// when `count`.
uint64_t Server::connection_rate(const std::string& addr, time_t now, bool count) {
    int64_t idx = static_cast<int64_t>(now / kRateBucketSeconds);
    auto it = rates_.find(addr);
    if (it == rates_.end()) {
        if (!count) return 0;
        if (rates_.size() >= kMaxRateEntries) {
            // Forget addresses that opened nothing within the minute; if every one did,
            // start over (forgetting only ever lets a client in, never keeps one out).
            std::erase_if(rates_, [idx](const auto& kv) {
                for (size_t i = 0; i < kRateBuckets; ++i)
                    if (kv.second.count[i] && kv.second.index[i] > idx - int64_t(kRateBuckets))
                        return false;
                return true;
            });
            if (rates_.size() >= kMaxRateEntries) rates_.clear();
        }
        it = rates_.emplace(addr, RateEntry{}).first;
    }
    RateEntry& e = it->second;
    size_t slot = static_cast<size_t>(idx % static_cast<int64_t>(kRateBuckets));
    if (e.index[slot] != idx) {
        e.index[slot] = idx;
        e.count[slot] = 0;
    }
    if (count) ++e.count[slot];
    uint64_t n = 0;
    for (size_t i = 0; i < kRateBuckets; ++i)
        if (e.index[i] > idx - static_cast<int64_t>(kRateBuckets)) n += e.count[i];
    return n;
}

std::string Server::client_refusal(const Config& cfg, const std::string& addr) {
    if (cfg.smtpd_client_connection_rate_limit &&
        connection_rate(addr, std::time(nullptr), true) > cfg.smtpd_client_connection_rate_limit)
        return "too many connections per minute from " + addr;
    uint64_t limit = cfg.smtpd_client_connection_count_limit;
    if (limit) {
        auto it = per_addr_.find(addr);
        if (it != per_addr_.end() && it->second >= limit)
            return "too many connections from " + addr;
    }
    return {};
}

// The certificates, read again on SIGHUP; a bad new set keeps the old context. Sessions
// keep the context they started TLS with.
void Server::load_tls(bool reload) {
    const Config& c = *ctx_.config;
    if (c.tls_cert_file.empty()) {
        if (tls_) log_info("tls: no tls_cert_file any more; new sessions are offered no TLS");
        tls_.reset();
        ticket_timer_.reset();
        return;
    }
    auto t = tls::Context::load(c);
    if (!t) {
        log_error("tls: %s%s", t.error().message.c_str(),
                  reload && tls_ ? " (keeping the previous certificates)" : " (TLS disabled)");
        return;
    }
    if (tls_) t.value()->adopt_ticket_keys(*tls_);
    tls_ = std::move(t.value());
    log_info("tls: %zu certificate(s) loaded", c.tls_cert_file.size());
    if (!ticket_timer_)
        ticket_timer_.reset(event_new(ctx_.base, -1, EV_PERSIST, &Server::ticket_timer_cb, this));
    timeval tv{static_cast<time_t>(c.tls_ticket_rotation ? c.tls_ticket_rotation : 3600), 0};
    event_add(ticket_timer_.get(), &tv);
}

void Server::ticket_timer_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* s = static_cast<Server*>(arg);
    if (s->tls_) s->tls_->rotate_ticket_keys();
}

// The client-name resolver from the current configuration. On a reload a resolver that
// cannot be made (a bad dns_resolver entry) leaves the previous one in use; sessions
// whose lookup runs on the previous one keep it until they are named.
void Server::load_resolver(bool reload) {
    if (!ctx_.config->smtpd_peername_lookup) {
        if (reload && resolver_) log_info("client names: lookups turned off");
        resolver_.reset();
        return;
    }
    auto r = dns::Resolver::create(ctx_.base, ctx_.config->dns_resolver);
    if (!r) {
        if (reload && resolver_)
            log_error("client names: %s: keeping the previous resolver", r.error().message.c_str());
        else
            log_warning("client names: no resolver (%s): every client is \"unknown\"",
                        r.error().message.c_str());
        return;
    }
    resolver_ = std::move(r.value());
    if (reload) log_info("client names: resolver reloaded");
}

void Server::reload() {
    make_role_configs();
    load_tls(true);
    load_resolver(true);
    log_info("new sessions use the reloaded configuration; %zu sessions keep theirs",
             conns_.size());
}

void Server::accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int len,
                       void* arg) noexcept {
    auto* ls = static_cast<ListenerSlot*>(arg);
    try {
        ls->server->on_accept(*ls, fd, sa, len);
    } catch (const std::exception& e) {
        log_error("accept: %s", e.what());
    } catch (...) {
        log_error("accept: unknown exception");
    }
}

void Server::accept_error_cb(evconnlistener*, void* arg) noexcept {
    int err = EVUTIL_SOCKET_ERROR();
    try {
        static_cast<ListenerSlot*>(arg)->server->accept_failed(err);
    } catch (...) {
        log_error("accept: %s", evutil_socket_error_to_string(err));
    }
}

// Out of descriptors (or kernel memory): the pending connection stays in the backlog and
// the listener would report the same error at every turn of the loop, a busy loop that
// floods the log. The listeners pause for a second instead (one log line a pause) and
// resume by themselves; sessions already open go on meanwhile.
void Server::accept_failed(int err) {
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        log_warning("accept: %s", evutil_socket_error_to_string(err));
        return;
    }
    if (!accept_timer_)
        accept_timer_.reset(evtimer_new(ctx_.base, &Server::accept_resume_cb, this));
    if (!accept_timer_ || evtimer_pending(accept_timer_.get(), nullptr)) return;
    log_warning("accept: %s with %zu sessions: not accepting for 1 s",
                evutil_socket_error_to_string(err), conns_.size());
    for (auto& l : listeners_)
        if (l && l->listener) evconnlistener_disable(l->listener.get());
    timeval one{1, 0};
    evtimer_add(accept_timer_.get(), &one);
}

void Server::accept_resume_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Server*>(arg);
    for (auto& l : self->listeners_)
        if (l && l->listener) evconnlistener_enable(l->listener.get());
}

void Server::on_accept(const ListenerSlot& ls, evutil_socket_t fd, const sockaddr* sa, int len) {
    UniqueFd owner(fd);  // nonblocking already: the listener accepts with SOCK_NONBLOCK
    ClientInfo ci = client_info(sa, len);
    if (sa->sa_family == AF_UNIX) {  // the local (MSP) listener: who is it, by the kernel
        ci.local = true;
        ci.uid = peer_uid(fd);
        ci.trusted = ci.uid == 0 || ci.uid == static_cast<long>(::geteuid());
        ci.addr = "local";
        ci.name = "localhost";
    } else {
        // Replies are whole and gathered per read (Stream::feed), so Nagle only delays:
        // after STARTTLS the session ticket and the EHLO reply are two writes, and the
        // second waited for the client's delayed ACK (about 40 ms per submission).
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    const auto& role_cfg = role_config_[static_cast<size_t>(ls.role)];
    const Config& cfg = *role_cfg;
    if (stop_stage_ != 0 || (cfg.smtpd_client_limit && conns_.size() >= cfg.smtpd_client_limit)) {
        log_warning("too many connections: refusing %s[%s]", ci.name.c_str(), ci.addr.c_str());
        std::string msg = "421 4.7.0 " + cfg.hostname + " Error: too many connections\r\n";
        ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
        return;
    }
    bool exempt = ci.local || network_contains(exempt_nets_[static_cast<size_t>(ls.role)], ci.addr);
    ci.limits_exempt = exempt;
    if (!exempt) {
        std::string why = client_refusal(cfg, ci.addr);
        if (!why.empty()) {
            log_warning("refusing %s[%s]: %s", ci.name.c_str(), ci.addr.c_str(), why.c_str());
            std::string msg = "421 4.7.0 " + cfg.hostname + " Error: " + why + "\r\n";
            ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)n;
            return;
        }
    }
    std::string counted_addr = exempt ? std::string() : ci.addr;
    std::unique_ptr<Transport> transport;
    if (ls.role == Role::smtps) {
        if (!tls_) return;  // certificates gone after a reload: close
        transport = tls::TlsTransport::accept(tls_, std::move(owner));
        if (!transport) {
            log_error("tls: cannot make a session for %s[%s]", ci.name.c_str(), ci.addr.c_str());
            return;
        }
    } else {
        transport = std::make_unique<PlainTransport>(std::move(owner));
    }
    auto conn =
        std::make_unique<Connection>(*this, std::move(transport), role_cfg, std::move(ci), ls.role);
    Connection* c = conn.get();
    c->set_id(++next_id_);
    by_id_.emplace(next_id_, c);
    conns_.emplace(c, std::move(conn));
    if (!counted_addr.empty()) {
        ++per_addr_[counted_addr];
        counted_.emplace(c, std::move(counted_addr));
    }
    c->start();
    reap(c);
}

void Server::reap(Connection* c) {
    if (!c->dead()) return;
    by_id_.erase(c->id());
    if (auto it = counted_.find(c); it != counted_.end()) {
        auto pa = per_addr_.find(it->second);
        if (pa != per_addr_.end() && --pa->second == 0) per_addr_.erase(pa);
        counted_.erase(it);
    }
    conns_.erase(c);
    if (stop_stage_ != 0 && conns_.empty()) {
        stop_timer_.reset();
        daemon_exit_loop(ctx_);
    }
}

std::vector<Connection*> Server::all() {
    std::vector<Connection*> v;
    v.reserve(conns_.size());
    for (auto& [c, owner] : conns_)
        v.push_back(c);
    return v;
}

bool Server::stop() {
    stop_stage_ = 1;
    listeners_.clear();
    for (Connection* c : all()) {
        c->drain();
        reap(c);
    }
    if (conns_.empty()) return true;
    log_info("stopping: %zu sessions finishing their transactions", conns_.size());
    stop_timer_.reset(evtimer_new(ctx_.base, &Server::stop_timer_cb, this));
    timeval tv{kDrainSeconds, 0};
    event_add(stop_timer_.get(), &tv);
    return false;
}

void Server::stop_timer_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<Server*>(arg)->on_stop_timer();
    } catch (...) {
        log_error("stop timer: exception");
    }
}

void Server::on_stop_timer() {
    if (stop_stage_ == 1) {
        stop_stage_ = 2;
        for (Connection* c : all()) {
            c->shutdown_now();
            reap(c);
        }
        if (conns_.empty()) return;  // reap ended the loop
        timeval tv{1, 0};            // a moment to flush the 421s
        event_add(stop_timer_.get(), &tv);
        return;
    }
    log_info("stopping: closing %zu sessions", conns_.size());
    conns_.clear();
    daemon_exit_loop(ctx_);
}

// sendmail's virtusertable at RCPT: an entry (or a catch-all) accepts, an error: entry
// refuses with its code, no entry refuses with 550 5.1.1; an unreadable map defers.
std::optional<Reply> Server::check_virtual(const Mailbox& mb) {
    const Config& cfg = *ctx_.config;
    if (!virtual_ || virtual_->spec() != cfg.virtual_map)
        virtual_ = std::make_unique<map::MapRef>(cfg.virtual_map);
    std::string addr = mb.str();
    if (!virtual_->configured())
        return make_reply(550, "5.1.1", "<" + addr + ">: no virtual user table configured");
    auto t = virtual_lookup(*virtual_, unquote_local(mb.local), mb.domain, cfg.recipient_delimiter);
    if (!t) {
        log_error("virtual_map: %s", t.error().message.c_str());
        return make_reply(451, "4.3.0", "<" + addr + ">: virtual user table unavailable");
    }
    switch (t->kind) {
        case VirtualTarget::Kind::address:
            return std::nullopt;
        case VirtualTarget::Kind::error:
            return make_reply(t->status == 4 ? 450 : 550, t->dsn, "<" + addr + ">: " + t->text);
        case VirtualTarget::Kind::none:
            break;
    }
    return make_reply(550, "5.1.1",
                      "<" + addr +
                          ">: Recipient address rejected: User unknown in virtual "
                          "user table");
}

namespace {
// "ino:size:mtime" of a file, or "-" when absent: enough to see that it changed.
std::string file_signature(const std::string& path) {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return "-";
    return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}
constexpr size_t kLocalCacheMax = 4096;  // names remembered (harvesting cannot grow it)
constexpr time_t kLocalCacheTtl = 60;    // NSS sources other than files change unseen
}  // namespace

// RCPT's recipient check, with the answers remembered: a passwd lookup costs six system
// calls per recipient. The cache is emptied when /etc/passwd or the aliases file
// changes (checked at most once a second, with the aliases refresh), after
// kLocalCacheTtl, or when it is full.
LocalKind Server::classify_local(std::string_view local_part) {
    const Config& cfg = *ctx_.config;
    if (!cfg.aliases.empty() && (!aliases_ || aliases_->path() != cfg.aliases)) {
        aliases_ = std::make_unique<AliasFile>(cfg.aliases);
        aliases_checked_ = 0;
    }
    time_t now = std::time(nullptr);
    if (now != aliases_checked_) {
        aliases_checked_ = now;
        if (aliases_ && !cfg.aliases.empty())
            if (auto r = aliases_->refresh(); !r)
                log_error("aliases: %s (keeping the previous table)", r.error().message.c_str());
        std::string sig = file_signature("/etc/passwd") + " " + file_signature(cfg.aliases) + " " +
                          file_signature(cfg.aliases.empty() ? "" : cfg.aliases + ".db");
        if (sig != local_sig_ || now - local_cache_born_ >= kLocalCacheTtl) {
            local_cache_.clear();
            local_sig_ = std::move(sig);
            local_cache_born_ = now;
        }
    }
    std::string key(local_part);
    if (auto it = local_cache_.find(key); it != local_cache_.end()) return it->second;
    const AliasFile* table = cfg.aliases.empty() ? nullptr : aliases_.get();
    LocalKind kind = tegami::classify_local(local_part, table, cfg.recipient_delimiter);
    if (local_cache_.size() >= kLocalCacheMax) local_cache_.clear();
    local_cache_.emplace(std::move(key), kind);
    return kind;
}

bool Server::policy_done(uint64_t id, const PolicyVerdict& v) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    it->second->policy_done(v);  // may reap (delete) the connection
    return true;
}

bool Server::auth_done(uint64_t id, const Reply& r, std::string login) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    it->second->auth_done(r, std::move(login));
    return true;
}

PolicyVerdict Server::policy(const SessionState& st, const VerbSpec& verb,
                             const CommandArgs& args) {
    return policy_.run(st, verb, args);
}

}  // namespace tegami::smtpd
