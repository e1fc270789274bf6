// auth_client.cpp - see auth_client.hpp.
#include "smtpd/server/auth_client.hpp"

#include <openssl/crypto.h>

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"  // auth_socket_path

namespace tegami::smtpd {

AuthClient::AuthClient(event_base* base, ConfigSource config)
    : channel_(
          base, std::move(config), RequestChannel::Peer{"auth", "tegami-auth", auth_socket_path},
          [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>&) { on_frame(t, p); },
          [this] { return on_close(); }, [this] { answer_failed(); }) {}

AuthClient::~AuthClient() = default;

uint64_t AuthClient::start(ipc::AuthStartMsg m, AuthWaiter* w) {
    uint64_t id = channel_.next_id();
    m.request_id = id;
    if (!channel_.ensure()) {
        OPENSSL_cleanse(m.initial.data(), m.initial.size());
        requests_.fail(id, w);
        channel_.fail_soon();
        return id;
    }
    requests_.add(id, w);
    channel_.send(ipc::encode(m));
    OPENSSL_cleanse(m.initial.data(), m.initial.size());
    return id;
}

void AuthClient::step(uint64_t id, std::string response, AuthWaiter* w) {
    if (!channel_.open()) {
        OPENSSL_cleanse(response.data(), response.size());
        requests_.fail(id, w);  // the conversation died with the channel
        channel_.fail_soon();
        return;
    }
    ipc::AuthStepMsg m;
    m.request_id = id;
    m.response = std::move(response);
    requests_.add(id, w);
    channel_.send(ipc::encode(m));
    OPENSSL_cleanse(m.response.data(), m.response.size());
}

void AuthClient::cancel(uint64_t id) {
    requests_.cancel(id);
    if (channel_.open()) channel_.send(ipc::encode(ipc::AuthCancelMsg{id}));
}

void AuthClient::limit_reserve(ipc::LimitReserveMsg m, LimitDone done) {
    if (!channel_.ensure()) {
        limit_failed_.push_back(std::move(done));
        channel_.fail_soon();
        return;
    }
    m.request_id = channel_.next_id();
    limit_pending_.emplace(m.request_id, std::move(done));
    channel_.send(ipc::encode(m));
}

void AuthClient::limit_release(const ipc::LimitReleaseMsg& m) {
    bool counts = m.messages || m.recipients;
    if (!counts) {
        if (channel_.open()) channel_.send(ipc::encode(m));
        return;
    }
    if (!channel_.ensure()) {
        log_error("sending limits: tegami-auth unreachable; %llu recipients of %s not counted",
                  static_cast<unsigned long long>(m.recipients), m.identity.c_str());
        return;
    }
    channel_.send(ipc::encode(m));
}

std::function<void(uint64_t, uint64_t)> AuthClient::releaser(std::string identity,
                                                             uint64_t holder) {
    std::weak_ptr<char> alive = alive_;
    return [this, alive, identity = std::move(identity), holder](uint64_t messages,
                                                                 uint64_t recipients) {
        if (alive.expired()) return;
        limit_release(ipc::LimitReleaseMsg{identity, holder, messages, recipients});
    };
}

void AuthClient::on_frame(ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::limit_reply) {
        ipc::LimitReplyMsg lr;
        if (!ipc::decode(payload, lr)) {
            log_error("auth sent a bad limit_reply frame; closing the channel");
            channel_.close("protocol error");
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
        channel_.close("protocol error");
        return;
    }
    channel_.answered();
    if (AuthWaiter* w = requests_.take(r.request_id)) w->auth_reply(r);
}

size_t AuthClient::on_close() {
    size_t n = requests_.pending();
    requests_.fail_all();
    for (auto& [id, done] : limit_pending_)
        limit_failed_.push_back(std::move(done));
    limit_pending_.clear();
    return n;
}

void AuthClient::answer_failed() {
    requests_.answer_failed([](uint64_t id, AuthWaiter* w) {
        ipc::AuthReplyMsg r;
        r.request_id = id;
        r.status = ipc::kAuthTemp;
        r.text = "4.7.0 Authentication service unavailable";
        w->auth_reply(r);
    });
    std::vector<LimitDone> limits;
    limits.swap(limit_failed_);
    for (auto& done : limits) {
        ipc::LimitReplyMsg r;
        r.status = ipc::kStatusTemp;
        done(r);
    }
}

}  // namespace tegami::smtpd
