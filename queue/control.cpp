// control.cpp - see control.hpp.
#include "queue/control.hpp"

#include <pwd.h>
#include <unistd.h>

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/mail/address.hpp"

namespace tegami::queue {

namespace {

std::string login_of(long uid) {
    passwd pw{};
    passwd* res = nullptr;
    char buf[4096];
    if (uid >= 0 && getpwuid_r(static_cast<uid_t>(uid), &pw, buf, sizeof buf, &res) == 0 && res)
        return pw.pw_name;
    return {};
}

// The caller's own message: its envelope sender is login@<a local domain>.
bool own_message(const Envelope& env, const std::string& login, const Config& cfg) {
    if (login.empty()) return false;
    size_t at = env.sender.rfind('@');
    if (at == std::string::npos || env.sender.substr(0, at) != login) return false;
    std::string domain = env.sender.substr(at + 1);
    for (const auto& d : cfg.local_domains)
        if (iequals(d, domain)) return true;
    return iequals(domain, cfg.hostname);
}

}  // namespace

bool control_admin(long uid) {
    return uid == 0 || uid == static_cast<long>(getuid());
}

ControlServer::ControlServer(event_base* base, Runner& runner, ConfigFn config)
    : base_(base), runner_(runner), config_(std::move(config)) {
    reap_ev_.reset(event_new(base_, -1, 0, on_reap_cb, this));
}

ControlServer::~ControlServer() = default;

Result<void> ControlServer::listen(UniqueFd fd) {
    evutil_make_socket_nonblocking(fd.get());
    listener_.reset(evconnlistener_new(
        base_, on_accept_cb, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd.get()));
    if (!listener_) return make_error(Exit::os_err, "evconnlistener_new failed");
    fd.release();
    return {};
}

void ControlServer::stop() {
    listener_.reset();
}

void ControlServer::on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int,
                                 void* arg) noexcept {
    UniqueFd owned(fd);
    auto* self = static_cast<ControlServer*>(arg);
    try {
        uint64_t sid = self->next_sid_++;
        Session s;
        s.uid = peer_uid(owned.get());
        s.channel = std::make_unique<ipc::Channel>(
            self->base_, std::move(owned),
            [self, sid](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>&) {
                self->on_frame(sid, t, p);
            },
            [self, sid](const std::string&) { self->drop(sid); });
        self->sessions_.emplace(sid, std::move(s));
    } catch (const std::exception& e) {
        log_error("control socket: accept: %s", e.what());
    }
}

void ControlServer::on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    ipc::ControlRequestMsg req;
    if (type != ipc::MsgType::control_request || !ipc::decode(payload, req)) {
        log_warning("control socket: malformed %s frame from uid %ld: closing",
                    ipc::msg_type_name(type), it->second.uid);
        drop(sid);
        return;
    }
    it->second.channel->send(handle(req, it->second.uid));
}

ipc::ControlListMsg ControlServer::listing(long uid, bool admin) {
    auto cfg = config_();
    std::string login = admin ? std::string() : login_of(uid);
    ipc::ControlListMsg out;
    runner_.for_each([&](const Envelope& env, bool active, uint64_t size) {
        ipc::ControlEntry e;
        e.queue_id = env.queue_id;
        e.size = size;
        e.arrival = env.arrival;
        if (active) e.flags |= ipc::kControlActive;
        if (env.flags & kEnvelopeHeld) {
            e.flags |= ipc::kControlHeld;
            auto r = hold_reasons_.find(env.queue_id);
            e.reason = r == hold_reasons_.end() ? "held" : r->second;
        }
        if (!admin && !own_message(env, login, *cfg)) {
            e.flags |= ipc::kControlHidden;
            e.reason.clear();
            out.entries.push_back(std::move(e));
            return;
        }
        e.sender = env.sender;
        for (const auto& rc : env.recipients)
            e.recipients.push_back(ipc::ControlRecipient{rc.address, rcpt_state_name(rc.state),
                                                         rc.dsn, rc.text, rc.next_try});
        out.entries.push_back(std::move(e));
    });
    std::sort(out.entries.begin(), out.entries.end(),
              [](const auto& a, const auto& b) { return a.queue_id < b.queue_id; });
    return out;
}

std::string ControlServer::handle(const ipc::ControlRequestMsg& req, long uid) {
    bool admin = control_admin(uid);
    if (req.op == ipc::ControlOp::list) return ipc::encode(listing(uid, admin));
    ipc::ControlResultMsg res;
    if (!admin) {
        log_warning("control socket: uid %ld may not change the queue", uid);
        res.status = ipc::kStatusPerm;
        res.text = "You do not have permission to process the queue";
        return ipc::encode(res);
    }
    std::vector<std::string> busy;
    switch (req.op) {
        case ipc::ControlOp::run:
            res.count = static_cast<uint32_t>(runner_.run_now(req.ids));
            break;
        case ipc::ControlOp::hold:
            res.count = static_cast<uint32_t>(runner_.hold(req.ids));
            for (const auto& id : req.ids)
                hold_reasons_[id] = req.reason.empty() ? "held" : req.reason.substr(0, 200);
            break;
        case ipc::ControlOp::release:
            res.count = static_cast<uint32_t>(runner_.release(req.ids));
            for (const auto& id : req.ids)
                hold_reasons_.erase(id);
            break;
        case ipc::ControlOp::remove:
            res.count = static_cast<uint32_t>(runner_.remove(req.ids, busy));
            for (const auto& id : req.ids)
                hold_reasons_.erase(id);
            if (!busy.empty())
                res.text = busy.size() == 1
                               ? "1 message is being delivered"
                               : std::to_string(busy.size()) + " messages are being delivered";
            break;
        case ipc::ControlOp::list:
            break;
    }
    log_info("control: uid %ld: %s of %zu id%s: %u message%s", uid,
             req.op == ipc::ControlOp::run       ? "run"
             : req.op == ipc::ControlOp::hold    ? "hold"
             : req.op == ipc::ControlOp::release ? "release"
                                                 : "delete",
             req.ids.size(), req.ids.size() == 1 ? "" : "s", res.count, res.count == 1 ? "" : "s");
    return ipc::encode(res);
}

void ControlServer::drop(uint64_t sid) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    it->second.channel->close();
    dead_.push_back(std::move(it->second.channel));
    sessions_.erase(it);
    if (reap_ev_) event_active(reap_ev_.get(), EV_TIMEOUT, 0);
}

void ControlServer::on_reap_cb(evutil_socket_t, short, void* arg) noexcept {
    static_cast<ControlServer*>(arg)->dead_.clear();
}

}  // namespace tegami::queue
