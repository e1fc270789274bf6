// server.cpp - see server.hpp. Runs as the daemon's user with CAP_SETUID/CAP_SETGID
// (or as an ordinary user in a sandbox). Trusts only peers with its own uid (SO_PEERCRED)
// and, from them, only frames that decode strictly; anything else closes the connection.
// Invariants: each DeliverMsg gets exactly one DeliverResultMsg, with one result per
// recipient, while its connection is open; at most local_concurrency children run; a
// recipient's 2.0.0 is sent only after every child for its users exited 0 (each fsync'ed
// its mailbox before exiting).
#include "deliver/local/server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "deliver/local/batch.hpp"
#include "deliver/local/forward.hpp"
#include "lib/core/clock.hpp"
#include "lib/core/log.hpp"
#include "lib/mail/address.hpp"
#include "lib/map/recipients.hpp"
#include "lib/map/virtual.hpp"
#include "lib/priv/priv.hpp"

namespace tegami::local {

namespace {

constexpr int kStopWaitSec = 60;

template <typename F>
void guarded(const char* what, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        log_error("local: %s: %s", what, e.what());
    } catch (...) {
        log_error("local: %s: unknown exception", what);
    }
}

}  // namespace

void LocalServer::init(DaemonContext& ctx) {
    ctx_ = &ctx;
    for (auto& l : ctx.listeners)
        if (l.role == "deliver") listen_fd_ = l.fd.get();
    if (listen_fd_ < 0) log_fatal(Exit::config, "local: no \"local\" listener was handed over");
    switch_users_ = can_switch_users();
    if (!switch_users_)
        log_info("cannot switch users: delivering as uid %ld", static_cast<long>(getuid()));
    accept_ev_.reset(event_new(ctx.base, listen_fd_, EV_READ | EV_PERSIST, on_accept_cb, this));
    sigchld_ev_.reset(evsignal_new(ctx.base, SIGCHLD, on_sigchld_cb, this));
    cleanup_ev_.reset(event_new(ctx.base, -1, 0, on_cleanup_cb, this));
    gather_ev_.reset(event_new(ctx.base, -1, 0, on_gather_cb, this));
    if (!accept_ev_ || !sigchld_ev_ || !cleanup_ev_) log_fatal(Exit::os_err, "local: event_new");
    event_add(accept_ev_.get(), nullptr);
    event_add(sigchld_ev_.get(), nullptr);
    refresh_aliases();
}

void LocalServer::reload(DaemonContext& ctx) {
    ctx_ = &ctx;
    aliases_checked_ = 0;  // the path may have changed: look again at the next request
    // Delivery processes carry the configuration they were started with: none of them
    // takes another batch.
    ++generation_;
    retire_all();
}

bool LocalServer::stop(DaemonContext&) {
    if (accept_ev_) event_del(accept_ev_.get());
    std::deque<Job> waiting;
    waiting.swap(queue_);
    for (auto& j : waiting)
        finish(j, Outcome{4, "4.3.2", "local delivery is shutting down"}, "");
    retire_all();
    if (children_.empty()) return true;
    size_t busy = 0;
    for (const auto& [pid, c] : children_)
        busy += c->jobs.empty() ? 0 : 1;
    if (busy > 0) log_info("waiting for %zu delivery process(es)", busy);
    stop_timer_.reset(evtimer_new(ctx_->base, on_stop_timeout_cb, this));
    timeval tv{kStopWaitSec, 0};
    if (stop_timer_) event_add(stop_timer_.get(), &tv);
    return false;
}

void LocalServer::on_accept_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("accept", [arg] { static_cast<LocalServer*>(arg)->accept_all(); });
}

void LocalServer::on_sigchld_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("reap", [arg] { static_cast<LocalServer*>(arg)->reap(); });
}

void LocalServer::on_gather_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("gather", [arg] {
        auto* s = static_cast<LocalServer*>(arg);
        s->gather_armed_ = false;
        s->start_jobs();
    });
}

void LocalServer::on_cleanup_cb(evutil_socket_t, short, void* arg) noexcept {
    guarded("cleanup", [arg] { static_cast<LocalServer*>(arg)->dead_.clear(); });
}

void LocalServer::on_stop_timeout_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<LocalServer*>(arg);
    log_warning("local: %zu delivery process(es) still running; exiting without their results",
                self->children_.size());
    daemon_exit_loop(*self->ctx_);
}

