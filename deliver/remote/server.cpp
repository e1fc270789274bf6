// server.cpp - see server.hpp. Runs as the daemon's user with no capabilities. Trusts
// only peers with its own uid (SO_PEERCRED) and, from them, only frames that decode
// strictly and carry exactly one body descriptor of the announced size.
// Invariants: each DeliverMsg gets exactly one DeliverResultMsg while its connection is
// open, with one result per recipient; a recipient is reported sent only after the next
// hop's 250 to the end of data; a session is never freed inside its own callback.
#include "deliver/remote/server.hpp"

#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/core/log.hpp"

namespace tegami::remote {

namespace {

template <typename F>
void guarded(const char* what, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        log_error("remote: %s: %s", what, e.what());
    } catch (...) {
        log_error("remote: %s: unknown exception", what);
    }
}

bool same(const Outcome& a, const Outcome& b) {
    return a.status == b.status && a.dsn == b.dsn && a.text == b.text;
}

}  // namespace

bool MappedBody::map(int fd, uint64_t offset, uint64_t size, std::string& why) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || offset > UINT64_MAX - size ||
        static_cast<uint64_t>(st.st_size) != offset + size) {
        why = "body descriptor is not a file of the announced size";
        return false;
    }
    if (size == 0) return true;
    if (size <= kReadBodyMax) {
        // A small body is read in one call: cheaper than a mapping and its unmapping.
        small_.resize(static_cast<size_t>(size));
        size_t off = 0;
        while (off < small_.size()) {
            ssize_t r = ::pread(fd, small_.data() + off, small_.size() - off,
                                static_cast<off_t>(offset + off));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                why = r < 0 ? std::string("read: ") + std::strerror(errno)
                            : "body descriptor shorter than announced";
                small_.clear();
                return false;
            }
            off += static_cast<size_t>(r);
        }
        read_ = true;
        return true;
    }
    if (!m_.map(fd, static_cast<size_t>(size), offset)) {
        why = std::string("mmap: ") + std::strerror(errno);
        return false;
    }
    return true;
}

RemoteServer::~RemoteServer() {
    sessions_.clear();
    resolver_.reset();
}

void RemoteServer::init(DaemonContext& ctx) {
    ctx_ = &ctx;
    for (auto& l : ctx.listeners)
        if (l.role == "remote") listen_fd_ = l.fd.get();
    if (listen_fd_ < 0) log_fatal(Exit::config, "remote: no \"remote\" listener was handed over");
    auto r = Resolver::create(ctx.base, cfg().dns_resolver);
    if (!r) log_fatal(r.error().exit, "remote: %s", r.error().message.c_str());
    resolver_ = std::move(r.value());
    auto t = make_client_tls_context();
    if (!t)
        log_warning("remote: no TLS: %s", t.error().message.c_str());
    else
        tls_ = std::move(t.value());
    if (!cfg().authinfo.empty()) authinfo_ = std::make_unique<map::MapRef>(cfg().authinfo);
    if (!cfg().smtp_tls_policy.empty())
        tls_policy_ = std::make_unique<map::MapRef>(cfg().smtp_tls_policy);
    if (!auth_lookup_) auth_lookup_ = [this](const std::string& h) { return authinfo_for(h); };
    accept_ev_.reset(event_new(ctx.base, listen_fd_, EV_READ | EV_PERSIST, on_accept_cb, this));
    cleanup_ev_.reset(event_new(ctx.base, -1, 0, on_cleanup_cb, this));
    if (!accept_ev_ || !cleanup_ev_) log_fatal(Exit::os_err, "remote: event_new");
    event_add(accept_ev_.get(), nullptr);
}

