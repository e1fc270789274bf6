// intake.cpp - see intake.hpp. Invariant: reply(status 2) is sent only from on_durable
// with ok == true, i.e. after a store flush that began after this message's commit.
#include "queue/intake.hpp"

#include <ctime>

#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "lib/daemon/daemon.hpp"
#include "queue/submit_check.hpp"

namespace tegami::queue {

Intake::Intake(event_base* base, QueueStore& store, Committer& committer, Accepted on_accepted)
    : base_(base), store_(store), committer_(committer), on_accepted_(std::move(on_accepted)) {
    reap_ev_.reset(event_new(base_, -1, 0, on_reap_cb, this));
}

Intake::~Intake() = default;

Result<void> Intake::listen(UniqueFd fd) {
    evutil_make_socket_nonblocking(fd.get());
    listener_.reset(evconnlistener_new(
        base_, on_accept_cb, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd.get()));
    if (!listener_) return make_error(Exit::os_err, "evconnlistener_new failed");
    fd.release();  // now owned by the listener
    return {};
}

void Intake::stop_accepting() {
    accepting_ = false;
    listener_.reset();
}

void Intake::on_accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept {
    UniqueFd owned(fd);
    try {
        static_cast<Intake*>(arg)->on_accept(std::move(owned));
    } catch (const std::exception& e) {
        log_error("queue socket: accept: %s", e.what());
    }
}

void Intake::on_accept(UniqueFd fd) {
    long uid = peer_uid(fd.get());
    if (uid < 0 || uid != daemon_uid("smtpd")) {
        log_warning("queue socket: refusing a peer with uid %ld", uid);
        return;  // fd closes here
    }
    uint64_t sid = next_sid_++;
    Session s;
    s.id = sid;
    s.channel = std::make_unique<ipc::Channel>(
        base_, std::move(fd),
        [this, sid](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>&) {
            on_frame(sid, t, p);
        },
        [this, sid](const std::string& why) { drop(sid, why.c_str()); });
    sessions_.emplace(sid, std::move(s));
}

void Intake::on_frame(uint64_t sid, ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::body_chunk) {
        ipc::BodyChunkMsg c;
        if (!ipc::decode(payload, c)) {
            log_error("queue socket: malformed body_chunk frame: closing");
            drop(sid, nullptr);
            return;
        }
        body_chunk(sid, c);
        return;
    }
    if (type == ipc::MsgType::body_abort) {
        ipc::BodyAbortMsg a;
        if (!ipc::decode(payload, a)) {
            log_error("queue socket: malformed body_abort frame: closing");
            drop(sid, nullptr);
            return;
        }
        body_abort(sid, a.queue_id);
        return;
    }
    if (type != ipc::MsgType::submit) {
        log_error("queue socket: unexpected %s frame: closing", ipc::msg_type_name(type));
        drop(sid, nullptr);
        return;
    }
    ipc::SubmitMsg m;
    if (!ipc::decode(payload, m)) {
        log_error("queue socket: malformed submit frame: closing");
        drop(sid, nullptr);
        return;
    }
    submit(sid, m);
}

// One chunk of a streamed body: stored at once (its own transaction, made durable by the
// flush that covers the message's envelope later) and answered, in order.
void Intake::body_chunk(uint64_t sid, ipc::BodyChunkMsg& m) {
    auto sit = sessions_.find(sid);
    if (sit == sessions_.end()) return;
    Session& s = sit->second;
    OpenBody& b = s.bodies[m.queue_id];
    if (!valid_queue_id(m.queue_id) || m.index != b.chunks + 1) {
        log_error("queue socket: body chunk %u of %s out of order: closing", m.index,
                  printable(m.queue_id).c_str());
        drop(sid, nullptr);
        return;
    }
    b.chunks = m.index;
    if (!b.failed && !accepting_) {
        (void)store_.remove_chunks(m.queue_id, m.index - 1);
        b.failed = true;
        b.error = "4.3.0 queue is shutting down";
    }
    if (!b.failed) {
        std::string err;
        PutStatus put = store_.put_chunk(m.queue_id, m.index, m.data, err);
        if (put != PutStatus::ok) {
            bool dup = put == PutStatus::duplicate;
            log_error("%s: queue write failed: %s", m.queue_id.c_str(),
                      dup ? "duplicate body chunk" : err.c_str());
            (void)store_.remove_chunks(m.queue_id, m.index - 1);  // ours (stored NOOVERWRITE)
            b.failed = true;
            b.error = dup ? "4.3.0 duplicate queue ID" : "4.3.0 queue write failed";
        }
    }
    ipc::BodyChunkResultMsg r;
    r.queue_id = m.queue_id;
    r.index = m.index;
    r.status = b.failed ? ipc::kStatusTemp : ipc::kStatusOk;
    r.text = b.failed ? b.error : std::string();
    // The answer to chunk 1 lends smtpd the body file itself: it writes the rest of the
    // content there, one copy from its buffer to the page cache, instead of sending it
    // here in more frames (doc/QUEUE.md "Streamed bodies").
    int writer = !b.failed && m.index == 1 ? store_.body_writer(m.queue_id) : -1;
    if (writer >= 0) {
        ipc::BodyWriterMsg w;
        w.queue_id = m.queue_id;
        s.channel->send(ipc::encode(w), {writer});
    }
    s.channel->send(ipc::encode(r));
}

