// channel.cpp - see channel.hpp. Called by every daemon for every internal socket.
// Trusts nothing the peer sends: header checked before any allocation, descriptors
// beyond the announced count closed, unknown frame types passed up for the owner to
// refuse (closing the channel).
#include "lib/ipc/channel.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "lib/core/log.hpp"
#include "lib/ipc/fds.hpp"
#include "lib/ipc/frame.hpp"

namespace tegami::ipc {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

Channel::Channel(event_base* base, UniqueFd fd, FrameHandler on_frame, CloseHandler on_close)
    : base_(base),
      fd_(std::move(fd)),
      on_frame_(std::move(on_frame)),
      on_close_(std::move(on_close)) {
    evutil_make_socket_nonblocking(fd_.get());
    rev_.reset(event_new(base_, fd_.get(), EV_READ | EV_PERSIST, &Channel::on_read_cb, this));
    wev_.reset(event_new(base_, fd_.get(), EV_WRITE | EV_PERSIST, &Channel::on_write_cb, this));
    event_add(rev_.get(), nullptr);
}

Channel::~Channel() {
    if (alive_) *alive_ = false;
    close();
}

void Channel::close() {
    rev_.reset();
    wev_.reset();
    fd_.reset();
    out_.clear();
    out_bytes_ = 0;
}

void Channel::send(std::string frame, const std::vector<int>& fds) {
    if (!fd_.valid()) return;
    Out o;
    o.data = std::move(frame);
    for (int f : fds)
        o.fds.emplace_back(::dup(f));
    out_bytes_ += o.data.size();
    out_.push_back(std::move(o));
    if (out_.size() == 1) handle_write();
}

void Channel::on_read_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<Channel*>(arg)->handle_read();
    } catch (const std::exception& e) {
        log_error("channel: %s", e.what());
        static_cast<Channel*>(arg)->fail(e.what());
    } catch (...) {
        static_cast<Channel*>(arg)->fail("unknown exception");
    }
}

void Channel::on_write_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<Channel*>(arg)->handle_write();
    } catch (...) {
        static_cast<Channel*>(arg)->fail("exception in write");
    }
}

void Channel::fail(const std::string& why) {
    if (!fd_.valid()) return;
    close();
    if (on_close_) on_close_(why);  // may delete this
}

void Channel::handle_write() {
    while (!out_.empty() && fd_.valid()) {
        Out& o = out_.front();
        std::vector<int> raw;
        if (o.off == 0)
            for (auto& f : o.fds)
                raw.push_back(f.get());
        ssize_t n = send_with_fds(fd_.get(), o.data.data() + o.off, o.data.size() - o.off, raw,
                                  MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                event_add(wev_.get(), nullptr);
                return;
            }
            fail(std::string("write: ") + std::strerror(errno));
            return;
        }
        if (o.off == 0) o.fds.clear();
        o.off += static_cast<size_t>(n);
        out_bytes_ -= static_cast<size_t>(n);
        if (o.off == o.data.size()) out_.pop_front();
    }
    if (wev_) event_del(wev_.get());
}

void Channel::handle_read() {
    size_t old = in_.size();
    in_.resize(old + kReadChunk);
    iovec iov{in_.data() + old, kReadChunk};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) {
        in_.resize(old);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        fail(n == 0 ? "peer closed" : std::string("read: ") + std::strerror(errno));
        return;
    }
    in_.resize(old + static_cast<size_t>(n));
    collect_fds(msg, in_fds_);
    if (msg.msg_flags & MSG_CTRUNC) {
        fail("descriptors truncated");
        return;
    }

    bool alive = true;
    alive_ = &alive;
    size_t pos = 0;
    while (in_.size() - pos >= sizeof(FrameHeader)) {
        FrameHeader h;
        std::memcpy(&h, in_.data() + pos, sizeof h);
        if (!header_valid(h)) {
            alive_ = nullptr;
            fail("malformed frame header");
            return;
        }
        if (in_.size() - pos - sizeof h < h.length) break;
        if (in_fds_.size() < h.nfds) {
            alive_ = nullptr;
            fail("frame descriptors missing");
            return;
        }
        std::vector<UniqueFd> fds;
        for (uint32_t i = 0; i < h.nfds; ++i)
            fds.push_back(std::move(in_fds_[i]));
        in_fds_.erase(in_fds_.begin(), in_fds_.begin() + h.nfds);
        std::string_view payload(in_.data() + pos + sizeof h, h.length);
        pos += sizeof h + h.length;
        on_frame_(static_cast<MsgType>(h.type), payload, fds);
        if (!alive || !fd_.valid()) {
            if (alive) alive_ = nullptr;
            return;
        }
    }
    alive_ = nullptr;
    in_.erase(0, pos);
    if (in_.empty()) {
        in_.shrink_to_fit();
        if (!in_fds_.empty()) fail("descriptors without a frame");
    }
}

Result<void> send_frame_blocking(int fd, const std::string& frame, const std::vector<int>& fds) {
    size_t off = 0;
    bool first = true;
    while (off < frame.size()) {
        ssize_t n = send_with_fds(fd, frame.data() + off, frame.size() - off,
                                  first ? fds : std::vector<int>{}, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("send", errno);
        }
        first = false;
        off += static_cast<size_t>(n);
    }
    return {};
}

Result<ReceivedFrame> recv_frame_blocking(int fd) {
    ReceivedFrame f;
    FrameHeader h;
    size_t got = 0;
    auto read_some = [&](char* at, size_t len) -> ssize_t {
        iovec iov{at, len};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        ssize_t n;
        do
            n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n > 0) collect_fds(msg, f.fds);
        return n;
    };
    while (got < sizeof h) {
        ssize_t n = read_some(reinterpret_cast<char*>(&h) + got, sizeof h - got);
        if (n < 0) return sys_error("recv", errno);
        if (n == 0) return make_error(Exit::protocol, "peer closed");
        got += static_cast<size_t>(n);
    }
    if (!header_valid(h)) return make_error(Exit::protocol, "malformed frame header");
    f.type = static_cast<MsgType>(h.type);
    f.payload.resize(h.length);
    got = 0;
    while (got < h.length) {
        ssize_t n = read_some(f.payload.data() + got, h.length - got);
        if (n < 0) return sys_error("recv", errno);
        if (n == 0) return make_error(Exit::protocol, "peer closed mid-frame");
        got += static_cast<size_t>(n);
    }
    if (f.fds.size() != h.nfds) return make_error(Exit::protocol, "descriptor count mismatch");
    return f;
}

}  // namespace tegami::ipc
