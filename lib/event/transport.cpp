// transport.cpp - see transport.hpp.
#include "lib/event/transport.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace tegami {

std::string Transport::reason(const IoResult& r) const {
    if (r.state == IoState::closed) return "connection closed by peer";
    return r.err ? std::strerror(r.err) : "I/O error";
}

IoResult PlainTransport::read(char* buf, size_t len) {
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, len, 0);
        if (n > 0) return {IoState::done, static_cast<size_t>(n), 0};
        if (n == 0) return {IoState::closed, 0, 0};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoState::need_read, 0, 0};
        return {IoState::error, 0, errno};
    }
}

IoResult PlainTransport::write(const char* buf, size_t len) {
    for (;;) {
        ssize_t n = ::send(fd_.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) return {IoState::done, static_cast<size_t>(n), 0};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoState::need_write, 0, 0};
        return {IoState::error, 0, errno};
    }
}

}  // namespace tegami
