// stream.cpp - see stream.hpp.
#include "lib/event/stream.hpp"

#include <cstring>
#include <ctime>

#include "lib/core/log.hpp"

namespace tegami {

namespace {
constexpr int kMaxPendingReads = 8;  // TLS records already decrypted, drained per wake-up

int64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

// The partial-line deadline (stream.hpp set_timeouts): true when input the owner left
// unused has waited longer than the read timeout. Pipelined input held while the owner
// is paused does not count (it is waiting for the owner, not for the client).
bool Stream::partial_line_expired() {
    bool partial = ((in_ && in_off_ < in_len_) || owner_.stream_partial()) && !paused_ &&
                   reading_ && !handshaking_;
    if (!partial || read_timeout_ == 0) {
        partial_since_ms_ = 0;
        return false;
    }
    int64_t now = monotonic_ms();
    if (partial_since_ms_ == 0) {
        partial_since_ms_ = now;
        return false;
    }
    return now - partial_since_ms_ >= static_cast<int64_t>(read_timeout_) * 1000;
}

Stream::Stream(event_base* base, std::unique_ptr<Transport> t, StreamOwner& owner)
    : base_(base), transport_(std::move(t)), owner_(owner) {
    if (base_) ev_.reset(event_new(base_, transport_->fd(), EV_READ | EV_PERSIST, &event_cb, this));
}

Stream::~Stream() = default;

void Stream::event_cb(evutil_socket_t, short what, void* arg) noexcept {
    auto* s = static_cast<Stream*>(arg);
    s->owner_.stream_ready(what);
}

void Stream::set_timeouts(uint64_t read_seconds, uint64_t write_seconds) {
    read_timeout_ = read_seconds;
    write_timeout_ = write_seconds;
    arm();
}

// Registers the event for what the transport and the buffers need now. Changes the
// registration only when the mask or the timeout changed: the usual request/reply turn
// keeps EV_READ armed and costs no epoll_ctl.
void Stream::arm() {
    // While input is fed, what the owner does (replies, pause, stop_reading) is armed once
    // afterwards: every feed() runs inside handle() or resume(), which arm when it returns.
    if (feeding_) return;
    short want = 0;
    uint64_t secs = 0;
    if (!dead()) {
        if (handshaking_) {
            want = handshake_wait_;
            secs = handshake_timeout_ ? handshake_timeout_ : read_timeout_;
        } else {
            bool out_waiting = !output_empty();
            if (out_waiting) want |= write_wait_;
            bool room = in_len_ - in_off_ < kInputCapacity;
            bool backlog = out_.size() - out_off_ > kOutputHighWater;
            if (reading_ && !eof_ && room && !backlog) want |= read_wait_;
            secs = out_waiting ? write_timeout_ : read_timeout_;
        }
    }
    // After the peer's EOF nothing is read, but an owner that waits is still bounded by the
    // read timeout, as it is while input is read: the event becomes a timer alone.
    bool timer = want == 0 && eof_ && !dead() && read_timeout_ != 0;
    if (want == armed_ && secs == armed_secs_ && timer == armed_timer_) return;
    if (ev_) {
        bool changed = want != armed_ || timer != armed_timer_;
        if (changed && (armed_ || armed_timer_)) event_del(ev_.get());
        if (want || timer) {
            if (changed)
                event_assign(ev_.get(), base_, transport_->fd(), want | EV_PERSIST, &event_cb,
                             this);
            timeval tv{static_cast<time_t>(secs), 0};
            event_add(ev_.get(), secs ? &tv : nullptr);
        }
    }
    armed_ = want;
    armed_secs_ = secs;
    armed_timer_ = timer;
}

void Stream::fail(StreamEnd why, const IoResult& r) {
    if (dead()) return;
    end_ = why;
    reason_ = why == StreamEnd::write_timeout ? "timeout writing to client" : transport_->reason(r);
    in_.reset();
    in_off_ = in_len_ = 0;
    std::string().swap(out_);
    out_off_ = 0;
    arm();
}

// After the peer's EOF: the stream ends once the owner took what it could of the input
// (it is not paused, waiting to be resumed) and the last reply is written.
void Stream::end_after_eof() {
    if (!eof_ || dead() || paused_ || feeding_ || !output_empty()) return;
    fail(StreamEnd::peer_closed, IoResult{IoState::closed, 0, 0});
}

void Stream::handle(short what) {
    if (dead()) return;
    if (what & EV_TIMEOUT) {
        if (handshaking_) {
            IoResult r{IoState::error, 0, ETIMEDOUT};
            fail(StreamEnd::handshake_failed, r);
        } else if (!output_empty()) {
            fail(StreamEnd::write_timeout, IoResult{IoState::error, 0, ETIMEDOUT});
        } else {
            owner_.stream_timeout();
        }
        arm();
        return;
    }
    bool secured_now = false;
    if (handshaking_) {
        step_handshake();
        if (handshaking_ || dead()) {
            arm();
            return;
        }
        secured_now = true;
    }
    if (!output_empty() && (secured_now || (what & write_wait_))) flush();
    if (!dead() && (secured_now || (what & read_wait_))) read_some();
    if (!dead()) feed();
    if (!dead() && output_empty() && partial_line_expired()) {
        partial_since_ms_ = 0;
        owner_.stream_timeout();
    }
    end_after_eof();
    arm();
}

void Stream::step_handshake() {
    IoResult r = transport_->handshake();
    switch (r.state) {
        case IoState::done:
            handshaking_ = false;
            read_wait_ = EV_READ;
            write_wait_ = EV_WRITE;
            owner_.stream_secured();
            // The client's first command may have come with its Finished (read ahead).
            if (!dead() && reading_ && !paused_ && transport_->has_pending_input()) read_some();
            return;
        case IoState::need_read:
            handshake_wait_ = EV_READ;
            return;
        case IoState::need_write:
            handshake_wait_ = EV_WRITE;
            return;
        case IoState::closed:
        case IoState::error:
            fail(StreamEnd::handshake_failed, r);
            return;
    }
}

void Stream::write(std::string_view bytes) {
    if (dead() || bytes.empty()) return;
    // While input is being fed, replies are gathered and written once the feed ends: a
    // pipelined group of commands gets its replies in one write (and one segment, so
    // Nagle's algorithm never holds the second reply back for the client's delayed ACK).
    if (output_empty() && !handshaking_ && !feeding_) {
        log_flush();  // what was logged before a reply is in the log before the peer sees it
        IoResult r = transport_->write(bytes.data(), bytes.size());
        switch (r.state) {
            case IoState::done:
                bytes.remove_prefix(r.bytes);
                break;
            case IoState::need_read:
                write_wait_ = EV_READ;
                break;
            case IoState::need_write:
                write_wait_ = EV_WRITE;
                break;
            case IoState::closed:
            case IoState::error:
                fail(StreamEnd::error, r);
                return;
        }
    }
    if (!bytes.empty()) {
        if (output_empty()) {
            out_.clear();
            out_off_ = 0;
        }
        out_.append(bytes);
    }
    arm();
}

void Stream::flush() {
    if (!output_empty()) log_flush();  // as in write()
    while (!output_empty()) {
        IoResult r = transport_->write(out_.data() + out_off_, out_.size() - out_off_);
        if (r.state == IoState::done) {
            if (r.bytes == 0) break;
            out_off_ += r.bytes;
            write_wait_ = EV_WRITE;
            continue;
        }
        if (r.state == IoState::need_read || r.state == IoState::need_write) {
            write_wait_ = r.state == IoState::need_read ? EV_READ : EV_WRITE;
            return;
        }
        fail(StreamEnd::error, r);
        return;
    }
    std::string().swap(out_);  // the socket took everything: give the buffer back
    out_off_ = 0;
}

void Stream::read_some() {
    for (int i = 0; i < kMaxPendingReads; ++i) {
        if (!reading_ || eof_ || out_.size() - out_off_ > kOutputHighWater) return;
        if (!in_) {
            in_.reset(new char[kInputCapacity]);
            in_off_ = in_len_ = 0;
        }
        if (in_off_ == in_len_) {
            in_off_ = in_len_ = 0;
        } else if (in_len_ == kInputCapacity && in_off_ > 0) {
            std::memmove(in_.get(), in_.get() + in_off_, in_len_ - in_off_);
            in_len_ -= in_off_;
            in_off_ = 0;
        }
        if (in_len_ == kInputCapacity) return;  // full: the owner must use some first
        size_t room = kInputCapacity - in_len_;
        IoResult r = transport_->read(in_.get() + in_len_, room);
        switch (r.state) {
            case IoState::done:
                in_len_ += r.bytes;
                read_wait_ = EV_READ;
                break;
            case IoState::need_read:
            case IoState::need_write:
                read_wait_ = r.state == IoState::need_read ? EV_READ : EV_WRITE;
                if (in_off_ == in_len_) in_.reset();
                return;
            case IoState::closed:
                // What came before the EOF is still answered, even once the owner stops
                // waiting (the end of data the queue answers later): end_after_eof().
                eof_ = true;
                feed();
                end_after_eof();
                return;
            case IoState::error:
                feed();  // what came before the error is still answered
                fail(StreamEnd::error, r);
                return;
        }
        feed();
        // A read that filled the buffer likely left more behind (a body arriving): read
        // on now rather than after another wait for readiness.
        if (dead() || (!transport_->has_pending_input() && r.bytes < room)) break;
    }
    if (in_ && in_off_ == in_len_) in_.reset();
}

void Stream::feed() {
    if (feeding_ || paused_ || !in_) return;
    feeding_ = true;
    while (in_off_ < in_len_ && !paused_ && reading_ && !dead() &&
           out_.size() - out_off_ <= kOutputHighWater) {
        size_t used = owner_.stream_input({in_.get() + in_off_, in_len_ - in_off_});
        if (!in_) break;  // the owner stopped reading, or the stream failed
        in_off_ += used;
        if (used == 0 || dead()) break;
    }
    feeding_ = false;
    if (!output_empty() && !dead() && !handshaking_) flush();  // the replies gathered above
    if (in_ && in_off_ == in_len_) {
        in_.reset();
        in_off_ = in_len_ = 0;
    }
}

void Stream::pause(bool on) {
    paused_ = on;
    arm();
}

void Stream::resume() {
    paused_ = false;
    feed();
    // Records the TLS layer decrypted while the owner waited are invisible to epoll.
    if (!dead() && reading_ && !eof_ && transport_->has_pending_input() && !handshaking_)
        read_some();
    end_after_eof();
    arm();
}

void Stream::stop_reading() {
    reading_ = false;
    discard_input();
    arm();
}

void Stream::discard_input() {
    in_.reset();
    in_off_ = in_len_ = 0;
}

}  // namespace tegami
