// transport.hpp - a TLS transport (OpenSSL 3) over a nonblocking socket, server side:
// the handshake, reads and writes answer with IoState (lib/event/transport.hpp), so the
// handshake runs inside the event loop and never blocks another session. Used by smtpd's
// Connection for STARTTLS (wrapping the plain transport's socket) and for smtps.
//
// Invariants: OpenSSL's want-read/want-write become need_read/need_write; a close_notify
// or a bare EOF is `closed`; every other failure is `error` with OpenSSL's reason kept
// for the log; SSL_MODE_RELEASE_BUFFERS (set on the context) frees the record buffers
// whenever nothing is pending.
#pragma once

#include <memory>
#include <string>

#include "lib/core/c_ptr.hpp"
#include "lib/event/transport.hpp"
#include "lib/tls/context.hpp"

namespace tegami::tls {

class TlsTransport final : public Transport {
  public:
    // Null when OpenSSL cannot make the session (out of memory): the caller closes.
    static std::unique_ptr<TlsTransport> accept(std::shared_ptr<Context> ctx, UniqueFd fd);
    ~TlsTransport() override;

    int fd() const override { return fd_.get(); }
    IoResult handshake() override;
    IoResult read(char* buf, size_t len) override;
    IoResult write(const char* buf, size_t len) override;
    bool has_pending_input() const override;
    std::string reason(const IoResult& r) const override;
    UniqueFd take_fd() override { return std::move(fd_); }
    std::string security() const override;
    std::string channel_binding() const override;

  private:
    TlsTransport() = default;
    IoResult result(int ret, size_t bytes);

    std::shared_ptr<Context> ctx_;  // keeps the ticket keys alive for this session
    UniqueFd fd_;
    SslPtr ssl_;
    std::string error_;
    bool established_ = false;
};

}  // namespace tegami::tls