void LocalServer::accept_all() {
    for (;;) {
        UniqueFd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warning("local: accept: %s", std::strerror(errno));
            return;
        }
        long uid = peer_uid(fd.get());
        if (uid < 0 || uid != daemon_uid("queue")) {
            log_warning("local: refusing a connection from uid %ld", uid);
            continue;
        }
        add_conn(std::move(fd));
    }
}

void LocalServer::add_conn(UniqueFd fd) {
    uint64_t id = next_conn_++;
    conns_[id] = std::make_unique<ipc::Channel>(
        ctx_->base, std::move(fd),
        [this, id](ipc::MsgType t, std::string_view payload, std::vector<UniqueFd>& fds) {
            on_frame(id, t, payload, fds);
        },
        [this, id](const std::string& why) { drop_conn(id, why); });
    log_debug("local: queue connection %llu", static_cast<unsigned long long>(id));
}

void LocalServer::drop_conn(uint64_t id, const std::string& why) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    log_debug("local: connection %llu closed: %s", static_cast<unsigned long long>(id),
              why.c_str());
    it->second->close();
    dead_.push_back(std::move(it->second));
    conns_.erase(it);
    event_active(cleanup_ev_.get(), 0, 0);
}

void LocalServer::on_frame(uint64_t conn_id, ipc::MsgType type, std::string_view payload,
                           std::vector<UniqueFd>& fds) {
    ipc::DeliverMsg m;
    if (type != ipc::MsgType::deliver) {
        log_warning("local: unexpected %s frame: closing", ipc::msg_type_name(type));
        drop_conn(conn_id, "unexpected frame");
        return;
    }
    if (!ipc::decode(payload, m) || fds.size() != 1) {
        log_warning("local: malformed deliver frame: closing");
        drop_conn(conn_id, "malformed frame");
        return;
    }
    handle_deliver(conn_id, std::move(m), std::move(fds.front()));
}

// A recipient of a virtual domain through virtual_map: rc.local becomes the local name
// the entry names (a user or alias here); else the outcome to report.
std::optional<Outcome> LocalServer::map_virtual(Rcpt& rc) {
    if (!virtual_ || virtual_->spec() != cfg().virtual_map)
        virtual_ = std::make_unique<map::MapRef>(cfg().virtual_map);
    if (!virtual_->configured())
        return Outcome{5, "5.1.1", "no virtual user table for " + rc.domain};
    auto t = virtual_lookup(*virtual_, rc.local, rc.domain, cfg().recipient_delimiter);
    if (!t) return Outcome{4, "4.3.0", "virtual user table: " + t.error().message};
    if (t->kind == VirtualTarget::Kind::none)
        return Outcome{5, "5.1.1", "user unknown in the virtual user table"};
    if (t->kind == VirtualTarget::Kind::error) return Outcome{t->status, t->dsn, t->text};
    std::string local, domain;
    if (t->target.find('@') == std::string::npos) {
        local = t->target;
    } else if (!split_canonical(t->target, local, domain)) {
        return Outcome{5, "5.1.3", "bad address in the virtual user table: " + t->target};
    } else if (!is_local_domain(cfg(), domain)) {
        // An address elsewhere: the queue routes it (to smtp for another domain).
        add_redirect(rc, t->target, ipc::kRedirectAddress);
        return Outcome{2, "2.0.0", "forwarded to " + t->target};
    }
    rc.local = local;
    rc.virtual_domain = true;
    return std::nullopt;
}

void LocalServer::add_redirect(Rcpt& rc, const std::string& address, uint32_t route,
                               const std::string& sender) {
    for (const auto& r : rc.redirects)
        if (r.address == address && r.route == route && r.sender == sender) return;
    rc.redirects.push_back(ipc::RedirectTarget{address, route, sender});
}

void LocalServer::refresh_aliases() {
    time_t now = time(nullptr);
    if (now == aliases_checked_) return;
    aliases_checked_ = now;
    if (cfg().aliases.empty()) {
        aliases_.reset();
        return;
    }
    if (!aliases_ || aliases_->path() != cfg().aliases)
        aliases_ = std::make_unique<AliasFile>(cfg().aliases);
    auto r = aliases_->refresh();
    if (r) {
        aliases_error_.clear();
    } else if (r.error().message != aliases_error_) {
        aliases_error_ = r.error().message;
        log_error("%s; using the aliases read before", aliases_error_.c_str());
    }
}

