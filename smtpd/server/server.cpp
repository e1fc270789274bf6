// server.cpp - see server.hpp.
#include "smtpd/server/server.hpp"

#include "smtpd/server/relay_policy.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::smtpd {

Server::Server(DaemonContext& ctx)
    : ctx_(ctx),
      queue_(ctx.base, [&ctx] { return ctx.config; }),
      auth_(ctx.base, [&ctx] { return ctx.config; }) {
    policy_.add(std::make_unique<RelayPolicy>());
}

Server::~Server() {
    conns_.clear();  // sessions cancel their queue requests while queue_ still exists
}

void Server::start() {
    make_role_configs();
    for (auto& l : ctx_.listeners) {
        Role role;
        if (!parse_role(l.role, role) || !l.fd.valid()) continue;
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
    for (Role r : {Role::mta, Role::msa, Role::smtps, Role::local})
        role_config_[static_cast<size_t>(r)] =
            std::make_shared<const Config>(config_for_role(*ctx_.config, role_name(r)));
}

void Server::reload() {
    make_role_configs();
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

void Server::accept_error_cb(evconnlistener*, void*) noexcept {
    int err = EVUTIL_SOCKET_ERROR();
    log_warning("accept: %s", evutil_socket_error_to_string(err));
}

void Server::on_accept(const ListenerSlot& ls, evutil_socket_t fd, const sockaddr* sa, int len) {
    UniqueFd owner(fd);
    evutil_make_socket_nonblocking(fd);
    ClientInfo ci = client_info(sa, len);
    if (sa->sa_family == AF_UNIX) {  // the local (MSP) listener: who is it, by the kernel
        ci.local = true;
        ci.uid = peer_uid(fd);
        ci.trusted = ci.uid == 0 || ci.uid == static_cast<long>(::geteuid());
        ci.addr = "local";
        ci.name = "localhost";
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
    auto transport = std::make_unique<PlainTransport>(std::move(owner));
    auto conn =
        std::make_unique<Connection>(*this, std::move(transport), role_cfg, std::move(ci), ls.role);
    Connection* c = conn.get();
    conns_.emplace(c, std::move(conn));
    c->start();
    reap(c);
}

void Server::reap(Connection* c) {
    if (!c->dead()) return;
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

LocalKind Server::classify_local(std::string_view local_part) {
    const Config& cfg = *ctx_.config;
    if (cfg.aliases.empty())
        return tegami::classify_local(local_part, nullptr, cfg.recipient_delimiter);
    if (!aliases_ || aliases_->path() != cfg.aliases) {
        aliases_ = std::make_unique<AliasFile>(cfg.aliases);
        aliases_checked_ = 0;
    }
    time_t now = std::time(nullptr);
    if (now != aliases_checked_) {
        aliases_checked_ = now;
        if (auto r = aliases_->refresh(); !r)
            log_error("aliases: %s (keeping the previous table)", r.error().message.c_str());
    }
    return tegami::classify_local(local_part, aliases_.get(), cfg.recipient_delimiter);
}

PolicyVerdict Server::policy(const SessionState& st, const VerbSpec& verb,
                             const CommandArgs& args) {
    return policy_.run(st, verb, args);
}

}  // namespace tegami::smtpd