void RemoteServer::reload(DaemonContext& ctx) {
    ctx_ = &ctx;
    authinfo_.reset();
    if (!cfg().authinfo.empty()) authinfo_ = std::make_unique<map::MapRef>(cfg().authinfo);
    tls_policy_.reset();
    if (!cfg().smtp_tls_policy.empty())
        tls_policy_ = std::make_unique<map::MapRef>(cfg().smtp_tls_policy);
    auto r = Resolver::create(ctx.base, cfg().dns_resolver);
    if (!r) {
        log_error("remote: %s: keeping the old resolver", r.error().message.c_str());
        return;
    }
    // Queries in flight keep their answers coming from the old resolver only if we keep
    // it: jobs waiting on DNS are rare and short; they are answered as deferred.
    if (jobs_ == 0) resolver_ = std::move(r.value());
}

std::optional<AuthInfo> RemoteServer::authinfo_for(const std::string& host) {
    if (!authinfo_) return std::nullopt;
    for (const std::string& key : {"AuthInfo:" + host, std::string("AuthInfo:")}) {
        auto v = authinfo_->lookup(key);
        if (!v) {
            log_warning("remote: authinfo %s: %s", cfg().authinfo.c_str(),
                        v.error().message.c_str());
            return std::nullopt;
        }
        if (!*v) continue;
        AuthInfo a;
        std::string why;
        if (!parse_authinfo(**v, a, why)) {
            log_warning("remote: authinfo %s, key %s: %s", cfg().authinfo.c_str(), key.c_str(),
                        why.c_str());
            return std::nullopt;
        }
        return a;
    }
    return std::nullopt;
}

std::string RemoteServer::tls_level(const std::string& host) {
    if (tls_policy_) {
        auto v = tls_policy_->lookup(host);
        if (!v) {
            // The policy cannot be read: assume the strictest level rather than less.
            log_warning("remote: smtp_tls_policy %s: %s: requiring a verified certificate",
                        cfg().smtp_tls_policy.c_str(), v.error().message.c_str());
            return "verify";
        }
        if (*v) {
            const std::string& l = **v;
            if (l == "none" || l == "may" || l == "encrypt" || l == "verify") return l;
            log_warning(
                "remote: smtp_tls_policy %s, key %s: bad level \"%s\": requiring a "
                "verified certificate",
                cfg().smtp_tls_policy.c_str(), host.c_str(), l.c_str());
            return "verify";
        }
    }
    return cfg().smtp_tls_security;
}

bool RemoteServer::stop(DaemonContext&) {
    stopping_ = true;
    if (accept_ev_) event_del(accept_ev_.get());
    std::vector<Session*> all;
    for (auto& [s, a] : sessions_)
        all.push_back(s);
    for (Session* s : all)
        s->quit();
    return true;
}

void RemoteServer::on_accept_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("accept", [arg] { static_cast<RemoteServer*>(arg)->accept_all(); });
}

void RemoteServer::on_cleanup_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("cleanup", [arg] {
        auto* self = static_cast<RemoteServer*>(arg);
        self->dead_conns_.clear();
        self->dead_sessions_.clear();
    });
}

void RemoteServer::schedule_cleanup() {
    timeval tv{0, 0};
    event_add(cleanup_ev_.get(), &tv);
}

void RemoteServer::accept_all() {
    for (;;) {
        UniqueFd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warning("remote: accept: %s", std::strerror(errno));
            return;
        }
        long uid = peer_uid(fd.get());
        if (uid < 0 || uid != daemon_uid("queue")) {
            log_warning("remote: refusing a connection from uid %ld", uid);
            continue;
        }
        uint64_t id = next_conn_++;
        conns_[id] = std::make_unique<ipc::Channel>(
            ctx_->base, std::move(fd),
            [this, id](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
                on_frame(id, t, p, fds);
            },
            [this, id](const std::string& why) { drop_conn(id, why); });
    }
}

void RemoteServer::drop_conn(uint64_t id, const std::string& why) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    log_debug("remote: queue connection closed (%s)", why.c_str());
    it->second->close();
    dead_conns_.push_back(std::move(it->second));
    conns_.erase(it);
    schedule_cleanup();
}

