// auth_server.cpp - see auth_server.hpp.
#include "smtpd/auth/auth_server.hpp"

#include <event2/listener.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>

#include "lib/core/log.hpp"
#include "lib/priv/priv.hpp"
#include "lib/sasl/base64.hpp"
#include "lib/sasl/crypto.hpp"

namespace tegami::auth {

namespace {

std::string server_nonce() {
    auto b = sasl::random_bytes(18);
    if (!b) log_panic("no random bytes for a SCRAM nonce");
    return sasl::base64_encode(*b);
}

// A client address as it may appear in a log line (it came from smtpd, not a client).
std::string printable_addr(std::string_view a) {
    std::string out;
    for (char c : a.substr(0, 64))
        out += (c > 0x20 && c < 0x7f) ? c : '?';
    return out;
}

}  // namespace

AuthServer::AuthServer(DaemonContext& ctx)
    : ctx_(ctx),
      penalty_(static_cast<uint32_t>(ctx.config->auth_failure_limit),
               static_cast<time_t>(ctx.config->auth_penalty_time)) {}

AuthServer::~AuthServer() {
    stop();
}

void AuthServer::start() {
    const Config& cfg = *ctx_.config;
    auto secret = sasl::random_bytes(32);
    if (!secret) log_fatal(Exit::os_err, "no random bytes from OpenSSL");
    secret_ = std::move(*secret);
    db_ = std::make_unique<sasl::PasswdDb>(cfg.auth_db);
    if (auto r = penalty_.open(cfg.auth_dir.empty() ? "" : cfg.auth_dir + "/penalty.db"); !r)
        log_fatal(r.error().exit, "%s", r.error().message.c_str());
    auto counters = std::make_unique<BdbCounterStore>();
    if (auto r = counters->open(cfg.auth_dir.empty() ? "" : cfg.auth_dir + "/limits.db",
                                std::time(nullptr));
        !r)
        log_fatal(r.error().exit, "%s", r.error().message.c_str());
    limiter_ = std::make_unique<SendLimiter>(std::move(counters));
    if (cfg.auth_backend == "dovecot")
        dovecot_ = std::make_unique<DovecotClient>(ctx_.base, cfg.auth_dovecot_socket,
                                                   static_cast<time_t>(cfg.auth_dovecot_timeout));
    else if (auto r = db_->lookup("\x01probe"); !r)
        log_warning("%s (every authentication is answered 454 4.7.0 until it exists)",
                    r.error().message.c_str());
    for (auto& l : ctx_.listeners) {
        if (l.role != "auth" || !l.fd.valid()) continue;
        evutil_make_socket_nonblocking(l.fd.get());
        listener_.reset(evconnlistener_new(ctx_.base, on_accept_cb, this,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
                                           l.fd.get()));
        if (!listener_) log_fatal(Exit::os_err, "cannot listen on %s", l.name.c_str());
        l.fd.release();
        log_info("listening on %s", l.name.c_str());
        break;
    }
    if (!listener_) log_fatal(Exit::config, "no auth listener from master");
    sweep_ev_.reset(event_new(ctx_.base, -1, EV_PERSIST, on_sweep_cb, this));
    timeval minute{60, 0};
    event_add(sweep_ev_.get(), &minute);
    reap_ev_.reset(event_new(ctx_.base, -1, 0, on_reap_cb, this));
    flush_ev_.reset(event_new(ctx_.base, -1, EV_PERSIST, on_flush_cb, this));
    timeval flush{kLimitFlushSeconds, 0};
    event_add(flush_ev_.get(), &flush);
}

void AuthServer::stop() {
    if (limiter_) limiter_->flush();
}

void AuthServer::on_flush_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        auto* s = static_cast<AuthServer*>(arg);
        if (s->limiter_) s->limiter_->flush();
    } catch (...) {
        log_error("auth: flushing the sending counters failed");
    }
}

void AuthServer::reload() {
    const Config& cfg = *ctx_.config;
    penalty_.configure(static_cast<uint32_t>(cfg.auth_failure_limit),
                       static_cast<time_t>(cfg.auth_penalty_time));
    if (db_->path() != cfg.auth_db) db_ = std::make_unique<sasl::PasswdDb>(cfg.auth_db);
    // A client made once stays (conversations refer to it); a switch back to builtin
    // leaves it idle.
    if (dovecot_)
        dovecot_->configure(cfg.auth_dovecot_socket, static_cast<time_t>(cfg.auth_dovecot_timeout));
    else if (cfg.auth_backend == "dovecot")
        dovecot_ = std::make_unique<DovecotClient>(ctx_.base, cfg.auth_dovecot_socket,
                                                   static_cast<time_t>(cfg.auth_dovecot_timeout));
}

Result<std::optional<sasl::Credential>> AuthServer::lookup(std::string_view login) {
    return db_->lookup(login);
}

