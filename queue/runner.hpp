// runner.hpp - the queue runner. The active set, as Postfix's qmgr: at most
// queue_active_limit messages (queue_active_recipient_limit recipients) are in memory,
// those being worked on; a message whose open recipients are all deferred to later (or
// that is held) is written and dropped from memory, and the rest are found in the store's
// due index (store.hpp scan_due) when they are due and there is room, earliest first. So
// the memory used does not grow with the queue, and intake never waits for the runner: a
// new message that finds the set full is already durable and indexed, and is read back
// when room frees. An in-memory schedule of the active recipients; each due recipient is routed
// (queue/route.hpp) to a transport and next hop, and the due recipients of one message for one
// agent and next hop go out as one DeliverMsg (the body loaded from the store once per attempt into
// a sealed memfd that travels with the frame): local to the local agent, smtp and lmtp (next hop
// "lmtp:DEST") to the remote agent, which speaks both (as Postfix's smtp(8) is also its lmtp(8)),
// an error route answered at once. Per-destination queues, as Postfix's qmgr: each
// next hop has at most smtp_destination_concurrency_limit requests in flight (and the remote agent
// smtp_concurrency_limit, local max_in_flight); what does not fit waits in its destination's queue,
// so a slow or dead destination holds up only its own mail; an smtp (lmtp) group of more than
// smtp_destination_recipient_limit (lmtp_destination_recipient_limit) recipients is split
// into requests (mail transactions) of at most that many, each with its own result. Under overload
// new mail and due retries share the active set (as Postfix's qmgr alternates its incoming and
// deferred queues): see fresh_ below. Each DeliverResultMsg applies one result per recipient and
// becomes one state change (one transaction); the addresses local expanded a recipient to but does
// not deliver itself (another domain's, or a mailbox for mailbox_transport: DeliverRedirectMsg)
// join the envelope as new recipients in that same transaction, once the expanded recipient's
// result is final; a message whose recipients are all final is removed, with its bounce stored in
// the same transaction when one is due.
//
// Called by the queue daemon on the loop thread: add() for each newly durable message,
// the channel callbacks for results. Trusts local for outcomes (peer uid checked), not
// for well-formed data: a bad frame closes the channel and every outstanding delivery is
// rescheduled unchanged (at-least-once; no state change without a result).
#pragma once

#include <event2/event.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/backoff.hpp"
#include "queue/bounce.hpp"
#include "queue/committer.hpp"
#include "queue/route.hpp"
#include "queue/schedule.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

struct RunnerSettings {
    RetryPolicy retry;
    size_t max_in_flight = 20;  // local agent
    std::string local_socket;
    std::string remote_socket;
    std::string hostname;
    RoutingTables routing;
    size_t remote_max_in_flight = 100;
    size_t destination_limit = 20;
    // Per request (one mail transaction) to an smtp or an lmtp next hop; 0: none. Local
    // requests are never split.
    size_t smtp_recipient_limit = 50;
    size_t lmtp_recipient_limit = 50;
    uint64_t delay_warning = 0;             // seconds; 0: never
    uint64_t bounce_size_limit = 50000;     // largest message a DSN returns whole
    size_t active_limit = 20000;            // messages in memory
    size_t active_recipient_limit = 20000;  // their recipients (one bigger message still fits)
};

// The delays= log field "a/b/c/d" (seconds), as Postfix's: a before the active set (from
// arrival until the message last entered it: for a retry, the time it waited deferred
// in the store), b in the active set before
// the agent got the request (waiting for a destination slot), c the agent's connection
// setup, d its transmission (local delivery: the whole delivery, c = 0).
std::string format_delays(double a, double b, double c, double d);

class Runner {
  public:
    Runner(event_base* base, QueueStore& store, Committer& committer, RunnerSettings s);
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    ~Runner();

    // Start-up: the due index is read as the loop runs (stored next_try times are kept;
    // what was in flight at a crash is due again at once, its time being in the past).
    Result<void> load();
    void add(Envelope&& env);
    void set_settings(RunnerSettings s);
    // Stops dispatching; results of deliveries in flight are still taken.
    void stop();
    size_t in_flight() const { return flights_.size(); }
    size_t messages() const { return messages_.size(); }  // in memory (the active set)
    bool active(const std::string& id) const { return messages_.count(id) != 0; }
    size_t fresh() const { return fresh_; }  // of them, those that came in as new mail
    size_t recipients() const { return active_rcpts_; }
    // Called when the last delivery in flight has reported (for a clean stop).
    void set_on_drained(std::function<void()> f) { on_drained_ = std::move(f); }

    // Control requests (queue/control.cpp), by exact queue ID; a message not in memory is
    // read from the store for it. for_each lists every stored message (the in-memory state
    // where it is active). run_now makes every waiting recipient due now (no IDs: every
    // message, read from the store in queue-ID order as room allows); hold sets kEnvelopeHeld
    // (persisted), release clears it and makes the message due; remove deletes a message that has
    // no delivery in flight (those are named in `busy`). Each returns the messages changed.
    void for_each(const std::function<void(const Envelope&, bool active, uint64_t size)>& f);
    size_t run_now(const std::vector<std::string>& ids);
    size_t hold(const std::vector<std::string>& ids);
    size_t release(const std::vector<std::string>& ids);
    size_t remove(const std::vector<std::string>& ids, std::vector<std::string>& busy);