void RemoteServer::on_frame(uint64_t conn_id, ipc::MsgType t, std::string_view payload,
                            std::vector<UniqueFd>& fds) {
    auto job = std::make_shared<Job>();
    job->received = steady_seconds();
    job->conn_id = conn_id;
    if (t != ipc::MsgType::deliver || !ipc::decode(payload, job->msg) || fds.size() != 1 ||
        job->msg.recipients.empty()) {
        log_error("remote: bad %s frame from the queue: closing", ipc::msg_type_name(t));
        return drop_conn(conn_id, "malformed frame");
    }
    job->results.assign(job->msg.recipients.size(), std::nullopt);
    std::string why;
    if (!job->body.map(fds[0].get(), job->msg.body_offset, job->msg.body_size, why)) {
        log_error("%s: %s", job->msg.queue_id.c_str(), why.c_str());
        finish_all(job, Outcome{4, "4.3.0", "cannot read the message body: " + why});
        return;
    }
    ++jobs_;
    std::string_view hop = job->msg.next_hop;
    if (hop.substr(0, 5) == "lmtp:") {
        job->lmtp = true;
        if (!parse_lmtp_destination(hop.substr(5), job->lmtp_dest)) {
            finish_all(job,
                       Outcome{4, "4.3.5", "bad LMTP destination \"" + job->msg.next_hop + "\""});
            return;
        }
        job->hop = job->lmtp_dest.inet;
        if (!job->lmtp_dest.unix_path.empty()) job->hop.host = "lmtp";
        start_job(job);
        return;
    }
    if (!parse_next_hop(job->msg.next_hop, job->hop)) {
        finish_all(job, Outcome{4, "4.3.5", "bad next hop \"" + job->msg.next_hop + "\""});
        return;
    }
    start_job(job);
}

MessageSpec RemoteServer::spec_for(const Job& job) const {
    MessageSpec m;
    m.sender = job.msg.sender;
    m.eight_bit = (job.msg.flags & ipc::kFlag8BitMime) != 0;
    m.smtputf8 = (job.msg.flags & ipc::kFlagSmtputf8) != 0;
    m.envid = job.msg.envid;
    if (job.msg.flags & ipc::kFlagRetFull) m.ret = "FULL";
    if (job.msg.flags & ipc::kFlagRetHdrs) m.ret = "HDRS";
    m.body = job.body.view();
    m.body_mapped = job.body.mapped();
    for (size_t i = 0; i < job.msg.recipients.size(); ++i) {
        if (job.results[i]) continue;
        const auto& r = job.msg.recipients[i];
        m.rcpts.push_back(RcptSpec{r.address, r.orcpt, r.notify});
    }
    return m;
}

void RemoteServer::start_job(const std::shared_ptr<Job>& job) {
    if (try_reuse(job)) return;
    restart_hosts(job);
}

// The host list of a next hop from the start: the bracketed host (or the LMTP server), or
// the MX lookup.
void RemoteServer::restart_hosts(const std::shared_ptr<Job>& job) {
    if (!job->hop.mx) {
        job->hosts = {job->hop.host};
        return next_host(job);
    }
    job->dns_mx =
        resolver_->query(job->hop.host, kRrMx, [this, job](const DnsAnswer& a) { on_mx(job, a); });
    if (!job->dns_mx) finish_all(job, Outcome{4, "4.4.3", "cannot start a DNS query"});
}

