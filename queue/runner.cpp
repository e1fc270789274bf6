// runner.cpp - see runner.hpp. Invariants: a recipient is either in the schedule, in
// flight, or final - never two of these; a message is removed from the store only when
// every recipient is final (and never with a delivery in flight).
#include "queue/runner.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <ctime>
#include <vector>

#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "lib/daemon/daemon.hpp"
#include "queue/bounce.hpp"

namespace tegami::queue {

namespace {

constexpr uint64_t kMaxReconnectDelay = 30;
constexpr size_t kMaxStoredText = 512;

uint64_t now_s() {
    return static_cast<uint64_t>(std::time(nullptr));
}

// SO_PEERCRED on a connected socket names whoever last called listen(); the daemon
// skeleton re-listens on every internal socket it receives, so local shows its own uid.
bool trusted_peer(long uid) {
    return uid >= 0 && uid == daemon_uid("local");
}

// The body of one attempt as a sealed memfd: written once, then neither the queue nor
// the agent can change it.
Result<UniqueFd> body_memfd(std::string_view body) {
    UniqueFd fd(::memfd_create("tegami-body", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) return sys_error("memfd_create", errno);
    size_t off = 0;
    while (off < body.size()) {
        ssize_t n = ::write(fd.get(), body.data() + off, body.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sys_error("write memfd", n < 0 ? errno : EIO);
        off += static_cast<size_t>(n);
    }
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
        0)
        return sys_error("seal memfd", errno);
    return fd;
}

double now_precise() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

Runner::Runner(event_base* base, QueueStore& store, Committer& committer, RunnerSettings s)
    : base_(base), store_(store), committer_(committer), settings_(std::move(s)) {
    timer_.reset(event_new(base_, -1, 0, on_timer_cb, this));
}

Runner::~Runner() = default;

Result<void> Runner::load() {
    std::vector<std::string> finished;
    size_t due = 0;
    auto r = store_.scan(
        [&](Envelope&& env) {
            for (uint32_t i = 0; i < env.recipients.size(); ++i) {
                if (rcpt_state_final(env.recipients[i].state)) continue;
                env.recipients[i].next_try = 0;       // recovery: every open recipient is due
                schedule_.add({0, env.queue_id, i});  // (the stored time is only an intent)
                ++due;
            }
            if (env.all_final()) finished.push_back(env.queue_id);
            std::string qid = env.queue_id;
            double arrived = static_cast<double>(env.arrival);
            std::vector<bool> busy(env.recipients.size(), false);
            messages_.emplace(qid, Message{std::move(env), 0, arrived, std::move(busy)});
        },
        [](const Error& e) { log_error("%s; left in the store", e.message.c_str()); });
    if (!r) return r;
    log_info("queue: %zu message%s, %zu recipient%s due", messages_.size(),
             messages_.size() == 1 ? "" : "s", due, due == 1 ? "" : "s");
    for (const auto& qid : finished)
        finish(messages_.at(qid));  // crashed before removal
    arm();                          // the first dispatch runs once the loop does
    return {};
}

void Runner::add(Envelope&& env) {
    for (uint32_t i = 0; i < env.recipients.size(); ++i)
        if (!rcpt_state_final(env.recipients[i].state))
            schedule_.add({env.recipients[i].next_try, env.queue_id, i});
    std::string qid = env.queue_id;
    // Added as soon as it is durable: now is its arrival to within the commit latency.
    double arrived = std::max(static_cast<double>(env.arrival), now_precise() - 0.001);
    std::vector<bool> busy(env.recipients.size(), false);
    messages_.emplace(qid, Message{std::move(env), 0, arrived, std::move(busy)});
    pump();
}

void Runner::set_settings(RunnerSettings s) {
    settings_ = std::move(s);
    pump();
}

void Runner::stop() {
    stopped_ = true;
    if (timer_) event_del(timer_.get());
}

void Runner::on_timer_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Runner*>(arg);
    try {
        self->dead_local_.reset();
        self->pump();
    } catch (const std::exception& e) {
        log_error("queue runner: %s", e.what());
    }
}

// Hands due recipients to local while there is room, then sets the timer.
void Runner::pump() {
    if (stopped_) return;
    uint64_t now = now_s();
    bool due = !schedule_.empty() && schedule_.next_time() <= now;
    if (due && !local_ && now >= reconnect_at_) connect_local();
    Due d;
    while (local_ && flights_.size() < settings_.max_in_flight && schedule_.pop_due(now, d))
        dispatch(d);
    arm();
}

void Runner::arm() {
    if (stopped_ || !timer_ || schedule_.empty()) return;
    if (local_ && flights_.size() >= settings_.max_in_flight) return;  // a result will pump
    uint64_t now = now_s();
    uint64_t at = schedule_.next_time();
    if (!local_) at = std::max(at, reconnect_at_);
    timeval tv{static_cast<time_t>(at > now ? at - now : 0), at > now ? 0 : 1000};
    event_add(timer_.get(), &tv);
}

bool Runner::connect_local() {
    auto fd = connect_unix(settings_.local_socket);
    const char* why = nullptr;
    std::string err;
    if (!fd) {
        err = fd.error().message;
        why = err.c_str();
    } else if (!trusted_peer(peer_uid(fd->get()))) {
        why = "peer runs as another user";
    }
    if (why) {
        reconnect_delay_ =
            std::min(reconnect_delay_ ? reconnect_delay_ * 2 : 1, kMaxReconnectDelay);
        reconnect_at_ = now_s() + reconnect_delay_;
        log_warning("local delivery unavailable (%s): retrying in %llus", why,
                    static_cast<unsigned long long>(reconnect_delay_));
        return false;
    }
    local_ = std::make_unique<ipc::Channel>(
        base_, std::move(fd.value()),
        [this](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>&) { on_frame(t, p); },
        [this](const std::string& w) { on_local_closed(w); });
    reconnect_delay_ = 0;
    log_debug("connected to local delivery at %s", settings_.local_socket.c_str());
    return true;
}

// Every delivery in flight goes back to the schedule unchanged (no result, no state change).
void Runner::on_local_closed(const std::string& why) {
    uint64_t now = now_s();
    log_warning("local delivery connection closed (%s): %zu deliver%s rescheduled", why.c_str(),
                flights_.size(), flights_.size() == 1 ? "y" : "ies");
    for (auto& [req, f] : flights_) {
        auto it = messages_.find(f.queue_id);
        if (it == messages_.end()) continue;
        --it->second.in_flight;
        for (uint32_t i : f.rcpts) {
            it->second.busy[i] = false;
            schedule_.add({now, f.queue_id, i});
        }
    }
    flights_.clear();
    dead_local_ = std::move(local_);
    reconnect_at_ = now + 1;
    if (stopped_ && on_drained_) on_drained_();
    arm();
}

void Runner::on_frame(ipc::MsgType type, std::string_view payload) {
    ipc::DeliverResultMsg r;
    if (type != ipc::MsgType::deliver_result || !ipc::decode(payload, r)) {
        log_error("local delivery sent a bad %s frame: closing", ipc::msg_type_name(type));
        local_->close();
        on_local_closed("protocol error");
        return;
    }
    on_result(r);
    pump();
}

// A due entry starts one request for its message, taking every other recipient of the
// message that is due as well (their own entries, popped later, find them busy or no
// longer due and are dropped).
bool Runner::dispatch(const Due& d) {
    auto it = messages_.find(d.queue_id);
    if (it == messages_.end()) return false;
    Message& m = it->second;
    uint64_t now = now_s();
    auto due = [&](uint32_t i) {
        const Recipient& rc = m.env.recipients[i];
        return !rcpt_state_final(rc.state) && !m.busy[i] && rc.next_try <= now;
    };
    if (d.rcpt >= m.env.recipients.size() || !due(d.rcpt)) return false;
    std::vector<uint32_t> rcpts;
    for (uint32_t i = 0; i < m.env.recipients.size(); ++i)
        if (due(i)) rcpts.push_back(i);
    auto body = store_.load_body(d.queue_id);
    Result<UniqueFd> fd = body ? body_memfd(*body) : Result<UniqueFd>(body.error());
    if (!fd) {
        log_error("%s: %s; retrying later", d.queue_id.c_str(), fd.error().message.c_str());
        for (uint32_t i : rcpts)
            schedule_.add({now + retry_delay(settings_.retry, 1), d.queue_id, i});
        return false;
    }
    ipc::DeliverMsg dm;
    dm.request_id = next_request_++;
    dm.queue_id = d.queue_id;
    dm.sender = m.env.sender;
    dm.recipients.reserve(rcpts.size());
    for (uint32_t i : rcpts) {
        const Recipient& rc = m.env.recipients[i];
        dm.recipients.push_back(ipc::DeliverRcpt{i, rc.address, rc.orcpt, rc.notify});
        m.busy[i] = true;
    }
    dm.envid = m.env.envid;
    dm.flags = m.env.flags;
    dm.arrival_time = m.env.arrival;
    dm.body_size = body->size();
    flights_[dm.request_id] = Flight{d.queue_id, std::move(rcpts)};
    ++m.in_flight;
    local_->send(ipc::encode(dm), {fd->get()});  // a failed write reschedules via on_local_closed
    return true;
}

void Runner::on_result(const ipc::DeliverResultMsg& r) {
    auto f = flights_.find(r.request_id);
    if (f == flights_.end()) {
        log_warning("local delivery reported unknown request %llu",
                    static_cast<unsigned long long>(r.request_id));
        return;
    }
    Flight fl = std::move(f->second);
    flights_.erase(f);
    auto it = messages_.find(fl.queue_id);
    if (it != messages_.end()) {
        Message& m = it->second;
        --m.in_flight;
        uint64_t now = now_s();
        for (uint32_t i : fl.rcpts) {
            m.busy[i] = false;
            const ipc::RcptResult* res = nullptr;
            for (const auto& rr : r.results)
                if (rr.index == i) res = &rr;
            if (res) {
                apply_result(m, i, *res, r.relay, now);
            } else {
                log_warning("%s: no result for <%s>: rescheduled", m.env.queue_id.c_str(),
                            m.env.recipients[i].address.c_str());
                schedule_.add({now + retry_delay(settings_.retry, 1), m.env.queue_id, i});
            }
        }
        for (const auto& rr : r.results)
            if (std::find(fl.rcpts.begin(), fl.rcpts.end(), rr.index) == fl.rcpts.end())
                log_warning("%s: result for recipient %u, not in the request: ignored",
                            m.env.queue_id.c_str(), rr.index);
        // When this result makes every recipient final, the removal (or bounce) is the
        // state change: one transaction instead of a rewrite followed by a delete.
        if (m.in_flight == 0 && m.env.all_final()) {
            if (!finish(m)) persist(m);  // m is gone when finish succeeded
        } else {
            persist(m);
        }
    }
    if (stopped_ && flights_.empty() && on_drained_) on_drained_();
}

void Runner::apply_result(Message& m, uint32_t idx, const ipc::RcptResult& r,
                          const std::string& relay_name, uint64_t now) {
    Recipient& rc = m.env.recipients[idx];
    rc.dsn = printable(r.dsn.substr(0, 16));
    rc.text = printable(r.text.substr(0, kMaxStoredText));
    const char* status = "deferred";
    if (r.status == ipc::kStatusOk) {
        rc.state = RcptState::sent;
        status = "sent";
    } else if (r.status == ipc::kStatusPerm) {
        rc.state = RcptState::failed;
        status = "bounced";
    } else {
        ++rc.attempts;
        DeferDecision d = decide_deferral(settings_.retry, m.env.arrival, rc.attempts, now);
        if (d.give_up) {
            rc.state = RcptState::failed;
            rc.text += " (delivery time expired)";
            status = "bounced";
        } else {
            rc.state = RcptState::deferred;
            rc.next_try = d.next_try;
            schedule_.add({d.next_try, m.env.queue_id, idx});
        }
    }
    if (rc.dsn.empty()) rc.dsn = r.status == ipc::kStatusOk ? "2.0.0" : "4.0.0";
    std::string relay = relay_name.empty() ? "local" : printable(relay_name);
    double delay = std::max(0.0, now_precise() - m.arrived);
    log_info("%s: to=<%s>, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)", m.env.queue_id.c_str(),
             rc.address.c_str(), relay.c_str(), delay, rc.dsn.c_str(), status, rc.text.c_str());
}

// One transaction per state change; the committer flushes it with the next batch.
void Runner::persist(Message& m) {
    auto r = store_.update(m.env);
    if (!r)
        log_error("%s: cannot record delivery state: %s", m.env.queue_id.c_str(),
                  r.error().message.c_str());
    committer_.note_commit();
}

// Every recipient is final: remove the message, queueing its bounce in the same step.
// False (message kept, nothing changed in the store) when the store refused.
bool Runner::finish(Message& m) {
    std::string qid = m.env.queue_id;
    if (needs_bounce(m.env)) {
        auto body = store_.load_body(qid);
        Bounce b = make_bounce(m.env, body ? std::string_view(*body) : std::string_view(),
                               settings_.hostname, new_queue_id(), now_s());
        std::string err;
        if (store_.remove_and_put(qid, b.envelope, b.body, err) != PutStatus::ok) {
            log_error("%s: cannot queue the bounce (%s): message kept", qid.c_str(), err.c_str());
            return false;
        }
        committer_.note_commit();
        log_info("%s: sender non-delivery notification: %s", qid.c_str(),
                 b.envelope.queue_id.c_str());
        log_info("%s: removed", qid.c_str());
        messages_.erase(qid);
        add(std::move(b.envelope));
        return true;
    }
    for (const auto& rc : m.env.recipients)
        if (rc.state == RcptState::failed) {
            log_info("%s: sender is <>: no bounce for failed recipients (never bounce a bounce)",
                     qid.c_str());
            break;
        }
    auto r = store_.remove(qid);
    if (!r) {
        log_error("%s: cannot remove: %s", qid.c_str(), r.error().message.c_str());
        return false;
    }
    committer_.note_commit();
    log_info("%s: removed", qid.c_str());
    messages_.erase(qid);
    return true;
}

}  // namespace tegami::queue