namespace {

// The body must be exactly the announced size and sealed against shrinking (a shrunk
// file would turn reads of the mapping into SIGBUS).
// The body is [offset, offset + size) of a regular file that ends there: a sealed memfd,
// or the queue's body file opened read-only (the queue never changes a queued body).
Result<void> check_body(int fd, uint64_t offset, uint64_t size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error("fstat body", errno);
    if (!S_ISREG(st.st_mode) || offset > UINT64_MAX - size ||
        static_cast<uint64_t>(st.st_size) != offset + size)
        return make_error(Exit::protocol, "body descriptor does not match the announced size");
    int seals = ::fcntl(fd, F_GET_SEALS);
    bool sealed = seals >= 0 && (seals & F_SEAL_SHRINK) != 0 && (seals & F_SEAL_WRITE) != 0;
    int fl = ::fcntl(fd, F_GETFL);
    bool read_only = fl >= 0 && (fl & O_ACCMODE) == O_RDONLY;
    if (!sealed && !(read_only && seals < 0))
        return make_error(Exit::protocol, "body descriptor is not sealed");
    return {};
}

// The header facts of the body: from one read when the header section ends within its
// first kHeaderRead octets (nearly always), else through a mapping of the whole body.
// buf holds kHeaderRead octets.
constexpr size_t kHeaderRead = 4096;

Result<HeaderFacts> body_header_facts(int fd, uint64_t offset, uint64_t size, char* buf) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, kHeaderRead));
    size_t got = 0;
    while (got < want) {
        ssize_t n = ::pread(fd, buf + got, want - got, static_cast<off_t>(offset + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("read body", errno);
        if (n == 0) return make_error(Exit::protocol, "body is shorter than announced");
        got += static_cast<size_t>(n);
    }
    HeaderFacts facts = scan_headers(std::string_view(buf, got));
    if (facts.ended || got == size) return facts;
    UniqueMapping whole;
    if (!whole.map(fd, size, offset)) return sys_error("mmap body", errno);
    return scan_headers(whole.view());
}

}  // namespace

