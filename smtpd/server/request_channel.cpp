// request_channel.cpp - see request_channel.hpp.
#include "smtpd/server/request_channel.hpp"

#include <algorithm>

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"

namespace tegami::smtpd {

RequestChannel::RequestChannel(event_base* base, ConfigSource config, Peer peer,
                               FrameHandler on_frame, CloseHandler on_close, FailHandler on_fail)
    : base_(base),
      config_(std::move(config)),
      peer_(peer),
      on_frame_(std::move(on_frame)),
      on_close_(std::move(on_close)),
      on_fail_(std::move(on_fail)) {
    fail_ev_.reset(evtimer_new(base_, &RequestChannel::fail_cb, this));
}

RequestChannel::~RequestChannel() = default;

bool RequestChannel::ensure() {
    if (open()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return false;
    std::string path = peer_.socket_path(*config_());
    auto fd = connect_unix(path);
    if (fd && (peer_uid(fd->get()) < 0 || peer_uid(fd->get()) != daemon_uid(peer_.daemon))) {
        log_error("%s socket %s: peer is not %s's uid; refusing it", peer_.daemon, path.c_str(),
                  peer_.daemon);
        fd = make_error(Exit::no_perm, "wrong peer");
    }
    if (!fd) {
        log_warning("cannot reach %s: %s (retry in %lld ms)", peer_.title,
                    fd.error().message.c_str(), static_cast<long long>(backoff_.count()));
        next_try_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, kBackoffMax);
        return false;
    }
    ++generation_;
    channel_ = std::make_unique<ipc::Channel>(
        base_, std::move(fd.value()),
        [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
            if (!fds.empty() && !peer_.sends_fds) {
                close(std::string("descriptors from ") + peer_.daemon);
                return;
            }
            on_frame_(t, p, fds);
        },
        [this](const std::string& why) { close(why); });
    return true;
}

void RequestChannel::close(const std::string& why) {
    if (!channel_) return;
    if (channel_->open()) channel_->close();
    closed_ = std::move(channel_);
    size_t failed = on_close_();
    log_warning("%s channel closed: %s (%zu pending)", peer_.daemon, why.c_str(), failed);
    fail_soon();
}

void RequestChannel::fail_soon() {
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void RequestChannel::fail_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<RequestChannel*>(arg);
    try {
        self->closed_.reset();
        self->on_fail_();
    } catch (const std::exception& e) {
        log_error("%s client: %s", self->peer_.daemon, e.what());
    } catch (...) {
        log_error("%s client: unknown exception", self->peer_.daemon);
    }
}

}  // namespace tegami::smtpd