namespace {
std::string verification_mac(const std::string& secret, const sasl::Credential& c,
                             std::string_view password) {
    std::string data = c.hash;
    data += '\0';
    data.append(password);
    std::string mac = sasl::hmac_sha256(secret, data);
    OPENSSL_cleanse(data.data(), data.size());
    return mac;
}
}  // namespace

// The cache holds no password and no hash: a keyed MAC of both, under this process's
// random secret, in memory only. A new password (a new stored hash) misses at once.
bool AuthServer::recently_verified(std::string_view login, const sasl::Credential& c,
                                   std::string_view password) {
    uint64_t ttl = ctx_.config->auth_cache_time;
    if (!ttl) return false;
    auto it = verified_.find(std::string(login));
    if (it == verified_.end()) return false;
    if (it->second.until <= std::time(nullptr)) {
        verified_.erase(it);
        return false;
    }
    std::string mac = verification_mac(secret_, c, password);
    return mac.size() == it->second.mac.size() &&
           CRYPTO_memcmp(mac.data(), it->second.mac.data(), mac.size()) == 0;
}

void AuthServer::verified(std::string_view login, const sasl::Credential& c,
                          std::string_view password) {
    uint64_t ttl = ctx_.config->auth_cache_time;
    if (!ttl) return;
    if (verified_.size() >= kMaxVerified) verified_.clear();
    verified_[std::string(login)] = Verified{verification_mac(secret_, c, password),
                                             std::time(nullptr) + static_cast<time_t>(ttl)};
}

void AuthServer::on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int,
                              void* arg) noexcept {
    UniqueFd owned(fd);
    try {
        static_cast<AuthServer*>(arg)->on_accept(std::move(owned));
    } catch (const std::exception& e) {
        log_error("auth socket: accept: %s", e.what());
    }
}

void AuthServer::on_accept(UniqueFd fd) {
    long uid = peer_uid(fd.get());
    long want = daemon_uid("smtpd");
    if (uid < 0 || uid != want) {
        log_warning("auth socket: refusing a peer with uid %ld (smtpd runs as %ld)", uid, want);
        return;
    }
    uint64_t sid = next_sid_++;
    Session s;
    s.channel = std::make_unique<ipc::Channel>(
        ctx_.base, std::move(fd),
        [this, sid](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
            if (!fds.empty()) {
                drop(sid, "descriptors on the auth socket");
                return;
            }
            on_frame(sid, t, p);
        },
        [this, sid](const std::string& why) { drop(sid, why.c_str()); });
    sessions_.emplace(sid, std::move(s));
}

void AuthServer::on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    bool ok = false;
    switch (type) {
        case ipc::MsgType::auth_start: {
            ipc::AuthStartMsg m;
            if ((ok = ipc::decode(payload, m))) start_conversation(sid, m);
            break;
        }
        case ipc::MsgType::auth_step: {
            ipc::AuthStepMsg m;
            if ((ok = ipc::decode(payload, m))) step_conversation(sid, m);
            break;
        }
        case ipc::MsgType::auth_cancel: {
            ipc::AuthCancelMsg m;
            if ((ok = ipc::decode(payload, m))) it->second.conversations.erase(m.request_id);
            break;
        }
        case ipc::MsgType::auth_check: {
            ipc::AuthCheckMsg m;
            if ((ok = ipc::decode(payload, m))) {
                ipc::AuthReplyMsg r;
                r.request_id = m.request_id;
                time_t until = penalty_.boxed_until(m.client_addr, std::time(nullptr));
                r.status = until ? ipc::kAuthBlocked : ipc::kAuthOk;
                if (until) r.text = "4.7.0 Too many failed authentications, try again later";
                send(sid, std::move(r));
            }
            break;
        }
        case ipc::MsgType::limit_reserve: {
            ipc::LimitReserveMsg m;
            if ((ok = ipc::decode(payload, m))) {
                ipc::LimitReplyMsg r = limiter_->reserve(*ctx_.config, sid, m, std::time(nullptr));
                r.request_id = m.request_id;
                it->second.channel->send(ipc::encode(r));
            }
            break;
        }
        case ipc::MsgType::limit_release: {
            ipc::LimitReleaseMsg m;
            if ((ok = ipc::decode(payload, m))) limiter_->release(sid, m, std::time(nullptr));
            break;
        }
        default:
            break;
    }
    if (!ok) {
        log_error("auth socket: bad %s frame: closing", ipc::msg_type_name(type));
        drop(sid, nullptr);
    }
}