void LocalServer::handle_deliver(uint64_t conn_id, ipc::DeliverMsg m, UniqueFd body) {
    auto req = std::make_shared<Request>();
    req->conn_id = conn_id;
    req->msg = std::move(m);
    req->maildir = cfg().mailbox_format == MailboxFormat::maildir;
    req->rcpts.resize(req->msg.recipients.size());
    req->open = req->rcpts.size();
    const std::string& qid = req->msg.queue_id;
    auto fail_all = [&](const Outcome& o) {
        for (size_t i = 0; i < req->rcpts.size(); ++i)
            settle(*req, i, o);
    };
    if (ctx_->stopping) return fail_all(Outcome{4, "4.3.2", "local delivery is shutting down"});
    auto ok = check_body(body.get(), req->msg.body_offset, req->msg.body_size);
    if (!ok) {
        log_error("%s: %s", qid.c_str(), ok.error().message.c_str());
        return fail_all(Outcome{4, "4.3.0", ok.error().message});
    }
    // Loops (sendmail's MaxHopCount and Delivered-To rules): too many Received fields
    // bounce every recipient; a mailbox named in a Delivered-To field is not delivered
    // to again (below).
    if (!header_buf_) header_buf_ = std::make_unique<char[]>(kHeaderRead);
    auto scanned =
        body_header_facts(body.get(), req->msg.body_offset, req->msg.body_size, header_buf_.get());
    if (!scanned) return fail_all(Outcome{4, "4.3.0", scanned.error().message});
    HeaderFacts facts = std::move(scanned.value());
    req->body_fd = std::move(body);
    if (cfg().max_hop_count > 0 && facts.received > cfg().max_hop_count) {
        std::string why = "mail loop: too many hops (" + std::to_string(facts.received) +
                          " Received headers, max_hop_count " +
                          std::to_string(cfg().max_hop_count) + ")";
        log_info("%s: %s", qid.c_str(), why.c_str());
        return fail_all(Outcome{5, "5.4.6", why});
    }
    refresh_aliases();
    // Every recipient expanded first; each user then gets one job carrying every
    // recipient that reached it (one copy per mailbox and message).
    std::vector<Job> jobs;
    bool handoff = !cfg().mailbox_transport.empty();
    std::map<std::string, std::string> handoffs;  // mailbox key -> the address handed back
    ForwardReader forward = [this](const LocalUser& u) { return read_forward(u, switch_users_); };
    IncludeReader include = [this](const std::string& path, uid_t as) {
        return read_include_as(path, as, switch_users_);
    };
    UserReader users = [this, now = time(nullptr)](const std::string& name, LocalUser& out) {
        auto id = users_.identity(name, "", now);
        if (id) out = LocalUser{id->name, id->uid, id->gid, id->home};
        return bool(id);
    };
    for (size_t i = 0; i < req->rcpts.size(); ++i) {
        Rcpt& rc = req->rcpts[i];
        const std::string& addr = req->msg.recipients[i].address;
        if (!split_canonical(addr, rc.local, rc.domain)) {
            if (addr.empty() || addr.find('@') != std::string::npos) {
                settle(*req, i, Outcome{5, "5.1.3", "bad recipient address: " + addr});
                continue;
            }
            rc.local = unquote_local(addr);
        } else if (!is_local_domain(cfg(), rc.domain)) {
            if (!is_virtual_domain(cfg(), rc.domain)) {
                settle(*req, i, Outcome{5, "5.1.2", "not a local domain: " + rc.domain});
                continue;
            }
            if (auto refusal = map_virtual(rc)) {
                if (refusal->status != ipc::kStatusOk)
                    log_info("%s: to=<%s>, relay=local, dsn=%s, status=%s (%s)", qid.c_str(),
                             addr.c_str(), refusal->dsn.c_str(),
                             refusal->status == 4 ? "deferred" : "bounced", refusal->text.c_str());
                settle(*req, i, *refusal);
                continue;
            }
        }
        Expansion ex = expand_local(rc.local, aliases_.get(), cfg(), &forward, &include, &users);
        for (const auto& f : ex.failures) {
            log_info("%s: to=<%s>, relay=local, dsn=%s, status=%s (%s)", qid.c_str(), addr.c_str(),
                     f.dsn.c_str(), f.status == 4 ? "deferred" : "bounced", f.text.c_str());
            (f.status == 4 ? rc.temp : rc.perm).push_back(Outcome{f.status, f.dsn, f.text});
        }
        for (const auto& a : ex.remote)
            add_redirect(rc, a, ipc::kRedirectAddress);
        // Members of a list with an owner: a new message from the owner (a list, so
        // "expanded" whatever their number). Not for a message with the null sender (a
        // report): its failures go the way of any report's, to the postmaster, so that
        // a list whose owner leads back to it cannot send reports round for ever.
        for (const auto& o : ex.owned) {
            if (!req->msg.sender.empty())
                add_redirect(rc, o.address, ipc::kRedirectAddress, o.sender);
            else if (!o.dsn.empty())
                rc.perm.push_back(Outcome{5, o.dsn, o.text});
            else
                add_redirect(rc, o.address, ipc::kRedirectAddress);
        }
        rc.expanded = ex.deliveries.size() + ex.remote.size() > 1 ||
                      (!ex.owned.empty() && !req->msg.sender.empty());
        for (auto& u : ex.deliveries) {
            if (u.kind == TargetKind::mailbox && handoff) {
                // mailbox_transport: the mailbox is the LMTP server's to write; the queue
                // routes the user's address there. One address per mailbox and request.
                std::string to =
                    u.direct && !rc.virtual_domain ? addr : u.user.name + "@" + cfg().hostname;
                auto [h, fresh] = handoffs.emplace(u.key(), to);
                if (fresh && facts.delivered_to_has(h->second)) {
                    rc.perm.push_back(
                        Outcome{5, "5.4.6", "mail loop: already delivered to " + h->second});
                    continue;
                }
                add_redirect(rc, h->second, ipc::kRedirectMailbox);
                continue;
            }
            std::string key = u.key();
            auto same = std::find_if(jobs.begin(), jobs.end(),
                                     [&](const Job& j) { return j.d.key() == key; });
            if (same != jobs.end()) {
                if (same->rcpts.back() != i) {
                    same->rcpts.push_back(i);
                    ++rc.pending;
                }
                continue;
            }
            jobs.push_back(Job{req, std::move(u), {i}});
            ++rc.pending;
        }
        if (rc.pending == 0) {
            // Nothing to run here: the failures, else what went back to the queue.
            const std::vector<Outcome>& fails = !rc.temp.empty() ? rc.temp : rc.perm;
            Outcome o = !fails.empty() ? fails.front()
                        : !rc.redirects.empty()
                            ? Outcome{2, "2.0.0",
                                      "expanded to " + std::to_string(rc.redirects.size()) +
                                          " address(es) routed by the queue"}
                            : Outcome{5, "5.1.1", "no local recipient left after aliasing"};
            settle(*req, i, o);
        }
    }
    for (auto& j : jobs) {
        std::string to = delivered_to(j);
        if (j.d.kind == TargetKind::mailbox && facts.delivered_to_has(to)) {
            finish(j, Outcome{5, "5.4.6", "mail loop: already delivered to " + to}, "");
            continue;
        }
        j.queued_ms = monotonic_ms();
        queue_.push_back(std::move(j));
    }
    start_jobs();
}