  private:
    struct Message {
        Envelope env;
        uint32_t in_flight = 0;  // requests outstanding for this message
        double arrived = 0;      // sub-second arrival for delay= (the record keeps whole seconds)
        double entered = 0;      // when it entered the active set (delays= a and b)
        std::vector<bool> busy;  // per recipient: in a request now, or waiting for a slot
        uint64_t size = 0;       // body octets, for listings (0: not read yet)
        // Per recipient (or empty): a NOTIFY=SUCCESS delivery not yet reported; stored
        // with the state change that records it (persist/finish), in memory until then.
        std::vector<SuccessAction> success = {};
        bool fresh = false;  // admitted by add() (new mail), not read back from the store
    };
    // One agent connection (local or remote) and its reconnect state.
    struct Agent {
        const char* name = "";
        std::string socket;
        std::unique_ptr<ipc::Channel> chan;
        std::unique_ptr<ipc::Channel> dead;  // freed on the next timer, not in its callback
        uint64_t reconnect_at = 0;           // seconds; down until then
        uint64_t reconnect_delay = 0;
        size_t in_flight = 0;
        size_t limit = 0;
    };
    struct Flight {
        std::string queue_id;
        std::vector<uint32_t> rcpts;  // the recipients of this request
        Agent* agent = nullptr;
        std::string dest;  // per-destination queue key
        // local's expansions to addresses it does not deliver (DeliverRedirectMsg),
        // applied with the result when that is final
        std::vector<ipc::DeliverRedirectMsg> redirects;
        double sent = 0;  // when the request went to the agent (delays= b, d)
    };
    // Recipients of one message routed to one destination, waiting for a free slot.
    struct Waiting {
        std::string queue_id;
        std::vector<uint32_t> rcpts;
        Route route;
    };
    struct Destination {
        size_t in_flight = 0;
        std::deque<Waiting> waiting;
    };

    static void on_timer_cb(evutil_socket_t, short, void* arg) noexcept;
    void set_settings_only();
    void pump();
    void pump_once();
    bool room(size_t rcpts) const;
    Message& admit(Envelope&& env, double arrived);
    void drop(const std::string& qid);
    bool maybe_evict(Message& m, uint64_t now);
    Message* find_or_load(const std::string& qid);
    void refill(uint64_t now);
    bool want_refill(uint64_t now) const;
    size_t refill_batch() const { return std::max<size_t>(1, settings_.active_limit / 4); }
    void compact_schedule();
    void arm();
    bool connect_agent(Agent& a);
    void on_agent_closed(Agent& a, const std::string& why);
    void on_frame(Agent& a, ipc::MsgType type, std::string_view payload);
    bool dispatch(const Due& d);
    void route_group(Message& m, const Route& route, std::vector<uint32_t> rcpts, uint64_t now);
    size_t recipient_limit(const Route& route) const;
    bool send_request(Message& m, Agent& a, const std::string& dest, const Route& route,
                      std::vector<uint32_t> rcpts, uint64_t now);
    void drain_waiting(uint64_t now);
    void on_result(Agent& a, const ipc::DeliverResultMsg& r);
    bool on_redirect(Agent& a, ipc::DeliverRedirectMsg r);
    void add_redirects(Message& m, uint32_t idx, const ipc::DeliverRedirectMsg& r, bool expanded,
                       uint64_t now);
    void send_owned(const Message& m, uint32_t idx, const ipc::DeliverRedirectMsg& r, uint64_t now);
    // delays: the log's "a/b/c/d" (format_delays).
    void apply_result(Message& m, uint32_t idx, const ipc::RcptResult& r, const std::string& relay,
                      const std::string& delays, uint64_t now);
    void settle(Message& m);
    void maybe_warn(Message& m, uint64_t now);
    void queue_report(Envelope&& e);
    DsnOptions dsn_options(const Message& m) const;
    // The report of kind on m, made from no more of the body than it uses (read_dsn_source).
    Bounce report(DsnKind kind, const Message& m, uint64_t now);
    void persist(Message& m);
    void make_due(Message& m, uint64_t now);
    bool finish(Message& m);
    Agent& agent_for(const Route& r) {
        return r.transport == Transport::smtp || r.transport == Transport::lmtp ? remote_ : local_;
    }
    size_t dest_limit(const Agent& a) const {
        return &a == &remote_ ? settings_.destination_limit : settings_.max_in_flight;
    }
    size_t in_flight_total() const { return flights_.size(); }

    event_base* base_;
    QueueStore& store_;
    Committer& committer_;
    RunnerSettings settings_;
    Schedule schedule_;
    std::unordered_map<std::string, Message> messages_;
    std::unordered_map<uint64_t, Flight> flights_;
    Agent local_, remote_;
    std::map<std::string, Destination> dests_;
    size_t waiting_count_ = 0;
    size_t active_rcpts_ = 0;  // recipients of the messages in memory
    // The fair share under overload: while due mail waits in the store, new mail takes at
    // most half of the active set directly (add), the rest staying in the store, where
    // it is due at 0 (never tried; so it is known as new after a restart as well); a
    // refill from the store takes due retries first, then that new mail, each earliest
    // due first. So neither starves the other: retries get the room refills find, new
    // mail its half as it arrives. fresh_: the messages in memory that came in as new mail.
    size_t fresh_ = 0;
    size_t fresh_share() const { return std::max<size_t>(1, settings_.active_limit / 2); }
    // The earliest time the store may hold a due message that is not in memory (0: now;
    // UINT64_MAX: none known).
    uint64_t store_next_ = 0;
    uint64_t last_refill_ = 0;
    bool refill_blocked_ = false;  // the recipient limit stopped the last refill
    bool pumping_ = false, repump_ = false;
    bool run_pass_ = false;  // run_now for every message: reading the store in ID order
    std::string run_after_;  // the pass's position (the last queue ID read)
    std::unordered_set<std::string> unreadable_;  // logged once each, skipped after
    EventPtr timer_;
    uint64_t next_request_ = 1;
    bool stopped_ = false;
    std::function<void()> on_drained_;
};

}  // namespace tegami::queue
