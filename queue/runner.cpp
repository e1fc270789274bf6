// runner.cpp - see runner.hpp. Invariants: a recipient of an active message is either
// in the schedule, in flight (or waiting for a slot), or final - never two of these; a
// message leaves memory only after its state is written (the store and its due index then
// hold all there is to know); a message is removed from the store only when every
// recipient is final (and never with a delivery in flight).
#include "queue/runner.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
constexpr size_t kRefillScan = 4096;  // due-index entries one refill passes at most

uint64_t now_s() {
    return static_cast<uint64_t>(std::time(nullptr));
}

// SO_PEERCRED on a connected socket names whoever last called listen(); the daemon
// skeleton re-listens on every internal socket it receives, so an agent shows its own
// uid: local's or remote's account (lib/daemon daemon_uid).
bool trusted_peer(long uid, const char* agent) {
    return uid >= 0 && uid == daemon_uid(agent);
}

// The ORCPT a delivery agent passes on: the client's, else the address as the client
// wrote it when that differs from the canonical form (RFC 3461 4.2 allows adding it).
std::string orcpt_to_pass(const Recipient& rc) {
    if (!rc.dsn_orcpt.empty()) return rc.dsn_orcpt;
    if (rc.orcpt.empty()) return "";
    for (char c : rc.orcpt)
        if (static_cast<unsigned char>(c) >= 0x80) return "utf-8;" + rc.orcpt;
    return "rfc822;" + rc.orcpt;
}

double now_precise() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// One part of delays=, as Postfix writes them: "0" below 10 ms, two significant digits
// below 10 s, whole seconds above.
std::string format_delay(double s) {
    char buf[32];
    if (!(s >= 0.01)) return "0";
    std::snprintf(buf, sizeof buf, s >= 10 ? "%.0f" : "%.2g", s);
    return buf;
}

}  // namespace

std::string format_delays(double a, double b, double c, double d) {
    return format_delay(a) + "/" + format_delay(b) + "/" + format_delay(c) + "/" + format_delay(d);
}

namespace {}  // namespace

Runner::Runner(event_base* base, QueueStore& store, Committer& committer, RunnerSettings s)
    : base_(base), store_(store), committer_(committer), settings_(std::move(s)) {
    timer_.reset(event_new(base_, -1, 0, on_timer_cb, this));
    local_.name = "local delivery";
    remote_.name = "remote delivery";
    set_settings_only();
}

Runner::~Runner() = default;

void Runner::set_settings_only() {
    local_.socket = settings_.local_socket;
    local_.limit = std::max<size_t>(1, settings_.max_in_flight);
    remote_.socket = settings_.remote_socket;
    remote_.limit = std::max<size_t>(1, settings_.remote_max_in_flight);
}

Result<void> Runner::load() {
    // Nothing is read now: the first pump walks the due index (stored next_try times are
    // kept; a recipient that was in flight at a crash has a time in the past: due at once).
    store_next_ = 0;
    uint64_t next = 0;
    auto r = store_.scan_due(
        0, [](std::string_view, uint64_t) { return false; }, next);
    if (!r) return r;
    log_info(
        "queue: at most %zu messages (%zu recipients) in memory, the rest read from the "
        "store's due index when due",
        settings_.active_limit, settings_.active_recipient_limit);
    arm();  // the first dispatch runs once the loop does
    return {};
}

void Runner::add(Envelope&& env) {
    uint64_t now = now_s();
    bool backlog = store_next_ <= now;  // due mail waits in the store for room
    if (!room(env.recipients.size()) || (backlog && fresh_ >= fresh_share())) {
        // Durable and indexed already: read back when room frees (after due retries).
        if (auto due = envelope_due(env)) store_next_ = std::min(store_next_, *due);
        arm();
        return;
    }
    // Added as soon as it is durable: now is its arrival to within the commit latency.
    double arrived = std::max(static_cast<double>(env.arrival), now_precise() - 0.001);
    Message& m = admit(std::move(env), arrived);
    if (!m.fresh) {
        m.fresh = true;
        ++fresh_;
    }
    pump();
}

bool Runner::room(size_t rcpts) const {
    if (messages_.size() >= std::max<size_t>(1, settings_.active_limit)) return false;
    return messages_.empty() || active_rcpts_ + rcpts <= settings_.active_recipient_limit;
}

Runner::Message& Runner::admit(Envelope&& env, double arrived) {
    if (auto it = messages_.find(env.queue_id); it != messages_.end()) return it->second;
    std::string qid = env.queue_id;
    if (!(env.flags & kEnvelopeHeld))
        for (uint32_t i = 0; i < env.recipients.size(); ++i)
            if (!rcpt_state_final(env.recipients[i].state))
                schedule_.add({env.recipients[i].next_try, qid, i});
    active_rcpts_ += env.recipients.size();
    std::vector<bool> busy(env.recipients.size(), false);
    return messages_
        .emplace(qid, Message{std::move(env), 0, arrived, now_precise(), std::move(busy)})
        .first->second;
}

void Runner::drop(const std::string& qid) {
    auto it = messages_.find(qid);
    if (it == messages_.end()) return;
    active_rcpts_ -= std::min(active_rcpts_, it->second.env.recipients.size());
    if (it->second.fresh && fresh_ > 0) --fresh_;
    messages_.erase(it);
    refill_blocked_ = false;
}