// A mailbox's batch waits local_batch_delay_ms from its first job for more to join it
// (the gather timer calls start_jobs again when the first of them is due), unless local
// already holds the queue's whole window of deliveries, or a full batch for it waits.
bool LocalServer::gathering(const Job& j) {
    uint64_t delay = cfg().local_batch_delay_ms;
    if (delay == 0 || j.d.kind != TargetKind::mailbox) return false;
    int64_t left = static_cast<int64_t>(delay) - (monotonic_ms() - j.queued_ms);
    if (left <= 0) return false;
    size_t held = queue_.size(), same = 0;
    for (const auto& [pid, c] : children_)
        held += c->jobs.size();
    if (held >= local_requests_in_flight(cfg())) return false;
    std::string key = j.d.key();
    for (const auto& q : queue_)
        if (q.d.key() == key && ++same >= kMaxBatch) return false;
    if (!gather_armed_) {
        timeval tv{static_cast<time_t>(left / 1000), static_cast<suseconds_t>(left % 1000 * 1000)};
        event_add(gather_ev_.get(), &tv);
        gather_armed_ = true;
    }
    return true;
}

bool LocalServer::busy(const std::string& key) const {
    for (const auto& [pid, c] : children_)
        if (!c->jobs.empty() && c->key == key) return true;
    return false;
}

// A job as the delivery process receives it.
BatchItem LocalServer::item_of(const Job& j) const {
    const std::string& from = j.d.sender.empty() ? j.req->msg.sender : j.d.sender;
    return BatchItem{from, delivered_to(j), j.req->msg.queue_id, j.req->msg.body_offset,
                     j.req->msg.body_size};
}

// The jobs for key at the front of the queue, as one batch: up to kMaxBatch, and no more
// than fits in one batch datagram.
std::vector<LocalServer::Job> LocalServer::take_batch(const std::string& key) {
    std::vector<Job> batch;
    size_t bytes = 64;
    for (auto j = queue_.begin(); j != queue_.end() && batch.size() < kMaxBatch;) {
        if (j->d.key() != key) {
            ++j;
            continue;
        }
        size_t more = batch_item_bytes(item_of(*j));
        if (!batch.empty() && bytes + more > kMaxBatchBytes) break;
        bytes += more;
        batch.push_back(std::move(*j));
        j = queue_.erase(j);
    }
    return batch;
}

// Starts batches while there is room. One process per mailbox at a time: jobs for a
// user whose process is busy wait, and its next batch takes all of them at once (up to
// kMaxBatch), so a burst for one mailbox costs one lock and one fsync per batch instead
// of per message. A mailbox's idle process takes its next batch without a fork; at the
// concurrency limit an idle process of another mailbox is ended to make room.
void LocalServer::start_jobs() {
    size_t limit = cfg().local_concurrency > 0 ? cfg().local_concurrency : 1;
    bool room_asked = false;
    for (auto it = queue_.begin(); it != queue_.end() && !ctx_->stopping;) {
        std::string key = it->d.key();
        if (busy(key)) {
            ++it;
            continue;
        }
        if (gathering(*it)) {
            ++it;
            continue;
        }
        Child* idle = idle_child(key);
        if (idle && switch_users_) {
            std::optional<Identity> now = identity_for(it->d);
            const std::optional<Identity>& was = idle->identity;
            if (!now || !was || now->uid != was->uid || now->gid != was->gid ||
                now->groups != was->groups) {
                retire(*idle);  // the account changed: a new process as it is now
                idle = nullptr;
            }
        }
        if (!idle && children_.size() >= limit) {
            if (!room_asked) room_asked = retire_an_idle_child();
            ++it;
            continue;
        }
        std::vector<Job> batch = take_batch(key);
        if (!idle || !hand_batch(*idle, batch)) start_child(std::move(batch));
        it = queue_.begin();
    }
}

