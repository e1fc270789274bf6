// queue_client.cpp - see queue_client.hpp.
#include "smtpd/server/queue_client.hpp"

#include <sys/stat.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "lib/core/log.hpp"
#include "lib/core/write_full.hpp"
#include "lib/daemon/daemon.hpp"  // queue_socket_path

namespace tegami::smtpd {

namespace {
constexpr const char* kUnavailable = "4.3.0 Queue unavailable, try again later";
constexpr const char* kWriteFailed = "4.3.0 queue write failed";
}  // namespace

QueueClient::QueueClient(event_base* base, ConfigSource config)
    : channel_(
          base, std::move(config),
          RequestChannel::Peer{"queue", "the queue", queue_socket_path, true},
          [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
              on_frame(t, p, fds);
          },
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
        if (ready && !it->second.opened) {
            // The body's open is unanswered: its content is held here, and so is this,
            // until the answer says where the content goes.
            requests_.add(id, waiter);
            it->second.submit = std::move(msg);
            return id;
        }
        if (it != streams_.end()) streams_.erase(it);  // closes a lent body file
        // The session wants no answer to a chunk once it submits (the waiter may go away
        // with only its request cancelled); a failed write has failed the stream already.
        written_.cancel(msg.queue_id);
        write_failed_.cancel(msg.queue_id);
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
    if (index == 1 && it == streams_.end() && channel_.ensure()) {
        OpenStream fresh;
        fresh.waiter = waiter;
        fresh.channel = channel_.generation();
        it = streams_.emplace(queue_id, std::move(fresh)).first;
    }
    if (it == streams_.end() || !stream_intact(it->second)) {
        if (it != streams_.end()) streams_.erase(it);
        failed_streams_.fail(queue_id, waiter);
        channel_.fail_soon();
        return;
    }
    OpenStream& s = it->second;
    if (index == 1) {
        // The empty chunk 1 opens the body; the content waits for the answer, which may
        // lend the file.
        s.held.push_back(std::move(data));
        s.frames = 1;
        ipc::BodyChunkMsg m;
        m.queue_id = queue_id;
        m.index = 1;
        channel_.send(ipc::encode(m));  // a failure lands in on_close, answered later
        return;
    }
    if (!s.opened) {  // the last chunk, sent at the end of data without waiting
        s.held.push_back(std::move(data));
        return;
    }
    if (!pass_on(queue_id, s, std::move(data))) return;
    if (s.writer) {
        written_.fail(queue_id, waiter);
        channel_.fail_soon();
    }  // else the frame's answer answers it
}

bool QueueClient::pass_on(const std::string& queue_id, OpenStream& s, std::string data) {
    if (!s.writer) {
        ipc::BodyChunkMsg m;
        m.queue_id = queue_id;
        m.index = ++s.frames;
        m.data = std::move(data);
        channel_.send(ipc::encode(m));
        return true;
    }
    if (int err = write_full(s.writer.get(), data)) {
        fail_stream(queue_id, std::strerror(err));
        return false;
    }
    return true;
}

// The body file refused a write (a full or failing disk): the queue drops the body, the
// session reads the rest of the message and answers 451; a SubmitMsg held for the body
// is never sent.
void QueueClient::fail_stream(const std::string& queue_id, const char* why) {
    auto it = streams_.find(queue_id);
    if (it == streams_.end()) return;
    log_error("%s: queue write failed: body file: %s", queue_id.c_str(), why);
    if (stream_intact(it->second)) {
        ipc::BodyAbortMsg m;
        m.queue_id = queue_id;
        channel_.send(ipc::encode(m));
    }
    write_failed_.fail(queue_id, it->second.waiter);
    if (it->second.submit) {
        uint64_t id = it->second.submit->request_id;
        if (SubmitWaiter* w = requests_.take(id)) submit_failed_.fail(id, w);
    }
    streams_.erase(it);
    channel_.fail_soon();
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
    written_.cancel(queue_id);
    write_failed_.cancel(queue_id);
}

void QueueClient::cancel(uint64_t request_id) {
    requests_.cancel(request_id);
    submit_failed_.cancel(request_id);
}

void QueueClient::on_frame(ipc::MsgType type, std::string_view payload,
                           std::vector<UniqueFd>& fds) {
    if (type == ipc::MsgType::body_chunk_result) {
        on_chunk_result(payload, fds);
        return;
    }
    if (type == ipc::MsgType::body_writer) {
        on_body_writer(payload, fds);
        return;
    }
    ipc::SubmitResultMsg r;
    if (!fds.empty() || type != ipc::MsgType::submit_result || !ipc::decode(payload, r)) {
        protocol_error(type);
        return;
    }
    channel_.answered();
    SubmitWaiter* w = requests_.take(r.request_id);
    if (w) w->submit_result(r.status, r.text);  // else the session went away meanwhile
}

// The queue lends a body file: only for a body opened and not yet answered, one
// descriptor of a regular file; anything else is a protocol error.
void QueueClient::on_body_writer(std::string_view payload, std::vector<UniqueFd>& fds) {
    ipc::BodyWriterMsg m;
    bool ok = ipc::decode(payload, m) && fds.size() == 1;
    auto it = ok ? streams_.find(m.queue_id) : streams_.end();
    if (ok && it != streams_.end()) {
        struct stat st {};
        ok = !it->second.opened && !it->second.writer && ::fstat(fds[0].get(), &st) == 0 &&
             S_ISREG(st.st_mode);
        if (ok) it->second.writer = std::move(fds[0]);
    }
    if (!ok) protocol_error(ipc::MsgType::body_writer);
    // else a body aborted meanwhile: the descriptor closes here
}

// The answer to a body's frame. The answer to the open (chunk 1) says where the content
// goes: with the file lent (on_body_writer), what is held is written there and the
// session's chunk 1 answered now (any later one held, from the timer); without, the
// held content goes as frames 2, 3, ..., and frame k's answer is the session's chunk
// k - 1. A SubmitMsg held behind them goes last.
void QueueClient::on_chunk_result(std::string_view payload, std::vector<UniqueFd>& fds) {
    ipc::BodyChunkResultMsg c;
    if (!fds.empty() || !ipc::decode(payload, c)) {
        protocol_error(ipc::MsgType::body_chunk_result);
        return;
    }
    auto it = streams_.find(c.queue_id);
    if (it == streams_.end()) return;  // submitted or aborted meanwhile
    OpenStream& s = it->second;
    SubmitWaiter* w = s.waiter;
    if (s.opened || c.index != 1) {
        if (c.status != ipc::kStatusOk) streams_.erase(it);
        w->chunk_result(c.status, c.text);
        return;
    }
    s.opened = true;
    std::vector<std::string> held = std::exchange(s.held, {});
    bool lent = s.writer.valid();
    bool submitted = s.submit.has_value();
    if (c.status == ipc::kStatusOk) {
        for (size_t i = 0; i < held.size(); ++i) {
            // A refused write fails the stream and any SubmitMsg held behind it, both
            // answered from the timer.
            if (!pass_on(c.queue_id, s, std::move(held[i]))) return;
            if (lent && i > 0 && !submitted) written_.fail(c.queue_id, w);
        }
        if (lent && held.size() > 1 && !submitted) channel_.fail_soon();
    }
    // Refused: the queue answers the SubmitMsg with the reason it gave here.
    std::optional<ipc::SubmitMsg> submit = std::move(s.submit);
    if (c.status != ipc::kStatusOk || submit) streams_.erase(it);  // closes a lent file
    if (submit) channel_.send(ipc::encode(*submit));
    if (c.status != ipc::kStatusOk || lent) w->chunk_result(c.status, c.text);
}

void QueueClient::protocol_error(ipc::MsgType type) {
    log_error("queue sent a bad %s frame; closing the channel", ipc::msg_type_name(type));
    channel_.close("protocol error");
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
    written_.answer_failed(
        [](const std::string&, SubmitWaiter* w) { w->chunk_result(ipc::kStatusOk, {}); });
    write_failed_.answer_failed([](const std::string&, SubmitWaiter* w) {
        w->chunk_result(ipc::kStatusTemp, kWriteFailed);
    });
    submit_failed_.answer_failed(
        [](uint64_t, SubmitWaiter* w) { w->submit_result(ipc::kStatusTemp, kWriteFailed); });
}

}  // namespace tegami::smtpd