// A message with nothing in flight or waiting, whose open recipients are all deferred to
// later (or that is held), leaves memory; its stored envelope (just written) and the due
// index bring it back. Every recipient final: finish() handles it, not this.
bool Runner::maybe_evict(Message& m, uint64_t now) {
    if (m.in_flight > 0 || m.env.all_final()) return false;
    bool held = (m.env.flags & kEnvelopeHeld) != 0;
    for (uint32_t i = 0; i < m.env.recipients.size(); ++i) {
        const Recipient& rc = m.env.recipients[i];
        if (m.busy[i]) return false;
        if (!held && !rcpt_state_final(rc.state) && rc.next_try <= now) return false;
    }
    if (auto due = envelope_due(m.env)) store_next_ = std::min(store_next_, *due);
    drop(m.env.queue_id);
    return true;
}

Runner::Message* Runner::find_or_load(const std::string& qid) {
    if (auto it = messages_.find(qid); it != messages_.end()) return &it->second;
    auto env = store_.load_envelope(qid);
    if (!env) return nullptr;
    double arrived = static_cast<double>(env->arrival);
    return &admit(std::move(env.value()), arrived);  // an administrator's request: no limit
}

bool Runner::want_refill(uint64_t now) const {
    if (stopped_ || refill_blocked_) return false;
    if (store_next_ > now && !run_pass_) return false;
    size_t limit = std::max<size_t>(1, settings_.active_limit);
    if (messages_.size() >= limit || active_rcpts_ >= settings_.active_recipient_limit)
        return false;
    // A walk passes the active entries too: wait for a batch of room, or a second.
    return limit - messages_.size() >= refill_batch() || now > last_refill_;
}

// Reads due messages from the store into the free room of the active set, earliest
// first; then, during a run-now pass, the next messages in queue-ID order (made due).
void Runner::refill(uint64_t now) {
    last_refill_ = now;
    size_t limit = std::max<size_t>(1, settings_.active_limit);
    size_t free = limit > messages_.size() ? limit - messages_.size() : 0;
    if (store_next_ <= now && free > 0) {
        // Due retries first, then new mail (never tried: due at 0 in the index, which is
        // how it is known as such after a restart too), each earliest due first; the walk
        // passes at most kRefillScan entries.
        std::vector<std::string> ids, spilled;
        bool more = false;
        size_t scanned = 0;
        uint64_t next = UINT64_MAX;
        auto r = store_.scan_due(
            now,
            [&](std::string_view q, uint64_t due) {
                std::string id(q);
                if (messages_.count(id) || unreadable_.count(id)) return true;
                if (ids.size() >= free || ++scanned > kRefillScan) {
                    more = true;
                    return false;
                }
                if (due != 0)
                    ids.push_back(std::move(id));
                else if (spilled.size() < free)
                    spilled.push_back(std::move(id));
                else
                    more = true;  // still to come once room frees
                return true;
            },
            next);
        size_t retries = ids.size();
        for (auto& id : spilled)
            if (ids.size() < free) ids.push_back(std::move(id));
        if (!r) {
            log_error("queue: reading the due index: %s; trying again in 1 s",
                      r.error().message.c_str());
            store_next_ = now + 1;
            return;
        }
        store_next_ = more ? now : next;
        for (size_t k = 0; k < ids.size(); ++k) {
            const std::string& id = ids[k];
            auto env = store_.load_envelope(id);
            if (!env) {
                log_error("%s; left in the store", env.error().message.c_str());
                if (unreadable_.size() < 10000) unreadable_.insert(id);
                continue;
            }
            if (!room(env->recipients.size())) {
                store_next_ = now;
                refill_blocked_ = true;
                break;
            }
            double arrived = static_cast<double>(env->arrival);
            Message& m = admit(std::move(env.value()), arrived);
            if (k >= retries && !m.fresh) {  // new mail: its share of the set
                m.fresh = true;
                ++fresh_;
            }
            if (m.env.all_final()) finish(m);  // crashed before removal
        }
    }
    if (!run_pass_ || refill_blocked_) return;
    free = limit > messages_.size() ? limit - messages_.size() : 0;
    std::vector<Envelope> envs;
    size_t rcpts = active_rcpts_;
    bool more = false;
    std::string last = run_after_;
    auto r = store_.scan_after(
        run_after_,
        [&](Envelope&& e) {
            bool empty = messages_.empty() && envs.empty();
            if (envs.size() >= free ||
                (!empty && rcpts + e.recipients.size() > settings_.active_recipient_limit)) {
                more = true;
                return false;
            }
            last = e.queue_id;
            if (messages_.count(e.queue_id) || (e.flags & kEnvelopeHeld) || e.all_final())
                return true;  // active (made due already), held, or finished by the index
            rcpts += e.recipients.size();
            envs.push_back(std::move(e));
            return true;
        },
        [](const Error&) {});  // reported when the due index reaches it
    run_after_ = last;
    if (!r || !more) run_pass_ = false;
    for (Envelope& e : envs) {
        double arrived = static_cast<double>(e.arrival);
        make_due(admit(std::move(e), arrived), now);
    }
}