// The address this copy is for: the first recipient that reached the user without an
// alias (user or user+detail, as canonical), else the user at this host. A |program or
// /file is for the recipient that led to it (tickets@example.org for "tickets: |..."),
// as Postfix's local(8) sets RECIPIENT, never default_user at this host.
std::string LocalServer::delivered_to(const Job& j) const {
    if ((j.d.direct || j.d.kind != TargetKind::mailbox) && !j.rcpts.empty())
        return j.req->msg.recipients[j.rcpts.front()].address;
    return j.d.user.name + "@" + cfg().hostname;
}

std::optional<Identity> LocalServer::identity_for(const Delivery& d) {
    // The mail group only for mailboxes (dotlocks in the spool); a program or file runs
    // with the user's own groups.
    auto id = users_.identity(d.user.name,
                              d.kind == TargetKind::mailbox ? cfg().mail_group : std::string(),
                              time(nullptr));
    if (!id) return std::nullopt;
    return std::move(id.value());
}

LocalServer::Child* LocalServer::idle_child(const std::string& key) {
    for (auto& [pid, c] : children_)
        if (c->key == key && c->jobs.empty() && !c->retired && c->reuse &&
            c->generation == generation_)
            return c.get();
    return nullptr;
}

// Ends an idle process: true when one was asked to go (its slot frees when it is
// reaped).
bool LocalServer::retire_an_idle_child() {
    for (auto& [pid, c] : children_)
        if (c->jobs.empty() && !c->retired) {
            retire(*c);
            return true;
        }
    return false;
}

// A retired process takes no further batch; an idle one's socket is closed now (it
// reads the end and exits), a busy one's when its batch is done.
void LocalServer::retire(Child& c) {
    c.retired = true;
    if (c.idle_timer) event_del(c.idle_timer.get());
    if (!c.jobs.empty() || !c.sock) return;
    if (c.ev) event_del(c.ev.get());
    c.sock.reset();
}

void LocalServer::retire_all() {
    for (auto& [pid, c] : children_)
        retire(*c);
}

void LocalServer::on_child_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* c = static_cast<Child*>(arg);
    guarded("delivery report", [c] { c->server->read_reports(*c); });
}

void LocalServer::on_idle_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* c = static_cast<Child*>(arg);
    guarded("idle delivery process", [c] {
        log_debug("local: delivery process %ld for %s idle: ended", static_cast<long>(c->pid),
                  c->key.c_str());
        c->server->retire(*c);
    });
}

// Hands a batch to a process: the batch datagram with one body descriptor per message.
// False (jobs untouched) when the process cannot take it.
bool LocalServer::hand_batch(Child& c, std::vector<Job>& jobs) {
    if (c.retired || !c.sock) return false;
    std::vector<BatchItem> items;
    std::vector<int> fds;
    items.reserve(jobs.size());
    fds.reserve(jobs.size());
    for (const Job& j : jobs) {
        items.push_back(item_of(j));
        fds.push_back(j.req->body_fd.get());
    }
    int err = send_batch(c.sock.get(), encode_batch(seq_ + 1, items), fds);
    if (err != 0) {
        log_warning("local: delivery process %ld for %s: %s", static_cast<long>(c.pid),
                    c.key.c_str(), std::strerror(err));
        retire(c);
        return false;
    }
    seq_ += jobs.size();
    if (c.idle_timer) event_del(c.idle_timer.get());
    log_debug("%s: delivery of %zu message(s) to %s in process %ld",
              jobs.front().req->msg.queue_id.c_str(), jobs.size(), c.key.c_str(),
              static_cast<long>(c.pid));
    c.jobs = std::move(jobs);
    c.text.clear();
    return true;
}

