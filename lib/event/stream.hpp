// stream.hpp - buffered nonblocking I/O for one connection over a Transport, with one
// libevent event re-armed for what the transport asked for, and the idle timeouts.
// Used by smtpd's Connection (smtpd/server/connection.cpp) for every session, plain
// or TLS, so STARTTLS swaps the transport under a live session and every other line
// is shared.
//
// The owner (StreamOwner) is told of input, timeouts and readiness; it trusts nothing
// it is fed. Invariants:
//  - the input buffer (kInputCapacity) exists only while it holds unconsumed bytes,
//    the output buffer only while a reply waits for the socket: an idle connection
//    holds neither (memory is the object itself, well under 1 KiB);
//  - a reply is written straight to the transport when nothing is queued before it,
//    except while input is being fed: the replies to one batch of (pipelined) input are
//    gathered and written together when the feed ends; only what the socket does not
//    take stays in the output buffer;
//  - one read per readiness (a short read means the socket is drained; no FIONREAD);
//  - while more than kOutputHighWater bytes wait to be sent, no input is read or fed:
//    a client that does not read its replies holds at most its buffers until the
//    write timeout ends the connection;
//  - paused: input stays buffered (at most kInputCapacity) and is not fed;
//  - EOF from the peer (it closed its sending side, perhaps only that: shutdown(SHUT_WR))
//    stops reading, but what it sent before is still fed and answered: while the owner
//    waits (paused) the stream lives on, and it ends (peer_closed) only once the owner
//    is not paused and every reply is written;
//  - after an error, that EOF or a write timeout the stream is dead (dead() is true and
//    end() says why); nothing more is read or written.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lib/core/c_ptr.hpp"
#include "lib/event/transport.hpp"

namespace tegami {

class StreamOwner {
  public:
    virtual ~StreamOwner() = default;
    // The libevent callback: the owner calls Stream::handle(what) inside its own
    // exception guard (and reaps itself afterwards).
    virtual void stream_ready(short what) noexcept = 0;
    // Client bytes; returns how many were used (the rest is offered again later).
    virtual size_t stream_input(std::string_view in) = 0;
    // No input for the read timeout (with nothing waiting to be sent).
    virtual void stream_timeout() = 0;
    // The new transport's handshake completed (after swap_transport).
    virtual void stream_secured() {}
    // The owner holds part of a line it was given and waits for the rest (the stream's
    // partial-line deadline covers it as it covers input left unused).
    virtual bool stream_partial() const { return false; }
};

enum class StreamEnd : uint8_t { open, peer_closed, error, write_timeout, handshake_failed };

class Stream {
  public:
    static constexpr size_t kInputCapacity = 16 * 1024;
    static constexpr size_t kOutputHighWater = 16 * 1024;

    // base may be null (scripted tests): then no event is registered and handle() is
    // called by hand; interest() still says what would be armed.
    Stream(event_base* base, std::unique_ptr<Transport> t, StreamOwner& owner);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    // Seconds (0: none). Read applies while waiting for input, write while output waits.
    // Read also bounds a partial line: input the owner left unused (a command or body
    // line not yet complete) must be completed within the read timeout of its first
    // byte, however slowly bytes keep coming (a client sending a byte a second).
    void set_timeouts(uint64_t read_seconds, uint64_t write_seconds);
    void set_handshake_timeout(uint64_t seconds) { handshake_timeout_ = seconds; }
    void write(std::string_view bytes);
    void pause(bool on);  // stop feeding input (the owner is waiting for something)
    void stop_reading();  // closing: read and feed nothing more
    // Feeds buffered input (after pause(false)); called outside handle() by the owner.
    void resume();
    // Drops buffered input and wraps the socket in a new transport whose handshake
    // runs next (STARTTLS). Output must be empty (the 220 reply was flushed).
    template <typename Make>
    bool swap_transport(Make&& make) {
        if (!output_empty() || dead()) return false;
        discard_input();
        transport_ = make(transport_->take_fd());
        if (!transport_) {
            end_ = StreamEnd::handshake_failed;
            return false;
        }
        handshaking_ = true;
        arm();
        return true;
    }

    // The transport's handshake runs before any I/O (implicit TLS, at connect).
    void start_handshake() {
        handshaking_ = true;
        arm();
    }

    // The event fired (or a test says it did): do the I/O, feed the owner, re-arm.
    void handle(short what);

    bool dead() const { return end_ != StreamEnd::open; }
    StreamEnd end() const { return end_; }
    const std::string& end_reason() const { return reason_; }
    bool output_empty() const { return out_.size() == out_off_; }
    bool handshaking() const { return handshaking_; }
    size_t buffered_input() const { return in_len_ - in_off_; }
    int fd() const { return transport_ ? transport_->fd() : -1; }
    short interest() const { return armed_; }  // EV_READ/EV_WRITE now armed
    bool holds_buffers() const {
        return in_ != nullptr || out_.capacity() > std::string().capacity();
    }
    Transport& transport() { return *transport_; }

  private:
    bool partial_line_expired();
    static void event_cb(evutil_socket_t, short what, void* arg) noexcept;
    void arm();
    void step_handshake();
    void flush();
    void read_some();
    void feed();
    void fail(StreamEnd why, const IoResult& r);
    void end_after_eof();
    void discard_input();

    event_base* base_;
    std::unique_ptr<Transport> transport_;
    StreamOwner& owner_;
    EventPtr ev_;
    std::unique_ptr<char[]> in_;
    size_t in_off_ = 0, in_len_ = 0;
    std::string out_;
    size_t out_off_ = 0;
    uint64_t read_timeout_ = 0, write_timeout_ = 0, handshake_timeout_ = 0;
    short armed_ = 0;            // the mask the event is registered with
    uint64_t armed_secs_ = 0;    // and its timeout
    bool armed_timer_ = false;   // armed as a timer alone (after EOF, nothing to do but wait)
    short read_wait_ = EV_READ;  // what the last read asked to wait for
    short write_wait_ = EV_WRITE;
    short handshake_wait_ = EV_READ;
    int64_t partial_since_ms_ = 0;  // monotonic ms when unused input began waiting (0: none)
    bool paused_ = false;
    bool reading_ = true;
    bool handshaking_ = false;
    bool feeding_ = false;
    bool eof_ = false;  // the peer sent its EOF: nothing more to read
    StreamEnd end_ = StreamEnd::open;
    std::string reason_;
};

}  // namespace tegami