void Intake::body_abort(uint64_t sid, const std::string& qid) {
    auto sit = sessions_.find(sid);
    if (sit == sessions_.end()) return;
    auto it = sit->second.bodies.find(qid);
    if (it == sit->second.bodies.end()) return;
    if (!it->second.failed) (void)store_.remove_chunks(qid, it->second.chunks);
    sit->second.bodies.erase(it);
}

// The channel closed: no SubmitMsg can complete its open bodies any more.
void Intake::forget_bodies(Session& s) {
    for (auto& [qid, b] : s.bodies)
        if (!b.failed) (void)store_.remove_chunks(qid, b.chunks);
    s.bodies.clear();
}

void Intake::submit(uint64_t sid, ipc::SubmitMsg& m) {
    // A streamed body's chunks came before on this channel; the flag and the open body
    // must agree, or the content would be lost or misplaced.
    bool streamed = (m.flags & ipc::kFlagStreamedBody) != 0;
    m.flags &= ~ipc::kFlagStreamedBody;
    OpenBody body;
    bool have = false;
    if (auto sit = sessions_.find(sid); sit != sessions_.end()) {
        auto it = sit->second.bodies.find(m.queue_id);
        if (it != sit->second.bodies.end()) {
            body = std::move(it->second);
            have = true;
            sit->second.bodies.erase(it);
        }
    }
    auto discard = [&] {
        if (have && !body.failed) (void)store_.remove_chunks(m.queue_id, body.chunks);
    };
    if (streamed != have || (have && body.failed)) {
        std::string text = have && body.failed ? body.error : "4.3.0 message body lost";
        if (streamed != have)
            log_error("%s: submission %s streamed body chunks", printable(m.queue_id).c_str(),
                      have ? "without its" : "announces missing");
        discard();
        reply(sid, m.request_id, m.queue_id, ipc::kStatusTemp, text);
        return;
    }
    if (!accepting_) {
        discard();
        reply(sid, m.request_id, m.queue_id, ipc::kStatusTemp, "4.3.0 queue is shutting down");
        return;
    }
    if (auto refusal = check_submit(m)) {
        log_warning("%s: refused submission: %s", printable(m.queue_id).c_str(),
                    refusal->text.c_str());
        discard();
        reply(sid, m.request_id, m.queue_id, refusal->status, refusal->text);
        return;
    }
    Envelope env = envelope_from_submit(m, static_cast<uint64_t>(std::time(nullptr)));
    size_t size = m.body.size() + (have ? store_.streamed_bytes(m.queue_id) : 0);
    std::string err;
    PutStatus put =
        have ? store_.put_streamed(env, m.body, body.chunks, err) : store_.put(env, m.body, err);
    if (put == PutStatus::duplicate) {
        log_error("%s: duplicate queue ID refused", m.queue_id.c_str());
        discard();
        reply(sid, m.request_id, m.queue_id, ipc::kStatusTemp, "4.3.0 duplicate queue ID");
        return;
    }
    if (put == PutStatus::failed) {
        log_error("%s: queue write failed: %s", m.queue_id.c_str(), err.c_str());
        discard();
        reply(sid, m.request_id, m.queue_id, ipc::kStatusTemp, "4.3.0 queue write failed");
        return;
    }
    m.body = std::string();  // the store has it; nothing keeps the body in memory
    committer_.after_commit(
        [this, sid, req = m.request_id, env = std::move(env), size](
            bool ok, const std::string& e) mutable { on_durable(sid, req, env, size, ok, e); });
}

void Intake::on_durable(uint64_t sid, uint64_t request_id, Envelope& env, size_t size, bool ok,
                        const std::string& err) {
    if (!ok) {
        log_error("%s: queue write failed: %s", env.queue_id.c_str(), err.c_str());
        (void)store_.remove(env.queue_id);  // refused, so it must not be delivered
        reply(sid, request_id, env.queue_id, ipc::kStatusTemp, "4.3.0 queue write failed");
        return;
    }
    // The flush covering this message's commit succeeded: it is on stable storage.
    log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", env.queue_id.c_str(),
             env.sender.c_str(), size, env.recipients.size());
    // The reply goes first: handing the message to the scheduler may start a delivery
    // (a body copy and a frame to an agent), which the client need not wait for.
    std::string qid = env.queue_id;
    reply(sid, request_id, qid, ipc::kStatusOk, "2.0.0 Ok: queued as " + qid);
    on_accepted_(std::move(env));
}

void Intake::reply(uint64_t sid, uint64_t request_id, const std::string& qid, uint32_t status,
                   const std::string& text) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) {
        if (status == ipc::kStatusOk)
            log_warning("%s: smtpd went away before the reply; the message stays queued",
                        qid.c_str());
        return;
    }
    ipc::SubmitResultMsg r;
    r.request_id = request_id;
    r.status = status;
    r.queue_id = qid;
    r.text = text;
    it->second.channel->send(ipc::encode(r));
}

// Closes a session now and frees its channel later, never inside the channel's callback.
void Intake::drop(uint64_t sid, const char* why) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    if (why) log_debug("queue socket: session %llu closed: %s", (unsigned long long)sid, why);
    forget_bodies(it->second);
    it->second.channel->close();
    dead_.push_back(std::move(it->second.channel));
    sessions_.erase(it);
    if (reap_ev_) event_active(reap_ev_.get(), EV_TIMEOUT, 0);
}

void Intake::on_reap_cb(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Intake*>(arg)->dead_.clear();
}

}  // namespace tegami::queue
