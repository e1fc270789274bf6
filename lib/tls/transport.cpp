// transport.cpp - see transport.hpp.
#include "lib/tls/transport.hpp"

#include <openssl/err.h>

#include <cerrno>
#include <cstring>

namespace tegami::tls {

std::unique_ptr<TlsTransport> TlsTransport::accept(std::shared_ptr<Context> ctx, UniqueFd fd) {
    std::unique_ptr<TlsTransport> t(new TlsTransport);
    t->ssl_.reset(SSL_new(ctx->get()));
    if (!t->ssl_ || SSL_set_fd(t->ssl_.get(), fd.get()) != 1) return nullptr;
    SSL_set_accept_state(t->ssl_.get());
    t->ctx_ = std::move(ctx);
    t->fd_ = std::move(fd);
    return t;
}

TlsTransport::~TlsTransport() {
    // One nonblocking close_notify; the peer may be gone already (no SIGPIPE: smtpd
    // ignores it).
    if (ssl_ && established_ && fd_.valid()) {
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
}

IoResult TlsTransport::result(int ret, size_t bytes) {
    if (ret == 1) return {IoState::done, bytes, 0};
    int e = SSL_get_error(ssl_.get(), ret);
    switch (e) {
        case SSL_ERROR_WANT_READ:
            return {IoState::need_read, 0, 0};
        case SSL_ERROR_WANT_WRITE:
            return {IoState::need_write, 0, 0};
        case SSL_ERROR_ZERO_RETURN:
            return {IoState::closed, 0, 0};
        case SSL_ERROR_SYSCALL: {
            int err = errno;
            error_ = openssl_error(err ? std::strerror(err) : "connection closed by peer");
            if (!err) return {IoState::closed, 0, 0};
            return {IoState::error, 0, err};
        }
        default:
            error_ = openssl_error("TLS error");
            return {IoState::error, 0, EPROTO};
    }
}

IoResult TlsTransport::handshake() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    IoResult out = result(r, 0);
    if (out.state == IoState::done) established_ = true;
    if (out.state == IoState::closed) {
        // EOF in the middle of a handshake is a failed handshake.
        if (error_.empty()) error_ = "connection closed during the TLS handshake";
        out.state = IoState::error;
    }
    return out;
}

IoResult TlsTransport::read(char* buf, size_t len) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), buf, len, &n);
    return result(r, n);
}

IoResult TlsTransport::write(const char* buf, size_t len) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_write_ex(ssl_.get(), buf, len, &n);
    return result(r, n);
}

bool TlsTransport::has_pending_input() const {
    // SSL_has_pending: decrypted bytes and records read ahead but not yet processed.
    return SSL_has_pending(ssl_.get()) == 1;
}

std::string TlsTransport::reason(const IoResult& r) const {
    if (!error_.empty()) return error_;
    return Transport::reason(r);
}

std::string TlsTransport::channel_binding() const {
    if (!established_ || SSL_version(ssl_.get()) != TLS1_3_VERSION) return {};
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    unsigned char out[32];
    if (SSL_export_keying_material(ssl_.get(), out, sizeof out, kLabel, sizeof kLabel - 1, nullptr,
                                   0, 0) != 1)
        return {};
    return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::string TlsTransport::security() const {
    if (!established_) return {};
    return std::string(SSL_get_version(ssl_.get())) + " " + SSL_get_cipher_name(ssl_.get());
}

}  // namespace tegami::tls
