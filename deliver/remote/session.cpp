// session.cpp - see session.hpp. One libevent event per session, re-armed with what the
// socket (or OpenSSL) needs next and the timeout of the current wait.
#include "deliver/remote/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "lib/core/log.hpp"

namespace tegami::remote {

namespace {

constexpr unsigned kDataBlockTimeout = 180;  // RFC 5321 4.5.3.2.5
constexpr unsigned kIdleWatch = 3600;        // the owner's reuse timer ends idle sessions

std::string ssl_error_text() {
    unsigned long e = ERR_get_error();
    if (!e) return "connection closed during the handshake";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

}  // namespace

Result<SslCtxPtr> make_client_tls_context() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return make_error(Exit::software, "SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx.get());
    SSL_CTX_set_mode(ctx.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

Session::Session(event_base* base, SSL_CTX* tls, SessionTarget target, ClientSettings settings,
                 unsigned connect_timeout, MessageDone on_done, Closed on_closed)
    : base_(base),
      tls_ctx_(tls),
      target_(std::move(target)),
      client_([&] {
          settings.tls_possible = settings.tls_possible && tls != nullptr;
          settings.tls_active = target_.implicit_tls;
          settings.tls_required = settings.tls_required || target_.verify_tls;
          settings.peer =
              target_.unix_path.empty()
                  ? target_.host + "[" + target_.address + "]:" + std::to_string(target_.port)
                  : target_.host + "[unix:" + target_.unix_path + "]";
          return settings;
      }()),
      connect_timeout_(connect_timeout),
      on_done_(std::move(on_done)),
      on_closed_(std::move(on_closed)) {}

Session::~Session() = default;

std::string Session::relay() const {
    if (!target_.unix_path.empty()) return target_.host + "[unix:" + target_.unix_path + "]";
    return target_.host + "[" + target_.address + "]:" + std::to_string(target_.port);
}

void Session::start(MessageSpec m) {
    first_ = std::move(m);
    start_ev_.reset(evtimer_new(base_, on_start_cb, this));
    timeval tv{0, 0};
    if (start_ev_) event_add(start_ev_.get(), &tv);
}

void Session::on_start_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Session*>(arg);
    try {
        self->begin_connect();
    } catch (const std::exception& e) {
        self->close_with(Outcome{4, "4.3.0", std::string("internal error: ") + e.what()});
    }
}

void Session::begin_connect() {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    auto* su = reinterpret_cast<sockaddr_un*>(&ss);
    if (!target_.unix_path.empty()) {
        if (target_.unix_path.size() >= sizeof(su->sun_path))
            return close_with(Outcome{4, "4.4.1", "socket path too long: " + target_.unix_path});
        su->sun_family = AF_UNIX;
        std::memcpy(su->sun_path, target_.unix_path.data(), target_.unix_path.size());
        len =
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + target_.unix_path.size() + 1);
    } else if (inet_pton(AF_INET, target_.address.c_str(), &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(target_.port);
        len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, target_.address.c_str(), &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(target_.port);
        len = sizeof(*s6);
    } else {
        return close_with(Outcome{4, "4.4.1", "bad address " + target_.address});
    }
    fd_.reset(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_)
        return close_with(Outcome{4, "4.4.1", std::string("socket: ") + std::strerror(errno)});
    int one = 1;
    if (ss.ss_family != AF_UNIX) setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ev_.reset(event_new(base_, fd_.get(), 0, on_io_cb, this));
    if (!ev_) return close_with(Outcome{4, "4.3.0", "event_new failed"});
    client_.send_message(std::move(first_));
    in_message_ = true;
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
        return close_with(
            Outcome{4, "4.4.1", "connect to " + relay() + ": " + std::strerror(errno)});
    connecting_ = true;
    arm();
}

void Session::send(MessageSpec m) {
    mail_at_ = 0;
    idle_ = false;
    in_message_ = true;
    client_.send_message(std::move(m));
    after_client();
}

void Session::quit() {
    if (closed_) return;
    idle_ = false;
    if (fd_ && !connecting_ && !handshaking_) {
        client_.quit();
        after_client();
    } else {
        close_with(Outcome{2, "2.0.0", "closed"});
    }
}

void Session::on_io_cb(evutil_socket_t, short what, void* arg) noexcept {
    auto* self = static_cast<Session*>(arg);
    try {
        self->handle_io(what);
    } catch (const std::exception& e) {
        self->close_with(Outcome{4, "4.3.0", std::string("internal error: ") + e.what()});
    }
}

void Session::handle_io(short what) {
    if (closed_) return;
    if (what & EV_TIMEOUT) {
        if (connecting_)
            return close_with(Outcome{4, "4.4.1", "connect to " + relay() + ": timed out"});
        if (handshaking_)
            return close_with(Outcome{4, "4.7.5", "TLS handshake with " + relay() + " timed out"});
        if (idle_) return quit();
        client_.connection_lost("conversation timed out");
        return after_client();
    }
    if (connecting_) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &l);
        if (err)
            return close_with(
                Outcome{4, "4.4.1", "connect to " + relay() + ": " + std::strerror(err)});
        connecting_ = false;
        if (target_.implicit_tls) {
            handshaking_ = true;
            return do_handshake();
        }
        return arm();
    }
    if (handshaking_) return do_handshake();
    if (what & EV_WRITE) do_write();
    if (closed_) return;
    if (what & EV_READ) do_read();
    if (!closed_) arm();
}

void Session::do_handshake() {
    if (!ssl_) {
        ssl_.reset(SSL_new(tls_ctx_));
        if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1)
            return close_with(Outcome{4, "4.7.5", "TLS setup failed"});
        SSL_set_tlsext_host_name(ssl_.get(), target_.host.c_str());
        if (target_.verify_tls) {
            SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, nullptr);
            SSL_set1_host(ssl_.get(), target_.host.c_str());
        } else {
            SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, nullptr);
        }
    }
    ERR_clear_error();
    int r = SSL_connect(ssl_.get());
    if (r == 1) {
        handshaking_ = false;
        log_debug("TLS with %s: %s %s", relay().c_str(), SSL_get_version(ssl_.get()),
                  SSL_get_cipher_name(ssl_.get()));
        if (!target_.implicit_tls) client_.tls_done(true);
        return after_client();
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want_write_for_read_ = e == SSL_ERROR_WANT_WRITE;
        return arm();
    }
    std::string why = ssl_error_text();
    handshaking_ = false;
    if (target_.implicit_tls)
        return close_with(Outcome{4, "4.7.5", "TLS handshake with " + relay() + " failed: " + why});
    client_.tls_done(false, why);
    after_client();
}