void AuthServer::start_conversation(uint64_t sid, ipc::AuthStartMsg& m) {
    Session& s = sessions_.at(sid);
    ipc::AuthReplyMsg r;
    r.request_id = m.request_id;
    time_t now = std::time(nullptr);
    if (penalty_.boxed_until(m.client_addr, now)) {
        log_warning("authentication refused for client=%s: in the penalty box",
                    printable_addr(m.client_addr).c_str());
        r.status = ipc::kAuthBlocked;
        r.text = "4.7.0 Too many failed authentications, try again later";
        send(sid, std::move(r));
        return;
    }
    if (s.conversations.size() >= kMaxConversations || s.conversations.count(m.request_id)) {
        r.status = ipc::kAuthTemp;
        r.text = "4.7.0 Too many authentications in progress";
        send(sid, std::move(r));
        return;
    }
    Conversation c;
    c.mechanism = m.mechanism;
    c.client_addr = m.client_addr;
    c.last = now;
    if (ctx_.config->auth_backend == "dovecot" && dovecot_) {
        start_dovecot(sid, m, c);
        return;
    }
    c.mctx = std::make_unique<MechContext>();
    c.mctx->channel_binding = m.channel_binding;
    c.mctx->secret = secret_;
    c.mctx->nonce = server_nonce;
    c.mech = make_mechanism(m.mechanism, *this, *c.mctx);
    if (!c.mech) {
        r.status = ipc::kAuthNoMech;
        r.text = "5.5.4 Unrecognized authentication type";
        send(sid, std::move(r));
        return;
    }
    auto& conv = s.conversations.emplace(m.request_id, std::move(c)).first->second;
    StepResult res =
        conv.mech->start(m.has_initial ? std::optional<std::string_view>(m.initial) : std::nullopt);
    OPENSSL_cleanse(m.initial.data(), m.initial.size());
    finish_step(sid, m.request_id, std::move(res));
}

// The mechanism is Dovecot's: tegami-auth relays the bytes and keeps only the penalty
// box and the failure delay. Dovecot's own MECH list decides what it accepts.
void AuthServer::start_dovecot(uint64_t sid, ipc::AuthStartMsg& m, Conversation& c) {
    Session& s = sessions_.at(sid);
    DovecotRequest req;
    req.mechanism = m.mechanism;
    if (m.has_initial) req.initial = m.initial;  // a copy, so the frame's bytes can be wiped
    OPENSSL_cleanse(m.initial.data(), m.initial.size());
    req.client_addr = printable_addr(m.client_addr);
    req.local_addr = printable_addr(m.local_addr);
    req.local_port = m.local_port;
    // smtpd relays AUTH only under TLS or, when the administrator allowed it, from a
    // loopback client in clear: what Dovecot's own login processes call secured.
    req.secured = (m.flags & ipc::kAuthTls) || req.client_addr == "::1" ||
                  req.client_addr.rfind("127.", 0) == 0;
    uint64_t rid = m.request_id;
    auto& conv = s.conversations.emplace(rid, std::move(c)).first->second;
    conv.dovecot.client = dovecot_.get();
    conv.dovecot.id = dovecot_->start(
        std::move(req), [this, sid, rid](StepResult r) { on_dovecot(sid, rid, std::move(r)); });
}

void AuthServer::on_dovecot(uint64_t sid, uint64_t rid, StepResult r) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end() || !it->second.conversations.count(rid)) return;
    finish_step(sid, rid, std::move(r));
}

void AuthServer::step_conversation(uint64_t sid, ipc::AuthStepMsg& m) {
    Session& s = sessions_.at(sid);
    auto it = s.conversations.find(m.request_id);
    if (it == s.conversations.end()) {
        ipc::AuthReplyMsg r;
        r.request_id = m.request_id;
        r.status = ipc::kAuthTemp;
        r.text = "4.7.0 Authentication state lost, try again";
        send(sid, std::move(r));
        return;
    }
    it->second.last = std::time(nullptr);
    if (it->second.dovecot.id) {
        dovecot_->step(it->second.dovecot.id, m.response);  // a copy: the frame's is wiped
        OPENSSL_cleanse(m.response.data(), m.response.size());
        return;  // the answer comes through on_dovecot
    }
    StepResult res = it->second.mech->step(m.response);
    OPENSSL_cleanse(m.response.data(), m.response.size());
    finish_step(sid, m.request_id, std::move(res));
}