// Entries of messages that left memory stay in the heap until popped; when they outnumber
// the active recipients, the heap is rebuilt from the active set.
void Runner::compact_schedule() {
    if (schedule_.size() <= 2 * active_rcpts_ + 1024) return;
    schedule_.clear();
    for (const auto& [qid, m] : messages_) {
        if (m.env.flags & kEnvelopeHeld) continue;
        for (uint32_t i = 0; i < m.env.recipients.size(); ++i)
            if (!m.busy[i] && !rcpt_state_final(m.env.recipients[i].state))
                schedule_.add({m.env.recipients[i].next_try, qid, i});
    }
}

void Runner::set_settings(RunnerSettings s) {
    settings_ = std::move(s);
    set_settings_only();
    pump();
}

void Runner::stop() {
    stopped_ = true;
    if (timer_) event_del(timer_.get());
}

void Runner::on_timer_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Runner*>(arg);
    try {
        self->local_.dead.reset();
        self->remote_.dead.reset();
        self->pump();
    } catch (const std::exception& e) {
        log_error("queue runner: %s", e.what());
    }
}

// Connects agents that have work, starts what fits, parks the rest, then sets the timer.
void Runner::pump() {
    if (stopped_) return;
    if (pumping_) {  // called again from inside (a bounce added by finish): loop once more
        repump_ = true;
        return;
    }
    struct Guard {
        bool& flag;
        ~Guard() { flag = false; }
    } guard{pumping_};
    pumping_ = true;
    do {
        repump_ = false;
        pump_once();
    } while (repump_ && !stopped_);
    compact_schedule();
    arm();
}

void Runner::pump_once() {
    uint64_t now = now_s();
    if (want_refill(now)) refill(now);
    bool due = !schedule_.empty() && schedule_.next_time() <= now;
    for (Agent* a : {&local_, &remote_})
        if (!a->chan && (due || waiting_count_ > 0) && now >= a->reconnect_at && !a->socket.empty())
            connect_agent(*a);
    drain_waiting(now);
    Due d;
    while (schedule_.pop_due(now, d))
        dispatch(d);
}

void Runner::arm() {
    if (stopped_ || !timer_) return;
    uint64_t now = now_s();
    uint64_t at = UINT64_MAX;
    if (!schedule_.empty()) at = schedule_.next_time();
    size_t limit = std::max<size_t>(1, settings_.active_limit);
    if ((store_next_ != UINT64_MAX || run_pass_) && !refill_blocked_ && messages_.size() < limit) {
        uint64_t t = run_pass_ ? now : store_next_;
        if (limit - messages_.size() < refill_batch()) t = std::max(t, last_refill_ + 1);
        at = std::min(at, t);
    }
    if (waiting_count_ > 0)
        for (const Agent* a : {&local_, &remote_})
            if (!a->chan) at = std::min(at, std::max(a->reconnect_at, now + 1));
    if (at == UINT64_MAX) return;
    timeval tv{static_cast<time_t>(at > now ? at - now : 0), at > now ? 0 : 1000};
    event_add(timer_.get(), &tv);
}

bool Runner::connect_agent(Agent& a) {
    auto fd = connect_unix(a.socket);
    const char* why = nullptr;
    std::string err;
    if (!fd) {
        err = fd.error().message;
        why = err.c_str();
    } else if (!trusted_peer(peer_uid(fd->get()), &a == &remote_ ? "remote" : "local")) {
        why = "peer runs as another user";
    }
    if (why) {
        a.reconnect_delay =
            std::min(a.reconnect_delay ? a.reconnect_delay * 2 : 1, kMaxReconnectDelay);
        a.reconnect_at = now_s() + a.reconnect_delay;
        log_warning("%s unavailable (%s): retrying in %llus", a.name, why,
                    static_cast<unsigned long long>(a.reconnect_delay));
        return false;
    }
    Agent* ap = &a;
    a.chan = std::make_unique<ipc::Channel>(
        base_, std::move(fd.value()),
        [this, ap](ipc::MsgType t, std::string_view p, std::vector<UniqueFd>&) {
            on_frame(*ap, t, p);
        },
        [this, ap](const std::string& w) { on_agent_closed(*ap, w); });
    a.reconnect_delay = 0;
    log_debug("connected to %s at %s", a.name, a.socket.c_str());
    return true;
}

// Every request in flight to the agent goes back to the schedule unchanged (no result,
// no state change).
void Runner::on_agent_closed(Agent& a, const std::string& why) {
    uint64_t now = now_s();
    size_t n = 0;
    for (auto it = flights_.begin(); it != flights_.end();) {
        Flight& f = it->second;
        if (f.agent != &a) {
            ++it;
            continue;
        }
        auto m = messages_.find(f.queue_id);
        if (m != messages_.end()) {
            --m->second.in_flight;
            for (uint32_t i : f.rcpts) {
                m->second.busy[i] = false;
                schedule_.add({now, f.queue_id, i});
            }
        }
        auto d = dests_.find(f.dest);
        if (d != dests_.end() && d->second.in_flight > 0) --d->second.in_flight;
        ++n;
        it = flights_.erase(it);
    }
    log_warning("%s connection closed (%s): %zu request%s rescheduled", a.name, why.c_str(), n,
                n == 1 ? "" : "s");
    a.in_flight = 0;
    a.dead = std::move(a.chan);
    a.reconnect_at = now + 1;
    if (stopped_ && flights_.empty() && on_drained_) on_drained_();
    arm();
}