void Session::do_read() {
    char buf[16384];
    for (int rounds = 0; rounds < 16; ++rounds) {
        ssize_t n;
        if (ssl_) {
            ERR_clear_error();
            int r = SSL_read(ssl_.get(), buf, sizeof(buf));
            if (r <= 0) {
                int e = SSL_get_error(ssl_.get(), r);
                if (e == SSL_ERROR_WANT_READ) return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    want_write_for_read_ = true;
                    return;
                }
                client_.connection_lost(e == SSL_ERROR_ZERO_RETURN ? "lost connection"
                                                                   : "TLS error");
                return after_client();
            }
            n = r;
        } else {
            n = ::read(fd_.get(), buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (n <= 0) {
                client_.connection_lost(n == 0 ? "lost connection" : std::strerror(errno));
                return after_client();
            }
        }
        client_.feed(std::string_view(buf, static_cast<size_t>(n)));
        after_client();
        if (closed_ || handshaking_) return;
        // Level-triggered: the loop calls again when more arrives; only bytes OpenSSL
        // already holds are read now.
        if (!ssl_ || SSL_pending(ssl_.get()) == 0) return;
    }
}

void Session::do_write() {
    want_write_for_read_ = false;
    while (!outbuf_.empty()) {
        ssize_t n;
        if (ssl_) {
            // One record's worth at a time, staged so that a retry after WANT_WRITE passes
            // the same bytes (SSL_write's rule).
            if (tls_stage_.empty()) outbuf_.copy_front(tls_stage_, 16384);
            ERR_clear_error();
            int r = SSL_write(ssl_.get(), tls_stage_.data(), static_cast<int>(tls_stage_.size()));
            if (r <= 0) {
                int e = SSL_get_error(ssl_.get(), r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
                client_.connection_lost("TLS write error");
                return after_client();
            }
            n = r;
            tls_stage_.erase(0, static_cast<size_t>(r));
        } else {
            iovec iov[64];
            msghdr mh{};
            mh.msg_iov = iov;
            mh.msg_iovlen = outbuf_.gather(iov, 64);
            n = ::sendmsg(fd_.get(), &mh, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (n < 0) {
                client_.connection_lost(std::strerror(errno));
                return after_client();
            }
        }
        outbuf_.consume(static_cast<size_t>(n));
    }
}

// Takes what the client wants written and acts on its event.
void Session::after_client() {
    if (closed_) return;
    if (client_.mails() != mails_seen_) {
        mails_seen_ = client_.mails();
        mail_at_ = steady_seconds();
    }
    if (!client_.output().empty()) {
        outbuf_.append(std::move(client_.output()));
        do_write();
        if (closed_) return;
    }
    switch (client_.event()) {
        case SmtpClient::Event::start_tls:
            if (!outbuf_.empty()) break;  // STARTTLS itself was answered: nothing left
            handshaking_ = true;
            do_handshake();
            return;
        case SmtpClient::Event::message_done: {
            // A peer that answered before the body was all sent: what is left must not
            // point into a body its owner frees now.
            outbuf_.own();
            auto results = client_.take_results();
            in_message_ = false;
            delivered_any_ = true;
            idle_ = true;
            on_done_(*this, std::move(results));
            break;
        }
        case SmtpClient::Event::closed: {
            std::vector<Outcome> partial;
            if (in_message_) partial = client_.take_results();
            in_message_ = false;
            closed_ = true;
            if (ev_) event_del(ev_.get());
            ssl_.reset();
            fd_.reset();
            outbuf_.clear();
            on_closed_(*this, client_.session_outcome(), std::move(partial));
            return;
        }
        case SmtpClient::Event::idle:
            idle_ = true;
            break;
        case SmtpClient::Event::none:
            break;
    }
    if (!closed_) arm();
}

void Session::arm() {
    if (closed_ || !ev_) return;
    short what = EV_READ;
    unsigned t = client_.timeout();
    if (connecting_) {
        what = EV_WRITE;
        t = connect_timeout_;
    } else if (handshaking_) {
        what = want_write_for_read_ ? EV_WRITE : EV_READ;
        t = 300;
    } else {
        if (!outbuf_.empty() || !tls_stage_.empty() || want_write_for_read_) {
            what |= EV_WRITE;
            t = kDataBlockTimeout;
        }
        if (t == 0) t = idle_ ? kIdleWatch : 300;
    }
    // A persistent event, changed only when what it waits for changes: re-arming with
    // the same interest only moves the timeout (no epoll_ctl per reply).
    what |= EV_PERSIST;
    if (what != armed_) {
        event_del(ev_.get());
        event_assign(ev_.get(), base_, fd_.get(), what, on_io_cb, this);
        armed_ = what;
    }
    timeval tv{static_cast<time_t>(t), 0};
    event_add(ev_.get(), &tv);
}

void Session::close_with(const Outcome& o) {
    if (closed_) return;
    closed_ = true;
    if (ev_) event_del(ev_.get());
    ssl_.reset();
    fd_.reset();
    outbuf_.clear();
    std::vector<Outcome> partial;
    if (in_message_) {
        partial = client_.take_results();
        for (auto& r : partial)
            if (r.dsn.empty()) r = o;
    }
    in_message_ = false;
    on_closed_(*this, o, std::move(partial));
}

}  // namespace tegami::remote
