// channel.hpp - a framed, nonblocking Unix-socket channel on a libevent loop.
// Reads whole frames (header, payload, SCM_RIGHTS descriptors) and hands each to the
// frame handler; queues outgoing frames and writes them as the socket allows.
// A malformed frame (bad magic/version, oversize, unknown fd count) or a peer hang-up
// closes the channel and calls the close handler once; the owner decides what follows
// (reconnect, restart the peer). Handlers run inside libevent callbacks and must not
// throw; the trampolines catch and close.
#pragma once

#include <event2/event.h>

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/ipc/wire.hpp"

namespace tegami::ipc {

class Channel {
  public:
    using FrameHandler =
        std::function<void(MsgType, std::string_view payload, std::vector<UniqueFd>& fds)>;
    using CloseHandler = std::function<void(const std::string& why)>;

    Channel(event_base* base, UniqueFd fd, FrameHandler on_frame, CloseHandler on_close);
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;
    ~Channel();

    // Queues a frame (from encode()); fds are borrowed and sent with the frame's first byte.
    void send(std::string frame, const std::vector<int>& fds = {});
    bool open() const { return fd_.valid(); }
    size_t queued_bytes() const { return out_bytes_; }
    int fd() const { return fd_.get(); }
    // Closes without calling the close handler.
    void close();

  private:
    static void on_read_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_write_cb(evutil_socket_t, short, void* arg) noexcept;
    void handle_read();
    void handle_write();
    void fail(const std::string& why);

    struct Out {
        std::string data;
        std::vector<UniqueFd> fds;  // dup'ed at send() so the caller may close its copies
        size_t off = 0;
    };

    event_base* base_;
    UniqueFd fd_;
    FrameHandler on_frame_;
    CloseHandler on_close_;
    EventPtr rev_;
    EventPtr wev_;
    std::string in_;
    std::vector<UniqueFd> in_fds_;
    std::deque<Out> out_;
    size_t out_bytes_ = 0;
    bool* alive_ = nullptr;  // set while a handler runs, to notice deletion inside it
};

// Blocking helpers for start-up handshakes and simple clients (sendmail, tests).
Result<void> send_frame_blocking(int fd, const std::string& frame,
                                 const std::vector<int>& fds = {});
// Reads one frame; returns its type and payload, and any descriptors it carried.
struct ReceivedFrame {
    MsgType type{};
    std::string payload;
    std::vector<UniqueFd> fds;
};
Result<ReceivedFrame> recv_frame_blocking(int fd);

}  // namespace tegami::ipc
