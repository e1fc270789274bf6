// queue_client.hpp - smtpd's one channel to the queue daemon, shared by every session.
// Sends ipc::SubmitMsg frames and routes each SubmitResultMsg to the waiter that sent
// the request (matched by request_id). Called by connections at the end of data.
//
// The channel, its reconnects and the table of waiting requests are request_channel.hpp's.
// Trusts the peer only when SO_PEERCRED names the queue's account; a malformed or
// unexpected frame closes the channel. Invariants:
//  - a waiter is never called from inside submit(): failures are answered from a
//    zero-delay timer, so a session never re-enters itself;
//  - when the channel is down or closes with requests pending, each gets status 4,
//    "4.3.0 Queue unavailable, try again later"; the next submit reconnects, no
//    sooner than the backoff (100 ms doubling to 5 s) allows;
//  - a waiter that goes away calls cancel(); its answer, if one comes, is dropped
//    (the message may still be queued: that is fine, the client saw no 250).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/ipc/messages.hpp"
#include "smtpd/server/request_channel.hpp"

namespace tegami::smtpd {

class SubmitWaiter {
  public:
    virtual ~SubmitWaiter() = default;
    // status: ipc::kStatusOk/Temp/Perm; text "4.3.0 words" (may be empty for 2).
    // May destroy the waiter.
    virtual void submit_result(uint32_t status, std::string_view text) noexcept = 0;
    // The answer to a streamed body chunk (status 2, or 4 when the body cannot be
    // queued: then no later chunk of it is answered ok). May destroy the waiter.
    virtual void chunk_result(uint32_t /*status*/, std::string_view /*text*/) noexcept {}
};

class QueueClient {
  public:
    using ConfigSource = std::function<std::shared_ptr<const Config>()>;
    QueueClient(event_base* base, ConfigSource config);
    ~QueueClient();
    QueueClient(const QueueClient&) = delete;
    QueueClient& operator=(const QueueClient&) = delete;

    // Returns the request id (for cancel).
    uint64_t submit(ipc::SubmitMsg msg, SubmitWaiter* waiter);
    void cancel(uint64_t request_id);
    // Streamed bodies: chunk `index` (1, 2, ...) of queue_id's content; the answer comes
    // through waiter->chunk_result, never from inside this call. A body is bound to the
    // channel its first chunk went on: if that channel closes, the waiter gets status 4
    // and the body's SubmitMsg (kFlagStreamedBody) is answered 451 without being sent.
    // On the wire (doc/QUEUE.md "Streamed bodies"): chunk 1 opens the body with an empty
    // BodyChunkMsg and is held here; when the queue's answer lends the body file, every
    // chunk is written to it directly (write(2), one copy) and answered from the timer;
    // otherwise (a store that takes chunks only) each goes as the next BodyChunkMsg.
    void send_chunk(const std::string& queue_id, uint32_t index, std::string data,
                    SubmitWaiter* waiter);
    // The transaction ended without its SubmitMsg: the queue drops the chunks.
    void abort_body(const std::string& queue_id);
    size_t pending() const {
        return requests_.pending() + requests_.failed() + submit_failed_.failed();
    }

  private:
    void on_frame(ipc::MsgType type, std::string_view payload, std::vector<UniqueFd>& fds);
    void on_chunk_result(std::string_view payload, std::vector<UniqueFd>& fds);
    void on_body_writer(std::string_view payload, std::vector<UniqueFd>& fds);
    void protocol_error(ipc::MsgType type);  // logs it and closes the channel
    size_t on_close();
    void answer_failed();

    struct OpenStream {
        SubmitWaiter* waiter = nullptr;
        uint64_t channel = 0;  // the channel's generation when its first chunk was sent
        uint32_t frames = 0;   // BodyChunkMsg frames sent; 1 is the empty one that opens
        bool opened = false;   // the queue answered the open
        // Until then: the content (chunk 1, and the last one sent at the end of data
        // without waiting: at most two buffers) and the SubmitMsg behind it.
        std::vector<std::string> held;
        std::optional<ipc::SubmitMsg> submit;
        UniqueFd writer;  // the body file, when the queue lent it
    };
    // Sends or writes one chunk's content; false when the body file refused it (the
    // stream is then failed and its waiter answered from the timer).
    bool pass_on(const std::string& queue_id, OpenStream& s, std::string data);
    void fail_stream(const std::string& queue_id, const char* why);
    bool stream_intact(const OpenStream& s) const {
        return s.channel == channel_.generation() && channel_.open();
    }

    RequestChannel channel_;
    PendingRequests<uint64_t, SubmitWaiter> requests_;
    std::unordered_map<std::string, OpenStream> streams_;
    PendingRequests<std::string, SubmitWaiter> failed_streams_;  // only failures queued
    // Chunks written to a lent body file, and bodies whose file refused a write: answered
    // (2, or 4 "4.3.0 queue write failed") from the timer.
    PendingRequests<std::string, SubmitWaiter> written_;
    PendingRequests<std::string, SubmitWaiter> write_failed_;
    PendingRequests<uint64_t, SubmitWaiter> submit_failed_;  // a held SubmitMsg's, likewise
};

}  // namespace tegami::smtpd
