// queue_client.cpp - see queue_client.hpp.
#include "smtpd/server/queue_client.hpp"

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"  // queue_socket_path

namespace tegami::smtpd {

namespace {
constexpr const char* kUnavailable = "4.3.0 Queue unavailable, try again later";
}  // namespace

QueueClient::QueueClient(event_base* base, ConfigSource config)
    : channel_(
          base, std::move(config), RequestChannel::Peer{"queue", "the queue", queue_socket_path},
          [this](ipc::MsgType t, std::string_view p) { on_frame(t, p); },
          [this] { return on_close(); }, [this] { answer_failed(); }) {}

QueueClient::~QueueClient() = default;

uint64_t QueueClient::submit(ipc::SubmitMsg msg, SubmitWaiter* waiter) {
    uint64_t id = channel_.next_id();
    msg.request_id = id;
    bool ready;
    if (msg.flags & ipc::kFlagStreamedBody) {
        // Its chunks must be on this very channel, or the queue would miss them.
        auto it = streams_.find(msg.queue_id);
        ready = it != streams_.end() && stream_intact(it->second);
        if (it != streams_.end()) streams_.erase(it);
    } else {
        ready = channel_.ensure();
    }
    if (!ready) {
        requests_.fail(id, waiter);
        channel_.fail_soon();
        return id;
    }
    requests_.add(id, waiter);
    channel_.send(ipc::encode(msg));  // a failure lands in on_close, answered later
    return id;
}

void QueueClient::send_chunk(const std::string& queue_id, uint32_t index, std::string data,
                             SubmitWaiter* waiter) {
    auto it = streams_.find(queue_id);
    if (index == 1 && it == streams_.end() && channel_.ensure())
        it = streams_.emplace(queue_id, OpenStream{waiter, channel_.generation()}).first;
    if (it == streams_.end() || !stream_intact(it->second)) {
        if (it != streams_.end()) streams_.erase(it);
        failed_streams_.fail(queue_id, waiter);
        channel_.fail_soon();
        return;
    }
    ipc::BodyChunkMsg m;
    m.queue_id = queue_id;
    m.index = index;
    m.data = std::move(data);
    channel_.send(ipc::encode(m));  // a failure lands in on_close, answered later
}

void QueueClient::abort_body(const std::string& queue_id) {
    auto it = streams_.find(queue_id);
    if (it != streams_.end()) {
        if (stream_intact(it->second)) {
            ipc::BodyAbortMsg m;
            m.queue_id = queue_id;
            channel_.send(ipc::encode(m));
        }
        streams_.erase(it);
    }
    failed_streams_.cancel(queue_id);
}

void QueueClient::cancel(uint64_t request_id) {
    requests_.cancel(request_id);
}

void QueueClient::on_frame(ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::body_chunk_result) {
        ipc::BodyChunkResultMsg c;
        if (!ipc::decode(payload, c)) {
            log_error("queue sent a bad %s frame; closing the channel", ipc::msg_type_name(type));
            channel_.close("protocol error");
            return;
        }
        auto it = streams_.find(c.queue_id);
        if (it == streams_.end()) return;  // submitted or aborted meanwhile
        SubmitWaiter* w = it->second.waiter;
        if (c.status != ipc::kStatusOk) streams_.erase(it);
        w->chunk_result(c.status, c.text);
        return;
    }
    ipc::SubmitResultMsg r;
    if (type != ipc::MsgType::submit_result || !ipc::decode(payload, r)) {
        log_error("queue sent a bad %s frame; closing the channel", ipc::msg_type_name(type));
        channel_.close("protocol error");
        return;
    }
    channel_.answered();
    SubmitWaiter* w = requests_.take(r.request_id);
    if (w) w->submit_result(r.status, r.text);  // else the session went away meanwhile
}

size_t QueueClient::on_close() {
    size_t n = requests_.pending();
    requests_.fail_all();
    for (auto& [qid, st] : streams_)
        failed_streams_.fail(qid, st.waiter);
    streams_.clear();
    return n;
}

void QueueClient::answer_failed() {
    // A waiter's answer may cancel entries or submit again (answered by a later timer).
    requests_.answer_failed(
        [](uint64_t, SubmitWaiter* w) { w->submit_result(ipc::kStatusTemp, kUnavailable); });
    failed_streams_.answer_failed([](const std::string&, SubmitWaiter* w) {
        w->chunk_result(ipc::kStatusTemp, kUnavailable);
    });
}

}  // namespace tegami::smtpd