void RemoteServer::on_mx(const std::shared_ptr<Job>& job, const DnsAnswer& a) {
    job->dns_mx = 0;
    const std::string& d = job->hop.host;
    switch (a.kind) {
        case DnsAnswer::Kind::nxdomain:
            return finish_all(job, Outcome{5, "5.1.2", "Host or domain name not found: " + d});
        case DnsAnswer::Kind::temp:
            return finish_all(
                job,
                Outcome{4, "4.4.3", "DNS lookup of MX for " + d + " failed, try again: " + a.why});
        case DnsAnswer::Kind::nodata:
            job->hosts = {d};  // implicit MX (RFC 5321 5.1)
            job->perm_dns = true;
            return next_host(job);
        case DnsAnswer::Kind::data:
            break;
    }
    std::vector<MxRecord> recs;
    for (const auto& rd : a.rdata) {
        MxRecord r;
        if (parse_mx_rdata(rd, r)) recs.push_back(std::move(r));
    }
    MxPlan plan = plan_mx(std::move(recs), rng_);
    if (plan.null_mx)
        return finish_all(job,
                          Outcome{5, "5.1.10", "Domain " + d + " does not accept mail (null MX)"});
    if (plan.hosts.empty())
        return finish_all(job, Outcome{4, "4.4.3", "no usable MX record for " + d});
    job->hosts = std::move(plan.hosts);
    next_host(job);
}

void RemoteServer::next_host(const std::shared_ptr<Job>& job) {
    if (job->hosts.empty()) return finish_all(job, job->last);
    job->host = job->hosts.front();
    job->hosts.erase(job->hosts.begin());
    job->v4.clear();
    job->v6.clear();
    unsigned char buf[16];
    if (job->lmtp && !job->lmtp_dest.unix_path.empty()) {
        job->addrs = {""};  // the socket path stands for the address
        return next_address(job);
    }
    if (inet_pton(AF_INET, job->host.c_str(), buf) == 1 ||
        inet_pton(AF_INET6, job->host.c_str(), buf) == 1) {
        job->addrs = {job->host};
        return next_address(job);
    }
    job->dns_waiting = 2;
    job->dns_aaaa = resolver_->query(
        job->host, kRrAaaa, [this, job](const DnsAnswer& a) { on_addrs(job, kRrAaaa, a); });
    job->dns_a = resolver_->query(job->host, kRrA,
                                  [this, job](const DnsAnswer& a) { on_addrs(job, kRrA, a); });
    if (!job->dns_a || !job->dns_aaaa) {
        resolver_->cancel(job->dns_a);
        resolver_->cancel(job->dns_aaaa);
        finish_all(job, Outcome{4, "4.4.3", "cannot start a DNS query"});
    }
}

void RemoteServer::on_addrs(const std::shared_ptr<Job>& job, int rrtype, const DnsAnswer& a) {
    (rrtype == kRrA ? job->dns_a : job->dns_aaaa) = 0;
    auto& into = rrtype == kRrA ? job->v4 : job->v6;
    if (a.kind == DnsAnswer::Kind::data) into = addresses_from_rdata(rrtype, a.rdata);
    if (a.kind == DnsAnswer::Kind::temp) {
        job->perm_dns = false;
        job->last =
            Outcome{4, "4.4.3", "DNS lookup of " + job->host + " failed, try again: " + a.why};
    }
    if (--job->dns_waiting > 0) return;
    job->addrs = job->v6;
    job->addrs.insert(job->addrs.end(), job->v4.begin(), job->v4.end());
    if (job->addrs.empty()) {
        // The domain itself (implicit MX) has no address: it cannot receive mail.
        if (job->perm_dns && job->hosts.empty())
            return finish_all(job,
                              Outcome{5, "5.1.2", "Host or domain name not found: " + job->host});
        if (job->last.dsn != "4.4.3" || job->last.text.find(job->host) == std::string::npos)
            job->last = Outcome{4, "4.4.4", "no address for MX host " + job->host};
        return next_host(job);
    }
    next_address(job);
}