void Runner::on_frame(Agent& a, ipc::MsgType type, std::string_view payload) {
    if (type == ipc::MsgType::deliver_redirect && &a == &local_) {
        ipc::DeliverRedirectMsg rd;
        if (ipc::decode(payload, rd) && on_redirect(a, std::move(rd))) return;
        log_error("%s sent a bad %s frame: closing", a.name, ipc::msg_type_name(type));
        a.chan->close();
        on_agent_closed(a, "protocol error");
        return;
    }
    ipc::DeliverResultMsg r;
    if (type != ipc::MsgType::deliver_result || !ipc::decode(payload, r)) {
        log_error("%s sent a bad %s frame: closing", a.name, ipc::msg_type_name(type));
        a.chan->close();
        on_agent_closed(a, "protocol error");
        return;
    }
    on_result(a, r);
    pump();
}

// A due entry starts the requests for its message: every recipient of the message that
// is due is routed, and each group of one agent and next hop becomes one request (or
// waits in its destination's queue). Other entries of the same message, popped later,
// find their recipients busy or no longer due and are dropped.
bool Runner::dispatch(const Due& d) {
    auto it = messages_.find(d.queue_id);
    if (it == messages_.end()) return false;
    Message& m = it->second;
    uint64_t now = now_s();
    auto due = [&](uint32_t i) {
        const Recipient& rc = m.env.recipients[i];
        return !rcpt_state_final(rc.state) && !m.busy[i] && rc.next_try <= now;
    };
    if (m.env.flags & kEnvelopeHeld) {  // released: make_due schedules it again
        maybe_evict(m, now);
        return false;
    }
    if (d.rcpt >= m.env.recipients.size() || !due(d.rcpt)) return false;
    // Group by (transport, next hop, rewrite) in first-seen order.
    std::vector<std::pair<Route, std::vector<uint32_t>>> groups;
    for (uint32_t i = 0; i < m.env.recipients.size(); ++i) {
        if (!due(i)) continue;
        const Recipient& rc = m.env.recipients[i];
        Route r = route_recipient(rc.address, settings_.routing, rc.route == kRouteMailbox);
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) {
            return x.first.transport == r.transport && x.first.next_hop == r.next_hop &&
                   x.first.rewrite == r.rewrite && x.first.text == r.text;
        });
        if (g == groups.end())
            groups.emplace_back(std::move(r), std::vector<uint32_t>{i});
        else
            g->second.push_back(i);
    }
    bool answered = false;
    double t = now_precise();
    std::string error_delays = format_delays(m.entered - m.arrived, t - m.entered, 0, 0);
    for (auto& [route, rcpts] : groups) {
        if (route.transport == Transport::error) {
            ipc::RcptResult rr;
            rr.status = route.status == 5 ? ipc::kStatusPerm : ipc::kStatusTemp;
            rr.dsn = route.dsn;
            rr.text = route.text;
            for (uint32_t i : rcpts) {
                rr.index = i;
                apply_result(m, i, rr, "error", error_delays, now);
            }
            answered = true;
            continue;
        }
        route_group(m, route, std::move(rcpts), now);
    }
    if (answered) settle(m);  // may remove m
    return true;
}

// The most recipients one request to route's next hop may carry (one mail transaction);
// 0: no limit. Local is never split: the local agent delivers each recipient on its own.
size_t Runner::recipient_limit(const Route& route) const {
    switch (route.transport) {
        case Transport::smtp:
            return settings_.smtp_recipient_limit;
        case Transport::lmtp:
            return settings_.lmtp_recipient_limit;
        case Transport::local:
        case Transport::error:
            break;
    }
    return 0;
}

// Sends one group now when its destination and agent have room, else queues it there. A
// group past its transport's recipient limit becomes several, each a request of its own.
void Runner::route_group(Message& m, const Route& route, std::vector<uint32_t> rcpts,
                         uint64_t now) {
    size_t limit = recipient_limit(route);
    if (limit > 0 && rcpts.size() > limit) {
        for (size_t i = 0; i < rcpts.size(); i += limit) {
            size_t end = std::min(rcpts.size(), i + limit);
            route_group(m, route,
                        std::vector<uint32_t>(rcpts.begin() + static_cast<std::ptrdiff_t>(i),
                                              rcpts.begin() + static_cast<std::ptrdiff_t>(end)),
                        now);
        }
        return;
    }
    Agent& a = agent_for(route);
    std::string dest = route.transport == Transport::smtp   ? "smtp:" + route.next_hop
                       : route.transport == Transport::lmtp ? "lmtp:" + route.next_hop
                                                            : "local";
    Destination& d = dests_[dest];
    if (a.chan && d.waiting.empty() && d.in_flight < dest_limit(a) && a.in_flight < a.limit) {
        send_request(m, a, dest, route, std::move(rcpts), now);
        return;
    }
    for (uint32_t i : rcpts)
        m.busy[i] = true;
    d.waiting.push_back(Waiting{m.env.queue_id, std::move(rcpts), route});
    ++waiting_count_;
}

