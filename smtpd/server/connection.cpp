// connection.cpp - see connection.hpp.
#include "smtpd/server/connection.hpp"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "lib/mail/received.hpp"
#include "lib/tls/transport.hpp"
#include "smtpd/server/server.hpp"

namespace tegami::smtpd {

Connection::Connection(Server& server, std::unique_ptr<Transport> transport,
                       std::shared_ptr<const Config> config, ClientInfo client, Role role)
    : server_(server),
      session_(*this, std::move(config), std::move(client), role),
      auth_(server.auth(), *this),
      stream_(server.base(), std::move(transport), *this) {
    session_.set_tls_available(server_.tls() != nullptr);
    chunk_size_ = std::max<uint64_t>(session_.state().config->smtpd_data_buffer_size, 4096);
    set_timeouts(false);
    stream_.set_handshake_timeout(session_.state().config->tls_handshake_timeout);
}

Connection::~Connection() {
    if (request_id_) server_.queue().cancel(request_id_);
    session_.discard_transaction();  // a body streamed mid-DATA is aborted
    const ClientInfo& ci = session_.state().client;
    log_info("disconnect from %s[%s] %s", ci.name.c_str(), ci.addr.c_str(),
             session_.summary().c_str());
}

template <typename F>
void Connection::guarded(F&& f) noexcept {
    try {
        f();
        after_session();
    } catch (const std::exception& e) {
        log_error("session %s: %s", session_.state().client.addr.c_str(), e.what());
        dead_ = true;
    } catch (...) {
        log_error("session %s: unknown exception", session_.state().client.addr.c_str());
        dead_ = true;
    }
    server_.reap(this);  // may delete this
}

// A TCP client other than this host is named by its PTR record confirmed by a forward
// lookup (dns/resolver.hpp NameLookup) before anything else happens; the session waits
// for it at most smtpd_peername_timeout and then goes on as "unknown" (other sessions are
// never held up: the lookup is asynchronous).
void Connection::start() {
    const ClientInfo& ci = session_.state().client;
    std::shared_ptr<dns::Resolver> r = server_.resolver();
    if (r && !ci.local && ci.name == "unknown") {
        lookup_resolver_ = r;
        lookup_ = std::make_unique<dns::NameLookup>(*r);
        bool started = lookup_->start(ci.addr, [this](std::string name, std::string why) {
            guarded([&] { named(std::move(name), why); });
        });
        if (started) {
            stream_.pause(true);
            lookup_timer_.reset(evtimer_new(server_.base(), &Connection::lookup_timeout_cb, this));
            uint64_t t = session_.state().config->smtpd_peername_timeout;
            timeval tv{static_cast<time_t>(t), t == 0 ? 1000 : 0};
            if (lookup_timer_) evtimer_add(lookup_timer_.get(), &tv);
            return;
        }
        lookup_.reset();
    }
    begin();
}

void Connection::lookup_timeout_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Connection*>(arg);
    self->guarded([self] {
        if (self->lookup_) self->lookup_->cancel();
        self->named("unknown", "timed out");
    });
}

void Connection::named(std::string name, const std::string& why) {
    if (!lookup_) return;  // already named
    lookup_timer_.reset();
    const ClientInfo& ci = session_.state().client;
    if (name == "unknown") log_info("%s: hostname not confirmed: %s", ci.addr.c_str(), why.c_str());
    session_.set_client_name(std::move(name));
    stream_.pause(false);
    begin();
    // Input that came during the lookup is fed now: it was read already, and a client
    // that closed its sending side after it (EOF) brings no further read event.
    if (!stream_.handshaking()) stream_.resume();
    lookup_.reset();  // after begin: this callback runs inside it
}

void Connection::begin() {
    const ClientInfo& ci = session_.state().client;
    log_info("connect from %s[%s] (%s)", ci.name.c_str(), ci.addr.c_str(),
             role_name(session_.state().role));
    if (session_.state().role == Role::smtps) {
        stream_.start_handshake();  // implicit TLS: the greeting comes after the handshake
    } else {
        greeted_ = true;
        session_.start();
    }
    after_session();
}

void Connection::start_tls() {
    stream_.pause(true);  // the rest of the plaintext is never fed (CVE-2011-0411)
}

void Connection::stream_secured() {
    const ClientInfo& ci = session_.state().client;
    std::string info = stream_.transport().security();
    std::string cb = stream_.transport().channel_binding();
    log_info("TLS from %s[%s]: %s", ci.name.c_str(), ci.addr.c_str(), info.c_str());
    if (!greeted_) {
        greeted_ = true;
        session_.set_tls(std::move(info));
        session_.set_channel_binding(std::move(cb));
        session_.start();
    } else {
        session_.tls_started(std::move(info));
        session_.set_channel_binding(std::move(cb));
    }
    stream_.pause(false);
}

void Connection::set_timeouts(bool data) {
    const Config& c = *session_.state().config;
    stream_.set_timeouts(data ? c.smtpd_data_timeout : c.smtpd_timeout, c.smtpd_timeout);
    data_timeouts_ = data;
}

size_t Connection::stream_input(std::string_view in) {
    size_t used = session_.feed(in);
    if (session_.waiting()) stream_.pause(true);
    if (session_.closing()) stream_.stop_reading();
    return used;
}

void Connection::stream_timeout() {
    session_.timeout();
}

void Connection::stream_ready(short what) noexcept {
    guarded([this, what] { stream_.handle(what); });
}

