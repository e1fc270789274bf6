// connection.cpp - see connection.hpp.
#include "smtpd/server/connection.hpp"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>

#include <cstring>

#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "lib/mail/received.hpp"
#include "smtpd/server/server.hpp"

namespace tegami::smtpd {

namespace {
constexpr size_t kReadHighWater = 64 * 1024;  // input kept while the session waits
}

Connection::Connection(Server& server, BuffereventPtr bev, std::shared_ptr<const Config> config,
                       ClientInfo client)
    : server_(server),
      bev_(std::move(bev)),
      session_(*this, std::move(config), std::move(client)),
      auth_(server.auth(), *this) {
    const ClientInfo& ci = session_.state().client;
    log_info("connect from %s[%s]", ci.name.c_str(), ci.addr.c_str());
    bufferevent_setcb(bev_.get(), &Connection::read_cb, &Connection::write_cb,
                      &Connection::event_cb, this);
    bufferevent_setwatermark(bev_.get(), EV_READ, 0, kReadHighWater);
    set_timeouts(false);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

Connection::~Connection() {
    if (request_id_) server_.queue().cancel(request_id_);
    const ClientInfo& ci = session_.state().client;
    log_info("disconnect from %s[%s] %s", ci.name.c_str(), ci.addr.c_str(),
             session_.summary().c_str());
}

template <typename F>
void Connection::guarded(Connection* c, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        log_error("session %s: %s", c->session_.state().client.addr.c_str(), e.what());
        c->dead_ = true;
    } catch (...) {
        log_error("session %s: unknown exception", c->session_.state().client.addr.c_str());
        c->dead_ = true;
    }
    c->server_.reap(c);  // may delete c
}

void Connection::start() {
    session_.start();
    after_session();
}

void Connection::set_timeouts(bool data) {
    const Config& c = *session_.state().config;
    timeval rd{static_cast<time_t>(data ? c.smtpd_data_timeout : c.smtpd_timeout), 0};
    timeval wr{static_cast<time_t>(c.smtpd_timeout), 0};
    bufferevent_set_timeouts(bev_.get(), rd.tv_sec ? &rd : nullptr, wr.tv_sec ? &wr : nullptr);
    data_timeouts_ = data;
}

// Feeds buffered input to the session until it is used up or the session waits.
void Connection::drive() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    while (!dead_ && !session_.waiting() && !session_.closing()) {
        evbuffer_iovec v;
        if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1 || v.iov_len == 0) break;
        size_t used = session_.feed({static_cast<const char*>(v.iov_base), v.iov_len});
        evbuffer_drain(in, used);
        if (used == 0) break;
    }
    after_session();
}

void Connection::after_session() {
    if (dead_) return;
    if (session_.closing()) {
        bufferevent_disable(bev_.get(), EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) dead_ = true;
        return;
    }
    if (session_.in_data() != data_timeouts_) set_timeouts(session_.in_data());
}

void Connection::read_cb(bufferevent*, void* arg) noexcept {
    auto* c = static_cast<Connection*>(arg);
    guarded(c, [c] { c->drive(); });
}

void Connection::write_cb(bufferevent*, void* arg) noexcept {
    auto* c = static_cast<Connection*>(arg);
    guarded(c, [c] {
        if (c->session_.closing()) c->dead_ = true;
    });
}

void Connection::event_cb(bufferevent*, short events, void* arg) noexcept {
    auto* c = static_cast<Connection*>(arg);
    guarded(c, [c, events] { c->on_event(events); });
}

void Connection::on_event(short events) {
    if ((events & BEV_EVENT_TIMEOUT) && (events & BEV_EVENT_READING) && !session_.closing()) {
        session_.timeout();
        after_session();
        return;
    }
    if ((events & BEV_EVENT_ERROR) && !session_.closing()) {
        const ClientInfo& ci = session_.state().client;
        log_info("lost connection from %s[%s]: %s", ci.name.c_str(), ci.addr.c_str(),
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
    dead_ = true;  // EOF, error, or a client that does not read its replies
}

void Connection::drain() {
    session_.drain();
    after_session();
}

void Connection::shutdown_now() {
    session_.shutdown();
    after_session();
}

// A reply goes straight to the socket when nothing is queued before it (the usual case:
// the client waits for it), which spares arming and disarming the write event for every
// reply; whatever the socket does not take at once is queued in the bufferevent, which
// also reports errors. Plaintext sockets only: a TLS bufferevent must see every byte.
void Connection::write(std::string_view bytes) {
    evbuffer* out = bufferevent_get_output(bev_.get());
    if (evbuffer_get_length(out) == 0) {
        ssize_t n = ::send(bufferevent_getfd(bev_.get()), bytes.data(), bytes.size(),
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
    }
    if (!bytes.empty()) bufferevent_write(bev_.get(), bytes.data(), bytes.size());
}

LocalKind Connection::classify_local(std::string_view local_part) {
    return server_.classify_local(local_part);
}

std::string Connection::new_queue_id() {
    return tegami::new_queue_id();
}
std::string Connection::date() {
    return rfc5322_date_now();
}

void Connection::submit(ipc::SubmitMsg msg) {
    request_id_ = server_.queue().submit(std::move(msg), this);
}

PolicyVerdict Connection::policy(const SessionState& st, const VerbSpec& verb,
                                 const CommandArgs& args) {
    return server_.policy(st, verb, args);
}

std::vector<std::string> Connection::auth_mechanisms(const SessionState& st) {
    return auth_.mechanisms(st);
}

std::optional<Reply> Connection::auth(SessionState& st, std::string_view arg) {
    return auth_.auth(st, arg);
}

std::optional<Reply> Connection::auth_line(SessionState& st, std::string_view line) {
    return auth_.line(st, line);
}

void Connection::auth_reply(const ipc::AuthReplyMsg& r) noexcept {
    guarded(this, [this, &r] {
        auth_.on_reply(session_, r);
        drive();
    });
}

void Connection::submit_result(uint32_t status, std::string_view text) noexcept {
    guarded(this, [this, status, text] {
        request_id_ = 0;
        session_.submit_done(status, text);
        drive();
    });
}

ClientInfo client_info(const sockaddr* sa, int len) {
    ClientInfo ci{"unknown", "unknown"};
    char buf[INET6_ADDRSTRLEN] = "";
    if (sa->sa_family == AF_INET && len >= static_cast<int>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) ci.name = "localhost";
    } else if (sa->sa_family == AF_INET6 && len >= static_cast<int>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            in_addr v4;
            std::memcpy(&v4, in6->sin6_addr.s6_addr + 12, sizeof v4);
            inet_ntop(AF_INET, &v4, buf, sizeof buf);
            if ((ntohl(v4.s_addr) >> 24) == 127) ci.name = "localhost";
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
            if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) ci.name = "localhost";
        }
    }
    if (buf[0]) ci.addr = buf;
    return ci;
}

}  // namespace tegami::smtpd