void RemoteServer::next_address(const std::shared_ptr<Job>& job) {
    if (job->addrs.empty()) return next_host(job);
    SessionTarget t;
    t.host = job->host;
    t.address = job->addrs.front();
    job->addrs.erase(job->addrs.begin());
    t.port = job->hop.port;
    t.implicit_tls = job->hop.implicit_tls;
    ClientSettings cs;
    cs.helo_name = cfg().hostname;
    std::string level = job->lmtp ? "none" : tls_level(job->hop.host);
    cs.tls_possible = level != "none";
    cs.tls_required = level == "encrypt" || level == "verify";
    t.verify_tls = level == "verify";
    if (job->lmtp) {
        // A local mailbox server: no STARTTLS, no AUTH, the operator's reply time limit.
        t.unix_path = job->lmtp_dest.unix_path;
        cs.lmtp = true;
        cs.reply_timeout = static_cast<unsigned>(cfg().lmtp_timeout);
    } else if (auth_lookup_) {
        if (auto ai = auth_lookup_(job->hop.host)) {
            cs.auth_user = ai->authid;
            cs.auth_password = ai->password;
            cs.auth_mechanisms = ai->mechanisms;
        }
    }
    auto a = std::make_unique<Active>();
    a->job = job;
    a->hop_key = key_for(*job);
    a->owner = this;
    a->session = std::make_unique<Session>(
        ctx_->base, tls_.get(), std::move(t), std::move(cs),
        static_cast<unsigned>(cfg().smtp_connect_timeout),
        [this](Session& s, const std::vector<Outcome>& r) { on_session_done(s, r); },
        [this](Session& s, const Outcome& o, const std::vector<Outcome>& p) {
            on_session_closed(s, o, p);
        });
    Session* key = a->session.get();
    job->relay = key->relay();
    sessions_[key] = std::move(a);
    key->start(spec_for(*job));
}

// Outcomes arrive for the recipients still open, in order.
void RemoteServer::apply(Job& job, const std::vector<Outcome>& outcomes,
                         const Outcome* session_failure) {
    size_t k = 0;
    for (size_t i = 0; i < job.results.size() && k < outcomes.size(); ++i) {
        if (job.results[i]) continue;
        const Outcome& o = outcomes[k++];
        if (session_failure && same(o, *session_failure)) continue;  // try the next address
        job.results[i] = o;
    }
}

// A connection serves the next message only under the same next hop, TLS level and
// credentials it was opened with (a stricter policy or new credentials need a new one).
std::string RemoteServer::reuse_key(const NextHop& hop, const std::string& level,
                                    const std::string& user, const std::string& password) {
    return next_hop_string(hop) + "|" + level + "|" + user + "|" +
           std::to_string(std::hash<std::string>{}(password));
}

std::string RemoteServer::key_for(const Job& job) {
    if (job.lmtp) return "lmtp:" + lmtp_destination_string(job.lmtp_dest);
    std::string user, password;
    if (auth_lookup_)
        if (auto ai = auth_lookup_(job.hop.host)) {
            user = ai->authid;
            password = ai->password;
        }
    return reuse_key(job.hop, tls_level(job.hop.host), user, password);
}

bool RemoteServer::try_reuse(const std::shared_ptr<Job>& job) {
    std::string key = key_for(*job);
    for (auto& [s, a] : sessions_) {
        if (a->job || a->hop_key != key || !s->idle()) continue;
        a->job = job;
        if (a->idle_timer) event_del(a->idle_timer.get());
        job->relay = s->relay();
        job->host = s->target().host;
        log_debug("%s: reusing the connection to %s", job->msg.queue_id.c_str(),
                  s->relay().c_str());
        s->send(spec_for(*job));
        return true;
    }
    return false;
}

void RemoteServer::on_session_done(Session& s, const std::vector<Outcome>& results) {
    auto it = sessions_.find(&s);
    if (it == sessions_.end()) return;
    std::shared_ptr<Job> job = std::move(it->second->job);
    it->second->job.reset();
    if (job) {
        job->mail_at = s.transaction_start();
        apply(*job, results, nullptr);
        answer(job);
    }
    park(s);
}

