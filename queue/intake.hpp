// intake.hpp - the queue's side of smtpd -> queue: accepts connections on the queue
// socket (peer must run as our own uid, checked with SO_PEERCRED), decodes SubmitMsg
// frames strictly (an unknown type or a bad frame closes that channel), stores each
// message and replies SubmitResultMsg - status 2 only after the committer reports the
// message durable.
//
// Called by the queue daemon (queue_daemon.cpp) on the event loop thread. Trusts smtpd
// for policy, not for well-formed data (submit_check.hpp). A message is handed to the
// runner (on_accepted) only once durable; its body is not kept in memory after the put.
// A large body arrives in chunks (BodyChunkMsg), each stored at once and answered, so
// neither process holds it whole; the answer to the first lends smtpd the body file
// (QueueStore::body_writer), and smtpd writes the rest there itself. The chunks of a
// message that never gets its envelope (abort, a closed channel, a refused submit) are
// removed.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/committer.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

class Intake {
  public:
    using Accepted = std::function<void(Envelope&&)>;

    Intake(event_base* base, QueueStore& store, Committer& committer, Accepted on_accepted);
    Intake(const Intake&) = delete;
    Intake& operator=(const Intake&) = delete;
    ~Intake();

    Result<void> listen(UniqueFd listener);
    // Closes the listener; submissions still arriving on open channels get 4.3.0.
    void stop_accepting();
    size_t sessions() const { return sessions_.size(); }

  private:
    // A body being streamed on a channel (BodyChunkMsg frames before its SubmitMsg).
    struct OpenBody {
        uint32_t chunks = 0;  // stored so far: 1..chunks
        bool failed = false;  // a put failed: the chunks are removed, the submit gets 4.3.0
        std::string error;
    };
    struct Session {
        uint64_t id = 0;
        std::unique_ptr<ipc::Channel> channel;
        std::unordered_map<std::string, OpenBody> bodies;
    };

    static void on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int,
                             void* arg) noexcept;
    static void on_reap_cb(evutil_socket_t, short, void* arg) noexcept;
    void on_accept(UniqueFd fd);
    void on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload);
    void submit(uint64_t sid, ipc::SubmitMsg& m);
    void body_chunk(uint64_t sid, ipc::BodyChunkMsg& m);
    void body_abort(uint64_t sid, const std::string& qid);
    void forget_bodies(Session& s);
    void on_durable(uint64_t sid, uint64_t request_id, Envelope& env, size_t size, bool ok,
                    const std::string& err);
    void reply(uint64_t sid, uint64_t request_id, const std::string& qid, uint32_t status,
               const std::string& text);
    void drop(uint64_t sid, const char* why);

    event_base* base_;
    QueueStore& store_;
    Committer& committer_;
    Accepted on_accepted_;
    EvconnlistenerPtr listener_;
    EventPtr reap_ev_;  // frees dropped sessions outside their own callbacks
    std::unordered_map<uint64_t, Session> sessions_;
    std::vector<std::unique_ptr<ipc::Channel>> dead_;
    uint64_t next_sid_ = 1;
    bool accepting_ = true;
};

}  // namespace tegami::queue
