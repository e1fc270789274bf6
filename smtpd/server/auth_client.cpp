// auth_client.cpp - see auth_client.hpp.
#include "smtpd/server/auth_client.hpp"

#include <openssl/crypto.h>

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"

namespace tegami::smtpd {

namespace {
constexpr std::chrono::milliseconds kBackoffMin{100};
constexpr std::chrono::milliseconds kBackoffMax{5000};
}  // namespace

AuthClient::AuthClient(event_base* base, ConfigSource config)
    : base_(base), config_(std::move(config)) {
    fail_ev_.reset(evtimer_new(base_, &AuthClient::fail_cb, this));
}

AuthClient::~AuthClient() = default;

bool AuthClient::ensure_channel() {
    if (channel_ && channel_->open()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return false;
    std::string path = auth_socket_path(*config_());
    auto fd = connect_unix(path);
    if (fd && (peer_uid(fd->get()) < 0 || peer_uid(fd->get()) != daemon_uid("auth"))) {
        log_error("auth socket %s: peer is not auth's uid; refusing it", path.c_str());
        fd = make_error(Exit::no_perm, "wrong peer");
    }
    if (!fd) {
        log_warning("cannot reach tegami-auth: %s (retry in %lld ms)", fd.error().message.c_str(),
                    static_cast<long long>(backoff_.count()));
        next_try_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, kBackoffMax);
        return false;
    }
    channel_ = std::make_unique<ipc::Channel>(
        base_, std::move(fd.value()),
        [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
            if (!fds.empty()) {
                on_close("descriptors from auth");
                return;
            }
            on_frame(t, p);
        },
        [this](const std::string& why) { on_close(why); });
    return true;
}

uint64_t AuthClient::start(ipc::AuthStartMsg m, AuthWaiter* w) {
    uint64_t id = next_id_++;
    m.request_id = id;
    if (!ensure_channel()) {
        OPENSSL_cleanse(m.initial.data(), m.initial.size());
        fail_later(id, w);
        return id;
    }
    pending_[id] = w;
    channel_->send(ipc::encode(m));
    OPENSSL_cleanse(m.initial.data(), m.initial.size());
    return id;
}

void AuthClient::step(uint64_t id, std::string response, AuthWaiter* w) {
    if (!channel_ || !channel_->open()) {
        OPENSSL_cleanse(response.data(), response.size());
        fail_later(id, w);  // the conversation died with the channel
        return;
    }
    ipc::AuthStepMsg m;
    m.request_id = id;
    m.response = std::move(response);
    pending_[id] = w;
    channel_->send(ipc::encode(m));
    OPENSSL_cleanse(m.response.data(), m.response.size());
}

void AuthClient::cancel(uint64_t id) {
    pending_.erase(id);
    for (auto* list : {&failed_, &answering_})
        for (auto& f : *list)
            if (f.first == id) f.second = nullptr;
    if (channel_ && channel_->open()) channel_->send(ipc::encode(ipc::AuthCancelMsg{id}));
}

void AuthClient::limit_check(std::string identity, LimitDone done) {
    if (!ensure_channel()) {
        limit_failed_.push_back(std::move(done));
        timeval zero{0, 0};
        event_add(fail_ev_.get(), &zero);
        return;
    }
    ipc::LimitCheckMsg m;
    m.request_id = next_id_++;
    m.identity = std::move(identity);
    limit_pending_.emplace(m.request_id, std::move(done));
    channel_->send(ipc::encode(m));
}

void AuthClient::limit_count(const ipc::LimitCountMsg& m) {
    if (!ensure_channel()) {
        log_error("sending limits: tegami-auth unreachable; %llu recipients of %s not counted",
                  static_cast<unsigned long long>(m.recipients), m.identity.c_str());
        return;
    }
    channel_->send(ipc::encode(m));
}

void AuthClient::on_frame(ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::limit_reply) {
        ipc::LimitReplyMsg lr;
        if (!ipc::decode(payload, lr)) {
            log_error("auth sent a bad limit_reply frame; closing the channel");
            on_close("protocol error");
            return;
        }
        auto it = limit_pending_.find(lr.request_id);
        if (it == limit_pending_.end()) return;
        LimitDone done = std::move(it->second);
        limit_pending_.erase(it);
        done(lr);
        return;
    }
    ipc::AuthReplyMsg r;
    if (type != ipc::MsgType::auth_reply || !ipc::decode(payload, r)) {
        log_error("auth sent a bad %s frame; closing the channel", ipc::msg_type_name(type));
        on_close("protocol error");
        return;
    }
    backoff_ = kBackoffMin;
    auto it = pending_.find(r.request_id);
    if (it == pending_.end()) return;
    AuthWaiter* w = it->second;
    pending_.erase(it);
    w->auth_reply(r);
}

void AuthClient::on_close(const std::string& why) {
    if (!channel_) return;
    log_warning("auth channel closed: %s (%zu pending)", why.c_str(), pending_.size());
    if (channel_->open()) channel_->close();
    closed_ = std::move(channel_);
    for (auto& [id, w] : pending_)
        failed_.emplace_back(id, w);
    pending_.clear();
    for (auto& [id, done] : limit_pending_)
        limit_failed_.push_back(std::move(done));
    limit_pending_.clear();
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void AuthClient::fail_later(uint64_t id, AuthWaiter* w) {
    failed_.emplace_back(id, w);
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void AuthClient::fail_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<AuthClient*>(arg)->answer_failed();
    } catch (const std::exception& e) {
        log_error("auth client: %s", e.what());
    } catch (...) {
        log_error("auth client: unknown exception");
    }
}

void AuthClient::answer_failed() {
    closed_.reset();
    answering_.clear();
    answering_.swap(failed_);
    for (size_t i = 0; i < answering_.size(); ++i) {
        AuthWaiter* w = std::exchange(answering_[i].second, nullptr);
        if (!w) continue;
        ipc::AuthReplyMsg r;
        r.request_id = answering_[i].first;
        r.status = ipc::kAuthTemp;
        r.text = "4.7.0 Authentication service unavailable";
        w->auth_reply(r);
    }
    answering_.clear();
    std::vector<LimitDone> limits;
    limits.swap(limit_failed_);
    for (auto& done : limits) {
        ipc::LimitReplyMsg r;
        r.status = ipc::kStatusTemp;
        done(r);
    }
}

}  // namespace tegami::smtpd
