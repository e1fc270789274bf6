// queue_client.cpp - see queue_client.hpp.
#include "smtpd/server/queue_client.hpp"

#include <unistd.h>

#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"

namespace tegami::smtpd {

namespace {
constexpr const char* kUnavailable = "4.3.0 Queue unavailable, try again later";
constexpr std::chrono::milliseconds kBackoffMin{100};
constexpr std::chrono::milliseconds kBackoffMax{5000};
}  // namespace

QueueClient::QueueClient(event_base* base, ConfigSource config)
    : base_(base), config_(std::move(config)) {
    fail_ev_.reset(evtimer_new(base_, &QueueClient::fail_cb, this));
}

QueueClient::~QueueClient() = default;

bool QueueClient::ensure_channel() {
    if (channel_ && channel_->open()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return false;
    auto cfg = config_();
    std::string path = queue_socket_path(*cfg);
    auto fd = connect_unix(path);
    if (fd && (peer_uid(fd->get()) < 0 || peer_uid(fd->get()) != daemon_uid("queue"))) {
        log_error("queue socket %s: peer is not the queue's uid; refusing it", path.c_str());
        fd = make_error(Exit::no_perm, "wrong peer");
    }
    if (!fd) {
        log_warning("cannot reach the queue: %s (retry in %lld ms)", fd.error().message.c_str(),
                    static_cast<long long>(backoff_.count()));
        next_try_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, kBackoffMax);
        return false;
    }
    ++channel_gen_;
    channel_ = std::make_unique<ipc::Channel>(
        base_, std::move(fd.value()),
        [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>& fds) {
            if (!fds.empty()) {
                on_close("descriptors from the queue");
                return;
            }
            on_frame(t, p);
        },
        [this](const std::string& why) { on_close(why); });
    return true;
}

uint64_t QueueClient::submit(ipc::SubmitMsg msg, SubmitWaiter* waiter) {
    uint64_t id = next_id_++;
    msg.request_id = id;
    if (msg.flags & ipc::kFlagStreamedBody) {
        // Its chunks must be on this very channel, or the queue would miss them.
        auto it = streams_.find(msg.queue_id);
        bool intact = it != streams_.end() && it->second.channel == channel_gen_ && channel_ &&
                      channel_->open();
        if (it != streams_.end()) streams_.erase(it);
        if (!intact) {
            fail_later(id, waiter);
            return id;
        }
    } else if (!ensure_channel()) {
        fail_later(id, waiter);
        return id;
    }
    pending_.emplace(id, waiter);
    channel_->send(ipc::encode(msg));  // a failure lands in on_close, answered later
    return id;
}

void QueueClient::send_chunk(const std::string& queue_id, uint32_t index, std::string data,
                             SubmitWaiter* waiter) {
    auto it = streams_.find(queue_id);
    if (index == 1 && it == streams_.end()) {
        if (!ensure_channel()) {
            fail_stream_later(queue_id, waiter);
            return;
        }
        it = streams_.emplace(queue_id, OpenStream{waiter, channel_gen_}).first;
    }
    if (it == streams_.end() || it->second.channel != channel_gen_ || !channel_ ||
        !channel_->open()) {
        if (it != streams_.end()) streams_.erase(it);
        fail_stream_later(queue_id, waiter);
        return;
    }
    ipc::BodyChunkMsg m;
    m.queue_id = queue_id;
    m.index = index;
    m.data = std::move(data);
    channel_->send(ipc::encode(m));  // a failure lands in on_close, answered later
}

void QueueClient::abort_body(const std::string& queue_id) {
    auto it = streams_.find(queue_id);
    if (it != streams_.end()) {
        if (it->second.channel == channel_gen_ && channel_ && channel_->open()) {
            ipc::BodyAbortMsg m;
            m.queue_id = queue_id;
            channel_->send(ipc::encode(m));
        }
        streams_.erase(it);
    }
    for (auto* list : {&failed_streams_, &answering_streams_})
        for (auto& f : *list)
            if (f.first == queue_id) f.second = nullptr;
}

void QueueClient::fail_stream_later(const std::string& qid, SubmitWaiter* w) {
    failed_streams_.emplace_back(qid, w);
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void QueueClient::cancel(uint64_t request_id) {
    pending_.erase(request_id);
    for (auto* list : {&failed_, &answering_})
        for (auto& f : *list)
            if (f.first == request_id) f.second = nullptr;
}

void QueueClient::on_frame(ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::body_chunk_result) {
        ipc::BodyChunkResultMsg c;
        if (!ipc::decode(payload, c)) {
            log_error("queue sent a bad %s frame; closing the channel", ipc::msg_type_name(type));
            on_close("protocol error");
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
        on_close("protocol error");
        return;
    }
    backoff_ = kBackoffMin;
    auto it = pending_.find(r.request_id);
    if (it == pending_.end()) return;  // the session went away meanwhile
    SubmitWaiter* w = it->second;
    pending_.erase(it);
    w->submit_result(r.status, r.text);
}

void QueueClient::on_close(const std::string& why) {
    if (!channel_) return;
    log_warning("queue channel closed: %s (%zu pending)", why.c_str(), pending_.size());
    if (channel_->open()) channel_->close();
    closed_ = std::move(channel_);
    for (auto& [id, w] : pending_)
        failed_.emplace_back(id, w);
    pending_.clear();
    for (auto& [qid, st] : streams_)
        failed_streams_.emplace_back(qid, st.waiter);
    streams_.clear();
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void QueueClient::fail_later(uint64_t id, SubmitWaiter* w) {
    failed_.emplace_back(id, w);
    timeval zero{0, 0};
    event_add(fail_ev_.get(), &zero);
}

void QueueClient::fail_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<QueueClient*>(arg)->answer_failed();
    } catch (const std::exception& e) {
        log_error("queue client: %s", e.what());
    } catch (...) {
        log_error("queue client: unknown exception");
    }
}

void QueueClient::answer_failed() {
    closed_.reset();
    answering_.clear();
    answering_.swap(failed_);
    // By index: a waiter's answer may cancel entries (cancel() clears them here too)
    // or submit again (into failed_/pending_, answered later).
    for (size_t i = 0; i < answering_.size(); ++i) {
        SubmitWaiter* w = std::exchange(answering_[i].second, nullptr);
        if (w) w->submit_result(ipc::kStatusTemp, kUnavailable);
    }
    answering_.clear();
    answering_streams_.clear();
    answering_streams_.swap(failed_streams_);
    for (size_t i = 0; i < answering_streams_.size(); ++i) {
        SubmitWaiter* w = std::exchange(answering_streams_[i].second, nullptr);
        if (w) w->chunk_result(ipc::kStatusTemp, kUnavailable);
    }
    answering_streams_.clear();
}

}  // namespace tegami::smtpd