// Starts waiting groups wherever a destination and its agent have room.
void Runner::drain_waiting(uint64_t now) {
    if (waiting_count_ == 0) return;
    for (auto it = dests_.begin(); it != dests_.end();) {
        Destination& d = it->second;
        while (!d.waiting.empty()) {
            Waiting& w = d.waiting.front();
            Agent& a = agent_for(w.route);
            if (!a.chan || d.in_flight >= dest_limit(a) || a.in_flight >= a.limit) break;
            Waiting taken = std::move(w);
            d.waiting.pop_front();
            --waiting_count_;
            auto m = messages_.find(taken.queue_id);
            if (m == messages_.end()) continue;
            std::vector<uint32_t> open;
            for (uint32_t i : taken.rcpts) {
                m->second.busy[i] = false;
                if (!rcpt_state_final(m->second.env.recipients[i].state)) open.push_back(i);
            }
            if (!open.empty())
                send_request(m->second, a, it->first, taken.route, std::move(open), now);
        }
        if (d.waiting.empty() && d.in_flight == 0)
            it = dests_.erase(it);
        else
            ++it;
    }
}

bool Runner::send_request(Message& m, Agent& a, const std::string& dest, const Route& route,
                          std::vector<uint32_t> rcpts, uint64_t now) {
    const std::string& qid = m.env.queue_id;
    // The body file itself when the store keeps one (read-only, the message a range of it),
    // else a sealed memfd: the agent maps it; no copy of the whole body per attempt here.
    auto body = store_.open_body(qid);
    if (!body) {
        log_error("%s: %s; retrying later", qid.c_str(), body.error().message.c_str());
        for (uint32_t i : rcpts)
            schedule_.add({now + retry_delay(settings_.retry, 1), qid, i});
        return false;
    }
    ipc::DeliverMsg dm;
    dm.request_id = next_request_++;
    dm.queue_id = qid;
    dm.sender = m.env.sender;
    dm.recipients.reserve(rcpts.size());
    for (uint32_t i : rcpts) {
        const Recipient& rc = m.env.recipients[i];
        std::string addr = rc.address;
        if (!route.rewrite.empty()) {
            addr = route.rewrite;
            if (addr.find('@') == std::string::npos && !settings_.routing.local_domains.empty())
                addr += "@" + settings_.routing.local_domains.front();
        }
        dm.recipients.push_back(ipc::DeliverRcpt{i, addr, orcpt_to_pass(rc), rc.notify});
        m.busy[i] = true;
    }
    dm.next_hop = route.transport == Transport::lmtp ? "lmtp:" + route.next_hop : route.next_hop;
    dm.envid = m.env.envid;
    dm.flags = m.env.flags & ~(kEnvelopeHeld | kEnvelopeDelayWarned);
    dm.arrival_time = m.env.arrival;
    dm.body_offset = body->offset;
    dm.body_size = body->size;
    flights_[dm.request_id] = Flight{qid, std::move(rcpts), &a, dest, {}, now_precise()};
    ++m.in_flight;
    ++a.in_flight;
    ++dests_[dest].in_flight;
    a.chan->send(ipc::encode(dm),
                 {body->fd.get()});  // a failed write reschedules via on_agent_closed
    return true;
}

// Held with the flight until its result; false (a protocol error) for an unknown request
// or a recipient not in it.
bool Runner::on_redirect(Agent& a, ipc::DeliverRedirectMsg r) {
    auto f = flights_.find(r.request_id);
    if (f == flights_.end() || f->second.agent != &a) return false;
    const auto& rc = f->second.rcpts;
    if (std::find(rc.begin(), rc.end(), r.index) == rc.end()) return false;
    f->second.redirects.push_back(std::move(r));
    return true;
}

// New recipients for idx's expansion: each address once per envelope (an address already
// there, by any path, is not added again), with idx's ORCPT and NOTIFY so a DSN names
// what the sender wrote; after an expansion to several (expanded: reported as such)
// without NOTIFY=SUCCESS, NEVER when nothing else was asked (RFC 3461 6.2.1(c)). Part of
// the state change the caller persists.
void Runner::add_redirects(Message& m, uint32_t idx, const ipc::DeliverRedirectMsg& r,
                           bool expanded, uint64_t now) {
    const Recipient parent = m.env.recipients[idx];
    uint32_t notify = parent.notify;
    if (expanded && (notify & ipc::kNotifySuccess)) {
        notify &= ~ipc::kNotifySuccess;
        if (notify == 0) notify = ipc::kNotifyNever;
    }
    send_owned(m, idx, r, now);
    for (const auto& t : r.targets) {
        if (!t.sender.empty()) continue;  // sent from its list's owner (send_owned)
        std::string route = t.route == ipc::kRedirectMailbox ? kRouteMailbox : "";
        bool have = std::any_of(
            m.env.recipients.begin(), m.env.recipients.end(),
            [&](const Recipient& x) { return x.address == t.address && x.route == route; });
        if (have) continue;
        if (m.env.recipients.size() >= kMaxRecipients) {
            log_warning("%s: <%s> expands past %zu recipients: <%s> dropped",
                        m.env.queue_id.c_str(), parent.address.c_str(), kMaxRecipients,
                        t.address.c_str());
            continue;
        }
        Recipient n;
        n.address = printable(t.address);
        n.orcpt = parent.orcpt.empty() ? parent.address : parent.orcpt;
        n.notify = notify;
        n.dsn_orcpt = parent.dsn_orcpt;  // the client's ORCPT follows its address (RFC 3461 6.2.7)
        n.route = route;
        m.env.recipients.push_back(std::move(n));
        m.busy.push_back(false);
        ++active_rcpts_;  // the message's count, as drop() takes it back
        auto ni = static_cast<uint32_t>(m.env.recipients.size() - 1);
        schedule_.add({now, m.env.queue_id, ni});
        log_info("%s: <%s> expanded to <%s>%s", m.env.queue_id.c_str(), parent.address.c_str(),
                 t.address.c_str(), route.empty() ? "" : " (mailbox_transport)");
    }
}