void LocalServer::start_child(std::vector<Job> jobs) {
    auto fail = [&](const Outcome& o) {
        for (auto& j : jobs)
            finish(j, o, "");
    };
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return fail(Outcome{4, "4.3.0", sys_error("socketpair", errno).message});
    UniqueFd ours(sv[0]), theirs(sv[1]);
    const Delivery& d = jobs.front().d;
    auto c = std::make_unique<Child>();
    c->server = this;
    c->key = d.key();
    c->reuse = d.kind == TargetKind::mailbox && cfg().local_idle_time > 0;
    c->generation = generation_;
    ChildSpec spec{&cfg(), d.user, {}, switch_users_, 0, d.kind, d.target, {}};
    spec.reuse = c->reuse;
    if (switch_users_) {
        c->identity = identity_for(d);
        spec.identity = c->identity;
    }
    // Signals stay blocked across fork so that no libevent handler runs in the child
    // before it has restored the default dispositions.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = ::fork();
    if (pid == 0) run_delivery_child(spec, theirs.get());
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return fail(Outcome{4, "4.3.0", sys_error("fork", fork_errno).message});
    theirs.reset();
    evutil_make_socket_nonblocking(ours.get());
    c->pid = pid;
    c->sock = std::move(ours);
    c->ev.reset(event_new(ctx_->base, c->sock.get(), EV_READ | EV_PERSIST, on_child_cb, c.get()));
    c->idle_timer.reset(evtimer_new(ctx_->base, on_idle_cb, c.get()));
    if (c->ev) event_add(c->ev.get(), nullptr);
    Child& ref = *c;
    children_[pid] = std::move(c);
    if (!ref.ev || !ref.idle_timer || !hand_batch(ref, jobs)) {
        retire(ref);
        fail(Outcome{4, "4.3.0", "cannot hand the batch to the delivery process"});
    }
}

// Reads what a process reported; at the end marker its batch is done.
void LocalServer::read_reports(Child& c) {
    char buf[kReportLineMax + 64];
    while (c.sock) {
        ssize_t n = ::recv(c.sock.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // The end of its socket (it exited, or failed): the rest comes with its reaping.
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                if (c.ev) event_del(c.ev.get());
                c.sock.reset();
                c.retired = true;
            }
            return;
        }
        std::string_view line(buf, static_cast<size_t>(n));
        if (line == kBatchEnd) {
            batch_done(c, nullptr);
            continue;
        }
        if (c.text.size() < kMaxBatch * (kReportLineMax + 8)) c.text.append(line);
    }
}

// The batch of c is over: each job gets its report, or, for a process that ended
// without one (wait_status set), an outcome from how it ended. Then c idles, or goes.
void LocalServer::batch_done(Child& c, const int* wait_status) {
    std::vector<Job> jobs = std::move(c.jobs);
    c.jobs.clear();
    std::vector<MessageReport> reports = parse_reports(c.text);
    c.text.clear();
    for (size_t i = 0; i < jobs.size(); ++i) {
        Job& j = jobs[i];
        Outcome o;
        if (i < reports.size()) {
            o = outcome_from_code(reports[i].code, reports[i].code == 0 ? "" : reports[i].text,
                                  j.req->maildir, j.d.kind);
        } else {
            int st = wait_status ? *wait_status : 0;
            o = outcome_from_wait(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? (EX_TEMPFAIL << 8) : st,
                                  "no report from the delivery process", j.req->maildir, j.d.kind);
        }
        finish(j, o, o.status == ipc::kStatusOk ? reports[i].text : std::string());
    }
    if (wait_status) return;
    if (!c.reuse || c.retired || c.generation != generation_ || ctx_->stopping) {
        retire(c);
    } else {
        timeval tv{static_cast<time_t>(cfg().local_idle_time), 0};
        event_add(c.idle_timer.get(), &tv);
    }
    start_jobs();
}

void LocalServer::reap() {
    for (;;) {
        int st = 0;
        pid_t pid = ::waitpid(-1, &st, WNOHANG);
        if (pid <= 0) break;
        auto it = children_.find(pid);
        if (it == children_.end()) continue;
        std::unique_ptr<Child> c = std::move(it->second);
        children_.erase(it);
        if (c->ev) event_del(c->ev.get());
        if (c->idle_timer) event_del(c->idle_timer.get());
        // What it wrote before it exited, then its batch, if it had one.
        if (c->sock) {
            c->retired = true;  // no next batch, whatever the lines say
            read_reports(*c);
        }
        if (!c->jobs.empty()) batch_done(*c, &st);
    }
    start_jobs();
    if (ctx_->stopping && children_.empty() && queue_.empty()) daemon_exit_loop(*ctx_);
}