void AuthServer::finish_step(uint64_t sid, uint64_t rid, StepResult res) {
    Session& s = sessions_.at(sid);
    Conversation& c = s.conversations.at(rid);
    ipc::AuthReplyMsg r;
    r.request_id = rid;
    std::string addr = printable_addr(c.client_addr);
    uint64_t delay = 0;
    switch (res.status) {
        case StepStatus::cont:
            r.status = ipc::kAuthContinue;
            r.challenge = std::move(res.challenge);
            send(sid, std::move(r));
            return;  // the conversation goes on
        case StepStatus::ok:
            log_info("client=%s, sasl_method=%s, sasl_username=%s: authenticated", addr.c_str(),
                     c.mechanism.c_str(), res.login.c_str());
            r.status = ipc::kAuthOk;
            r.login = std::move(res.login);
            r.text = "2.7.0 Authentication successful";
            break;
        case StepStatus::nomech:
            log_warning("client=%s, sasl_method=%s: %s", addr.c_str(), c.mechanism.c_str(),
                        res.reason.c_str());
            r.status = ipc::kAuthNoMech;
            r.text = "5.5.4 Unrecognized authentication type";
            break;
        case StepStatus::weak:
            // The password was right, so this is no failure for the penalty box.
            log_warning("client=%s, sasl_method=%s, sasl_username=%s: refused: %s", addr.c_str(),
                        c.mechanism.c_str(), res.login.c_str(), res.reason.c_str());
            r.status = ipc::kAuthWeak;
            r.text = "5.7.9 Authentication mechanism is too weak";
            break;
        case StepStatus::temp:
            log_error("client=%s, sasl_method=%s: %s", addr.c_str(), c.mechanism.c_str(),
                      res.reason.c_str());
            r.status = ipc::kAuthTemp;
            r.text = "4.7.0 Temporary authentication failure";
            break;
        case StepStatus::fail:
        case StepStatus::malformed: {
            time_t now = std::time(nullptr);
            uint32_t n = penalty_.fail(c.client_addr, now);
            uint64_t base = ctx_.config->auth_failure_delay;
            delay = base
                        ? std::min<uint64_t>(base << std::min<uint32_t>(n - 1, 5), kMaxFailureDelay)
                        : 0;
            bool boxed = penalty_.boxed_until(c.client_addr, now) != 0;
            // The claimed login is not logged: a user who typed the password into the
            // name field would find it in the log.
            log_warning("client=%s, sasl_method=%s: authentication failed: %s (failure %u%s)",
                        addr.c_str(), c.mechanism.c_str(), res.reason.c_str(), n,
                        boxed ? ", address now refused" : "");
            if (boxed) {
                r.status = ipc::kAuthBlocked;
                r.text = "4.7.0 Too many failed authentications, try again later";
            } else if (res.status == StepStatus::malformed) {
                r.status = ipc::kAuthMalformed;
                r.text = "5.5.2 Malformed authentication data";
            } else {
                r.status = ipc::kAuthFail;
                r.text = "5.7.8 Authentication credentials invalid";
            }
            break;
        }
    }
    s.conversations.erase(rid);
    send(sid, std::move(r), delay);
}

void AuthServer::send(uint64_t sid, ipc::AuthReplyMsg reply, uint64_t delay_seconds) {
    if (delay_seconds == 0) {
        auto it = sessions_.find(sid);
        if (it != sessions_.end()) it->second.channel->send(ipc::encode(reply));
        return;
    }
    delayed_.emplace_front();
    Delayed& d = delayed_.front();
    d.owner = this;
    d.sid = sid;
    d.reply = std::move(reply);
    d.self = delayed_.begin();
    d.ev.reset(evtimer_new(ctx_.base, on_delay_cb, &d));
    timeval tv{static_cast<time_t>(delay_seconds), 0};
    evtimer_add(d.ev.get(), &tv);
}

void AuthServer::on_delay_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* d = static_cast<Delayed*>(arg);
    try {
        AuthServer* s = d->owner;
        ipc::AuthReplyMsg r = std::move(d->reply);
        uint64_t sid = d->sid;
        s->delayed_.erase(d->self);  // frees d and its event (not running any more)
        s->send(sid, std::move(r));
    } catch (const std::exception& e) {
        log_error("auth: delayed reply: %s", e.what());
    }
}

void AuthServer::on_sweep_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<AuthServer*>(arg)->sweep();
    } catch (...) {
        log_error("auth: sweep failed");
    }
}

void AuthServer::sweep() {
    time_t now = std::time(nullptr);
    for (auto& [sid, s] : sessions_)
        std::erase_if(s.conversations,
                      [now](const auto& kv) { return kv.second.last + kConversationIdle < now; });
    if (limiter_) limiter_->expire(now);
}

void AuthServer::drop(uint64_t sid, const char* why) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    if (why) log_info("auth socket: smtpd channel closed: %s", why);
    if (limiter_) limiter_->drop_channel(sid);  // its transactions' holds go with it
    it->second.channel->close();
    dead_.push_back(std::move(it->second.channel));
    sessions_.erase(it);
    if (reap_ev_) event_active(reap_ev_.get(), EV_TIMEOUT, 0);
}

void AuthServer::on_reap_cb(evutil_socket_t, short, void* arg) noexcept {
    static_cast<AuthServer*>(arg)->dead_.clear();
}

}  // namespace tegami::auth