// The members of a list with an owner that local does not deliver (elsewhere, or failed
// there): a new message per owner, from the owner, with m's body, so that their bounces
// go to the owner and never to m's sender. Nothing of the sender's DSN request goes with
// them (a list expansion: RFC 3461 6.2.1(c)). Stored before the state change that makes
// idx final: a crash between the two may send them twice, never lose them.
void Runner::send_owned(const Message& m, uint32_t idx, const ipc::DeliverRedirectMsg& r,
                        uint64_t now) {
    std::vector<std::pair<std::string, std::vector<std::string>>> owners;
    for (const auto& t : r.targets) {
        if (t.sender.empty()) continue;
        std::string sender = printable(t.sender), addr = printable(t.address);
        auto o = std::find_if(owners.begin(), owners.end(),
                              [&](const auto& x) { return x.first == sender; });
        if (o == owners.end()) o = owners.insert(owners.end(), {sender, {}});
        if (std::find(o->second.begin(), o->second.end(), addr) == o->second.end() &&
            o->second.size() < kMaxRecipients)
            o->second.push_back(std::move(addr));
    }
    if (owners.empty()) return;
    const std::string& qid = m.env.queue_id;
    auto body = store_.load_body(qid);
    if (!body) {
        log_error("%s: cannot read the body for the members of <%s>: %s", qid.c_str(),
                  m.env.recipients[idx].address.c_str(), body.error().message.c_str());
        return;
    }
    for (auto& [sender, addrs] : owners) {
        Envelope e;
        e.queue_id = new_queue_id();
        e.sender = sender;
        e.arrival = now;
        e.client_addr = "127.0.0.1";
        e.client_name = "localhost";
        e.helo = settings_.hostname;
        e.protocol = m.env.protocol;
        e.flags = m.env.flags & (ipc::kFlag8BitMime | ipc::kFlagSmtputf8);
        for (auto& a : addrs) {
            Recipient n;
            n.address = std::move(a);
            e.recipients.push_back(std::move(n));
        }
        std::string err;
        if (store_.put(e, *body, err) != PutStatus::ok) {
            log_error("%s: cannot queue the members of <%s> from <%s> (%s)", qid.c_str(),
                      m.env.recipients[idx].address.c_str(), sender.c_str(), err.c_str());
            continue;
        }
        committer_.note_commit();
        log_info("%s: <%s> expanded to %zu address(es) from <%s>: %s", qid.c_str(),
                 m.env.recipients[idx].address.c_str(), e.recipients.size(), sender.c_str(),
                 e.queue_id.c_str());
        queue_report(std::move(e));
    }
}