void Connection::after_session() {
    if (dead_) return;
    if (stream_.dead()) {
        const ClientInfo& ci = session_.state().client;
        if (stream_.end() == StreamEnd::handshake_failed)
            log_info("TLS handshake failed from %s[%s]: %s", ci.name.c_str(), ci.addr.c_str(),
                     stream_.end_reason().c_str());
        else if (stream_.end() != StreamEnd::peer_closed && !session_.closing())
            log_info("lost connection from %s[%s]: %s", ci.name.c_str(), ci.addr.c_str(),
                     stream_.end_reason().c_str());
        dead_ = true;  // EOF, error, or a client that does not read its replies
        return;
    }
    if (session_.closing()) {
        stream_.stop_reading();
        if (stream_.output_empty()) dead_ = true;
        return;
    }
    // STARTTLS: once the 220 is on the wire, the socket is wrapped in TLS and whatever
    // plaintext came after the command is dropped unread.
    if (session_.wants_tls() && !stream_.handshaking() && stream_.output_empty()) {
        auto ctx = server_.tls();
        bool ok = ctx && stream_.swap_transport([&ctx](UniqueFd fd) -> std::unique_ptr<Transport> {
            return tls::TlsTransport::accept(ctx, std::move(fd));
        });
        if (!ok) {
            log_error("STARTTLS: cannot start TLS for %s", session_.state().client.addr.c_str());
            dead_ = true;
            return;
        }
    }
    if (session_.in_data() != data_timeouts_) set_timeouts(session_.in_data());
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
// the client waits for it); the stream keeps only what the socket did not take.
void Connection::write(std::string_view bytes) {
    stream_.write(bytes);
}

LocalKind Connection::classify_local(std::string_view local_part) {
    return server_.classify_local(local_part);
}

std::optional<Reply> Connection::check_virtual(const Mailbox& mb) {
    return server_.check_virtual(mb);
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

// The error sleep and the harvest tarpit: a timer in the loop, never a sleep.
void Connection::delay(uint64_t seconds) {
    if (!delay_ev_) delay_ev_.reset(evtimer_new(server_.base(), &Connection::delay_cb, this));
    timeval tv{static_cast<time_t>(seconds), 0};
    evtimer_add(delay_ev_.get(), &tv);
}

void Connection::delay_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* c = static_cast<Connection*>(arg);
    c->guarded([c] {
        c->session_.delay_done();
        if (!c->session_.waiting()) c->stream_.resume();
    });
}

void Connection::send_chunk(const std::string& queue_id, uint32_t index, std::string data) {
    server_.queue().send_chunk(queue_id, index, std::move(data), this);
}

void Connection::abort_body(const std::string& queue_id) {
    server_.queue().abort_body(queue_id);
}

PolicyVerdict Connection::policy(const SessionState& st, const VerbSpec& verb,
                                 const CommandArgs& args) {
    return server_.policy(st, verb, args);
}

std::vector<std::string> Connection::auth_mechanisms(const SessionState& st) {
    return auth_.mechanisms(st);
}

std::optional<Reply> Connection::auth(SessionState& st, std::string_view arg) {
    // The address the client reached is asked of the kernel only here, not per
    // connection: Dovecot's passdb may select on it (local_ip, local_port).
    if (!st.client.local && st.client.local_port == 0 && stream_.fd() >= 0) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (::getsockname(stream_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
            const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
            st.client.local_addr = client_info(sa, static_cast<int>(len)).addr;
            st.client.local_port = socket_port(sa);
        }
    }
    return auth_.auth(st, arg);
}

std::optional<Reply> Connection::auth_line(SessionState& st, std::string_view line) {
    return auth_.line(st, line);
}

void Connection::auth_reply(const ipc::AuthReplyMsg& r) noexcept {
    guarded([this, &r] {
        auth_.on_reply(session_, r);
        if (!session_.waiting()) stream_.resume();
    });
}

void Connection::policy_done(const PolicyVerdict& v) noexcept {
    guarded([this, &v] {
        session_.policy_done(v);
        if (!session_.waiting()) stream_.resume();
    });
}

void Connection::auth_done(const Reply& r, std::string login) noexcept {
    guarded([this, &r, &login] {
        session_.auth_done(r, std::move(login));
        if (!session_.waiting()) stream_.resume();
    });
}

void Connection::submit_result(uint32_t status, std::string_view text) noexcept {
    guarded([this, status, text] {
        request_id_ = 0;
        session_.submit_done(status, text);
        if (!session_.waiting()) stream_.resume();
    });
}

void Connection::chunk_result(uint32_t status, std::string_view text) noexcept {
    guarded([this, status, text] {
        bool was_waiting = session_.waiting();
        session_.chunk_done(status, text);
        if (was_waiting && !session_.waiting()) stream_.resume();
    });
}

uint32_t socket_port(const sockaddr* sa) {
    if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    return 0;
}

ClientInfo client_info(const sockaddr* sa, int len) {
    ClientInfo ci;
    ci.addr = "unknown";
    ci.name = "unknown";
    char buf[INET6_ADDRSTRLEN] = "";
    if (sa->sa_family == AF_INET && len >= static_cast<int>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
        if (ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK) ci.name = "localhost";
    } else if (sa->sa_family == AF_INET6 && len >= static_cast<int>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            in_addr v4;
            std::memcpy(&v4, in6->sin6_addr.s6_addr + 12, sizeof v4);
            inet_ntop(AF_INET, &v4, buf, sizeof buf);
            if (ntohl(v4.s_addr) == INADDR_LOOPBACK) ci.name = "localhost";
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
            if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) ci.name = "localhost";
        }
    }
    if (buf[0]) ci.addr = buf;
    return ci;
}

}  // namespace tegami::smtpd
