// transport.hpp - the byte pipe under one connection: plain TCP here, TLS in
// lib/tls/transport.hpp. Every call is nonblocking and answers with an IoState, which
// tells the caller what to wait for before calling again (dnsdist's tcpiohandler):
//   done        bytes moved (read: bytes > 0; write: bytes may be short)
//   need_read   wait until the socket is readable, then call the same operation again
//   need_write  wait until the socket is writable, then call again (TLS may ask a read
//               to wait for writability and the reverse)
//   closed      the peer ended the stream (EOF, or a TLS close_notify)
//   error       the stream is unusable; err and reason() say why
// Called by lib/event/stream.cpp only. Never throws; never blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "lib/core/unique_fd.hpp"

namespace tegami {

enum class IoState : uint8_t { done, need_read, need_write, closed, error };

struct IoResult {
    IoState state = IoState::done;
    size_t bytes = 0;
    int err = 0;  // errno for plain sockets
};

class Transport {
  public:
    virtual ~Transport() = default;
    virtual int fd() const = 0;
    // Completes the transport's own set-up (the TLS handshake); plain: done at once.
    virtual IoResult handshake() { return {}; }
    virtual IoResult read(char* buf, size_t len) = 0;
    virtual IoResult write(const char* buf, size_t len) = 0;
    // Input already decrypted and held inside the transport (epoll cannot see it).
    virtual bool has_pending_input() const { return false; }
    // Why the last error or handshake failure happened, for the log.
    virtual std::string reason(const IoResult& r) const;
    // Gives up the socket (for STARTTLS, which wraps it in a TLS transport).
    virtual UniqueFd take_fd() = 0;
    // "TLSv1.3 TLS_AES_256_GCM_SHA384" once secured; empty for plain.
    virtual std::string security() const { return {}; }
    // RFC 9266 tls-exporter channel binding (32 bytes), or "" when there is none (no
    // TLS, or TLS older than 1.3, where the exporter is not safe without extended master
    // secret and RFC 9266 does not define it).
    virtual std::string channel_binding() const { return {}; }
    // The session is idle: give back whatever memory the transport can.
    virtual void idle() {}
};

// recv/send on a nonblocking stream socket (MSG_NOSIGNAL: a vanished peer is an
// error result, never SIGPIPE).
class PlainTransport final : public Transport {
  public:
    explicit PlainTransport(UniqueFd fd) : fd_(std::move(fd)) {}
    int fd() const override { return fd_.get(); }
    IoResult read(char* buf, size_t len) override;
    IoResult write(const char* buf, size_t len) override;
    UniqueFd take_fd() override { return std::move(fd_); }

  private:
    UniqueFd fd_;
};

}  // namespace tegami