void Runner::on_result(Agent& a, const ipc::DeliverResultMsg& r) {
    auto f = flights_.find(r.request_id);
    if (f == flights_.end() || f->second.agent != &a) {
        log_warning("%s reported unknown request %llu", a.name,
                    static_cast<unsigned long long>(r.request_id));
        return;
    }
    Flight fl = std::move(f->second);
    flights_.erase(f);
    if (a.in_flight > 0) --a.in_flight;
    auto d = dests_.find(fl.dest);
    if (d != dests_.end() && d->second.in_flight > 0) --d->second.in_flight;
    auto it = messages_.find(fl.queue_id);
    if (it != messages_.end()) {
        Message& m = it->second;
        --m.in_flight;
        uint64_t now = now_s();
        // c and d as the agent measured them; an agent that does not (local) has its
        // whole time as d.
        double t = now_precise(), c = r.setup_ms / 1000.0, dt = r.xfer_ms / 1000.0;
        if (r.setup_ms == 0 && r.xfer_ms == 0) dt = t - fl.sent;
        std::string delays = format_delays(m.entered - m.arrived, fl.sent - m.entered, c, dt);
        for (uint32_t i : fl.rcpts) {
            m.busy[i] = false;
            const ipc::RcptResult* res = nullptr;
            for (const auto& rr : r.results)
                if (rr.index == i) res = &rr;
            if (res) {
                apply_result(m, i, *res, r.relay, delays, now);
                if (rcpt_state_final(m.env.recipients[i].state))
                    for (const auto& rd : fl.redirects)
                        if (rd.index == i)
                            add_redirects(m, i, rd, (res->flags & ipc::kResultExpanded) != 0, now);
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
        settle(m);  // may remove m
    }
    if (stopped_ && flights_.empty() && on_drained_) on_drained_();
}

// When a result makes every recipient final, the removal (or bounce) is the state change:
// one transaction instead of a rewrite followed by a delete.
// Then a message left with only later work leaves memory (maybe_evict).
void Runner::settle(Message& m) {
    if (m.in_flight == 0 && m.env.all_final() && finish(m)) return;  // m is gone
    persist(m);
    maybe_evict(m, now_s());
}

void Runner::apply_result(Message& m, uint32_t idx, const ipc::RcptResult& r,
                          const std::string& relay_name, const std::string& delays, uint64_t now) {
    Recipient& rc = m.env.recipients[idx];
    rc.dsn = printable(r.dsn.substr(0, 16));
    rc.text = printable(r.text.substr(0, kMaxStoredText));
    const char* status = "deferred";
    if (r.status == ipc::kStatusOk) {
        rc.state = RcptState::sent;
        status = "sent";
        // NOTIFY=SUCCESS: reported by us unless the next hop took the request (RFC 3461
        // 5.2.2); a peer without DSN makes it "relayed". Never for the null sender.
        if (notify_wants(rc.notify, ipc::kNotifySuccess) && !m.env.sender.empty() &&
            !(r.flags & ipc::kResultDsnPassed)) {
            m.success.resize(m.env.recipients.size(), SuccessAction::none);
            m.success[idx] = (r.flags & ipc::kResultExpanded)  ? SuccessAction::expanded
                             : (r.flags & ipc::kResultRelayed) ? SuccessAction::relayed
                                                               : SuccessAction::delivered;
        }
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
            maybe_warn(m, now);
        }
    }
    if (rc.dsn.empty()) rc.dsn = r.status == ipc::kStatusOk ? "2.0.0" : "4.0.0";
    std::string relay = relay_name.empty() ? "local" : printable(relay_name);
    double delay = std::max(0.0, now_precise() - m.arrived);
    log_info("%s: to=<%s>, relay=%s, delay=%.2f, delays=%s, dsn=%s, status=%s (%s)",
             m.env.queue_id.c_str(), rc.address.c_str(), relay.c_str(), delay, delays.c_str(),
             rc.dsn.c_str(), status, rc.text.c_str());
}

// The delay warning, once per message: stored as a new message (the original's flag is
// persisted with its next state change; a crash in between may repeat the warning).
void Runner::maybe_warn(Message& m, uint64_t now) {
    if (!needs_delay_warning(m.env, now, settings_.delay_warning)) return;
    Bounce b = report(DsnKind::delay, m, now);
    std::string err;
    if (store_.put(b.envelope, b.body, err) != PutStatus::ok) {
        log_error("%s: cannot queue the delay warning (%s)", m.env.queue_id.c_str(), err.c_str());
        return;
    }
    committer_.note_commit();
    m.env.flags |= kFlagDelayWarned;
    log_info("%s: sender delay notification: %s", m.env.queue_id.c_str(),
             b.envelope.queue_id.c_str());
    queue_report(std::move(b.envelope));
}

// A report just stored: dispatched by the next pump, never inside this result; read from
// the store when the active set is full.
void Runner::queue_report(Envelope&& e) {
    if (!room(e.recipients.size())) {
        store_next_ = 0;
        return;
    }
    double arrived = static_cast<double>(e.arrival);
    admit(std::move(e), arrived);
}

DsnOptions Runner::dsn_options(const Message& m) const {
    DsnOptions o;
    o.postmaster = "postmaster@" + settings_.hostname;
    o.size_limit = settings_.bounce_size_limit;
    o.successes = m.success;
    return o;
}

// A body that cannot be read is reported as an empty one, as the report still has to go.
Bounce Runner::report(DsnKind kind, const Message& m, uint64_t now) {
    DsnOptions opt = dsn_options(m);
    const std::string& qid = m.env.queue_id;
    DsnSource src;
    if (auto size = store_.body_size(qid)) {
        auto read = read_dsn_source(kind, m.env, *size, opt,
                                    [&](uint64_t n) { return store_.load_body_prefix(qid, n); });
        if (read) {
            src = std::move(*read);
        } else {
            log_error("%s: cannot read the body for the report: %s", qid.c_str(),
                      read.error().message.c_str());
        }
    }
    opt.body_size = src.size;
    return make_dsn(kind, m.env, src.text, settings_.hostname, new_queue_id(), now, opt);
}

// One transaction per state change; the committer flushes it with the next batch. A
// success report due goes in the same transaction.
void Runner::persist(Message& m) {
    if (needs_success_report(m.env, m.success)) {
        Bounce b = report(DsnKind::success, m, now_s());
        std::string err;
        if (store_.update_and_put(m.env, b.envelope, b.body, err) == PutStatus::ok) {
            committer_.note_commit();
            m.success.clear();
            log_info("%s: sender delivery status notification: %s", m.env.queue_id.c_str(),
                     b.envelope.queue_id.c_str());
            queue_report(std::move(b.envelope));
            return;
        }
        // Kept in memory: the next state change of this message stores it.
        log_error("%s: cannot queue the success notification (%s)", m.env.queue_id.c_str(),
                  err.c_str());
    }
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
    bool dbl = needs_double_bounce(m.env);
    bool failed = needs_bounce(m.env), succeeded = needs_success_report(m.env, m.success);
    if (failed || succeeded || dbl) {
        DsnKind kind = dbl ? DsnKind::double_bounce : failed ? DsnKind::failure : DsnKind::success;
        Bounce b = report(kind, m, now_s());
        std::string err;
        if (store_.remove_and_put(qid, b.envelope, b.body, err) != PutStatus::ok) {
            log_error("%s: cannot queue the bounce (%s): message kept", qid.c_str(), err.c_str());
            return false;
        }
        committer_.note_commit();
        if (dbl)
            log_info("%s: undeliverable notification: postmaster notified: %s", qid.c_str(),
                     b.envelope.queue_id.c_str());
        else if (failed)
            log_info("%s: sender non-delivery notification: %s", qid.c_str(),
                     b.envelope.queue_id.c_str());
        else
            log_info("%s: sender delivery status notification: %s", qid.c_str(),
                     b.envelope.queue_id.c_str());
        log_info("%s: removed", qid.c_str());
        drop(qid);
        add(std::move(b.envelope));
        return true;
    }
    for (const auto& rc : m.env.recipients)
        if (rc.state == RcptState::failed) {
            if (m.env.protocol == kProtocolDoubleBounce)
                log_warning("%s: undeliverable double bounce to <%s>: dropped (logged only)",
                            qid.c_str(), rc.address.c_str());
            else
                log_info("%s: no notification for failed recipients (NOTIFY)", qid.c_str());
            break;
        }
    auto r = store_.remove(qid);
    if (!r) {
        log_error("%s: cannot remove: %s", qid.c_str(), r.error().message.c_str());
        return false;
    }
    committer_.note_commit();
    log_info("%s: removed", qid.c_str());
    drop(qid);
    return true;
}

// ---- control requests

void Runner::for_each(const std::function<void(const Envelope&, bool active, uint64_t size)>& f) {
    auto r = store_.scan(
        [&](Envelope&& env) {
            auto it = messages_.find(env.queue_id);
            if (it == messages_.end()) {
                auto size = store_.body_size(env.queue_id);
                f(env, false, size ? *size : 0);
                return;
            }
            Message& m = it->second;
            if (m.size == 0)
                if (auto size = store_.body_size(m.env.queue_id)) m.size = *size;
            f(m.env, m.in_flight > 0, m.size);
        },
        [](const Error& e) { log_error("%s; left in the store", e.message.c_str()); });
    if (!r) log_error("queue listing: %s", r.error().message.c_str());
}

void Runner::make_due(Message& m, uint64_t now) {
    for (uint32_t i = 0; i < m.env.recipients.size(); ++i) {
        Recipient& rc = m.env.recipients[i];
        if (rcpt_state_final(rc.state) || m.busy[i]) continue;
        rc.next_try = now;
        schedule_.add({now, m.env.queue_id, i});  // an older entry, popped later, is dropped
    }
}

size_t Runner::run_now(const std::vector<std::string>& ids) {
    uint64_t now = now_s();
    size_t n = 0;
    auto one = [&](Message& m) {
        if (m.env.flags & kEnvelopeHeld) return;
        make_due(m, now);
        ++n;
    };
    if (ids.empty()) {
        for (auto& [qid, m] : messages_)
            one(m);
        run_pass_ = true;  // and the stored ones, read in queue-ID order as room allows
        run_after_.clear();
    } else {
        for (const auto& id : ids)
            if (Message* m = find_or_load(id)) one(*m);
    }
    if (n) log_info("queue run requested: %zu message%s due now", n, n == 1 ? "" : "s");
    pump();
    return n;
}

size_t Runner::hold(const std::vector<std::string>& ids) {
    size_t n = 0;
    uint64_t now = now_s();
    for (const auto& id : ids) {
        Message* m = find_or_load(id);
        if (!m) continue;
        if (!(m->env.flags & kEnvelopeHeld)) {
            m->env.flags |= kEnvelopeHeld;
            persist(*m);
            log_info("%s: held", id.c_str());
            ++n;
        }
        maybe_evict(*m, now);  // unless a delivery is in flight: then after its result
    }
    pump();
    return n;
}

size_t Runner::release(const std::vector<std::string>& ids) {
    uint64_t now = now_s();
    size_t n = 0;
    for (const auto& id : ids) {
        Message* m = find_or_load(id);
        if (!m) continue;
        if (!(m->env.flags & kEnvelopeHeld)) {
            maybe_evict(*m, now);
            continue;
        }
        m->env.flags &= ~kEnvelopeHeld;
        make_due(*m, now);
        persist(*m);  // with next_try now: the due index has it even if it leaves memory
        log_info("%s: released", id.c_str());
        ++n;
    }
    pump();
    return n;
}

size_t Runner::remove(const std::vector<std::string>& ids, std::vector<std::string>& busy) {
    size_t n = 0;
    for (const auto& id : ids) {
        auto it = messages_.find(id);
        if (it != messages_.end() && it->second.in_flight > 0) {
            busy.push_back(id);
            continue;
        }
        if (auto r = store_.remove(id); !r) {
            if (r.error().exit == Exit::no_input) continue;  // no such message
            log_error("%s: cannot delete: %s", id.c_str(), r.error().message.c_str());
            busy.push_back(id);
            continue;
        }
        committer_.note_commit();
        drop(id);  // its schedule entries find no message and are dropped
        log_info("%s: deleted by the administrator", id.c_str());
        ++n;
    }
    pump();
    return n;
}

}  // namespace tegami::queue