// An idle session waits for the next message to its next hop, then QUITs.
void RemoteServer::park(Session& s) {
    auto it = sessions_.find(&s);
    if (it == sessions_.end()) return;
    Active& a = *it->second;
    uint64_t reuse = a.hop_key.compare(0, 5, "lmtp:") == 0 ? cfg().lmtp_connection_reuse_time
                                                           : cfg().smtp_connection_reuse_time;
    if (stopping_ || reuse == 0) return s.quit();
    if (!a.idle_timer) a.idle_timer.reset(evtimer_new(ctx_->base, on_idle_cb, &a));
    timeval tv{static_cast<time_t>(reuse), 0};
    if (a.idle_timer) event_add(a.idle_timer.get(), &tv);
}

void RemoteServer::on_idle_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* a = static_cast<Active*>(arg);
    guarded("idle", [a] {
        if (!a->job) a->session->quit();
    });
}

void RemoteServer::on_session_closed(Session& s, const Outcome& o,
                                     const std::vector<Outcome>& partial) {
    auto it = sessions_.find(&s);
    if (it == sessions_.end()) return;
    std::unique_ptr<Active> a = std::move(it->second);
    sessions_.erase(it);
    std::shared_ptr<Job> job = std::move(a->job);
    if (a->idle_timer) event_del(a->idle_timer.get());
    dead_sessions_.push_back(std::move(a));
    schedule_cleanup();
    if (!job) return;
    if (s.transaction_start() > 0) job->mail_at = s.transaction_start();
    bool reused = s.delivered_any();
    apply(*job, partial, &o);
    // A refusal of the session: a 5xx greeting (the next MX may differ; when none is left
    // the refusal stands) or a temporary failure.
    if (o.status == 5 || o.status == 4) job->last = o;
    bool open = false;
    for (const auto& r : job->results)
        open = open || !r;
    if (!open) return answer(job);
    if (reused) {
        // The idle connection was closed by the peer: start afresh, uncounted.
        job->hosts.clear();
        job->addrs.clear();
        job->last = Outcome{4, "4.4.1", "no host was tried"};
        return restart_hosts(job);
    }
    next_address(job);
}

void RemoteServer::finish_all(const std::shared_ptr<Job>& job, const Outcome& o) {
    for (auto& r : job->results)
        if (!r) r = o;
    answer(job);
}

void RemoteServer::answer(const std::shared_ptr<Job>& job) {
    if (jobs_ > 0) --jobs_;
    ipc::DeliverResultMsg res;
    res.request_id = job->msg.request_id;
    res.relay = job->relay.empty() ? job->hop.host : job->relay;
    // delays= c and d: until MAIL (DNS, connect, greeting, EHLO, TLS, AUTH; the last host
    // tried), then to the last reply. No transaction: all of it is setup.
    double now = steady_seconds(), mail = job->mail_at > 0 ? job->mail_at : now;
    auto ms = [](double s) { return static_cast<uint32_t>(std::clamp(s, 0.0, 4e6) * 1000.0); };
    res.setup_ms = std::max<uint32_t>(1, ms(mail - job->received));
    res.xfer_ms = ms(now - mail);
    for (size_t i = 0; i < job->results.size(); ++i) {
        const Outcome& o = job->results[i] ? *job->results[i] : job->last;
        ipc::RcptResult rr;
        rr.index = job->msg.recipients[i].index;
        rr.status = o.status == 2   ? ipc::kStatusOk
                    : o.status == 5 ? ipc::kStatusPerm
                                    : ipc::kStatusTemp;
        rr.dsn = o.dsn;
        rr.text = o.text;
        if (o.status == 2) rr.flags = o.peer_dsn ? ipc::kResultDsnPassed : ipc::kResultRelayed;
        res.results.push_back(std::move(rr));
    }
    auto c = conns_.find(job->conn_id);
    if (c == conns_.end()) return;  // the queue went away: it reschedules without a result
    c->second->send(ipc::encode(res));
}

}  // namespace tegami::remote