void LocalServer::finish(const Job& j, const Outcome& o, const std::string& detail) {
    Request& r = *j.req;
    std::string to = j.d.kind == TargetKind::mailbox   ? delivered_to(j)
                     : j.d.kind == TargetKind::program ? "|" + j.d.target
                                                       : j.d.target;
    for (size_t i : j.rcpts) {
        const std::string& rcpt = r.msg.recipients[i].address;
        std::string orig = to != rcpt ? ", orig_to=<" + rcpt + ">" : "";
        if (o.status == ipc::kStatusOk)
            log_info("%s: to=<%s>%s, relay=local, status=sent (%s %s)", r.msg.queue_id.c_str(),
                     to.c_str(), orig.c_str(), o.text.c_str(), detail.c_str());
        else
            log_info("%s: to=<%s>%s, relay=local, dsn=%s, status=%s (%s)", r.msg.queue_id.c_str(),
                     to.c_str(), orig.c_str(), o.dsn.c_str(),
                     o.status == ipc::kStatusTemp ? "deferred" : "bounced", o.text.c_str());
        Rcpt& rc = r.rcpts[i];
        if (o.status != ipc::kStatusOk)
            (o.status == ipc::kStatusTemp ? rc.temp : rc.perm).push_back(o);
        else if (rc.delivered.empty())
            rc.delivered = o.text;
        if (--rc.pending > 0) continue;
        // The recipient's result: its first temporary failure (retry), else its first
        // permanent one, else delivered.
        const std::vector<Outcome>& fails = !rc.temp.empty() ? rc.temp : rc.perm;
        Outcome res =
            !fails.empty() ? fails.front()
            : !rc.delivered.empty()
                ? Outcome{2, "2.0.0", rc.delivered}
                : Outcome{2, "2.0.0", r.maildir ? "delivered to maildir" : "delivered to mailbox"};
        size_t others = rc.temp.size() + rc.perm.size();
        if (others > 1) res.text += " (and " + std::to_string(others - 1) + " more failure(s))";
        settle(r, i, res);
    }
}

void LocalServer::settle(Request& r, size_t i, const Outcome& o) {
    if (r.rcpts[i].result) return;
    r.rcpts[i].result = o;
    if (--r.open == 0) answer(r);
}

void LocalServer::answer(Request& r) {
    ipc::DeliverResultMsg res;
    res.request_id = r.msg.request_id;
    res.relay = "local";
    res.results.reserve(r.rcpts.size());
    for (size_t i = 0; i < r.rcpts.size(); ++i) {
        const Outcome& o = *r.rcpts[i].result;
        // Sent on to a single address (an alias, a .forward, the virtual table, the
        // mailbox_transport): that address carries the recipient's NOTIFY and its final
        // delivery reports (RFC 3461 6.2.1(b)); nothing was delivered here to report.
        uint32_t flags = 0;
        if (o.status == ipc::kStatusOk && r.rcpts[i].expanded)
            flags = ipc::kResultExpanded;
        else if (o.status == ipc::kStatusOk && !r.rcpts[i].redirects.empty())
            flags = ipc::kResultDsnPassed;
        res.results.push_back(
            ipc::RcptResult{r.msg.recipients[i].index, o.status, o.dsn, o.text, flags});
    }
    auto it = conns_.find(r.conn_id);
    if (it == conns_.end() || !it->second->open()) {
        log_debug("%s: result for a closed connection dropped", r.msg.queue_id.c_str());
        return;
    }
    // The addresses handed back go first, for the recipients whose result is final (a
    // deferred one expands again next time); the queue applies them with the result.
    for (size_t i = 0; i < r.rcpts.size(); ++i) {
        Rcpt& rc = r.rcpts[i];
        if (rc.redirects.empty() || rc.result->status == ipc::kStatusTemp) continue;
        if (rc.redirects.size() > ipc::kMaxRedirects) rc.redirects.resize(ipc::kMaxRedirects);
        it->second->send(ipc::encode(
            ipc::DeliverRedirectMsg{r.msg.request_id, r.msg.recipients[i].index, rc.redirects}));
    }
    it->second->send(ipc::encode(res));
}

}  // namespace tegami::local
