// runner.hpp - the queue runner: an in-memory schedule of due recipients (rebuilt from
// the store on start), handed to the local delivery agent over its Unix socket as one
// DeliverMsg per message carrying every recipient of it that is due (the body loaded
// from the store once per attempt into a sealed memfd that travels with the frame), with
// at most max_in_flight requests outstanding. Each DeliverResultMsg applies one result
// per recipient and becomes one state change (one transaction); a message whose
// recipients are all final is removed, with its bounce stored in the same transaction
// when one is due.
//
// Called by the queue daemon on the loop thread: add() for each newly durable message,
// the channel callbacks for results. Trusts local for outcomes (peer uid checked), not
// for well-formed data: a bad frame closes the channel and every outstanding delivery is
// rescheduled unchanged (at-least-once; no state change without a result).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "lib/core/c_ptr.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/backoff.hpp"
#include "queue/committer.hpp"
#include "queue/schedule.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

struct RunnerSettings {
    RetryPolicy retry;
    size_t max_in_flight = 20;
    std::string local_socket;
    std::string hostname;
};

class Runner {
  public:
    Runner(event_base* base, QueueStore& store, Committer& committer, RunnerSettings s);
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    ~Runner();

    // Start-up: every stored message, every recipient not yet final due now.
    Result<void> load();
    void add(Envelope&& env);
    void set_settings(RunnerSettings s);
    // Stops dispatching; results of deliveries in flight are still taken.
    void stop();
    size_t in_flight() const { return flights_.size(); }
    size_t messages() const { return messages_.size(); }
    // Called when the last delivery in flight has reported (for a clean stop).
    void set_on_drained(std::function<void()> f) { on_drained_ = std::move(f); }

  private:
    struct Message {
        Envelope env;
        uint32_t in_flight = 0;  // requests outstanding for this message
        double arrived = 0;      // sub-second arrival for delay= (the record keeps whole seconds)
        std::vector<bool> busy;  // per recipient: in a request now
    };
    struct Flight {
        std::string queue_id;
        std::vector<uint32_t> rcpts;  // the recipients of this request
    };

    static void on_timer_cb(evutil_socket_t, short, void* arg) noexcept;
    void pump();
    void arm();
    bool connect_local();
    void on_local_closed(const std::string& why);
    void on_frame(ipc::MsgType type, std::string_view payload);
    bool dispatch(const Due& d);
    void on_result(const ipc::DeliverResultMsg& r);
    void apply_result(Message& m, uint32_t idx, const ipc::RcptResult& r, const std::string& relay,
                      uint64_t now);
    void persist(Message& m);
    bool finish(Message& m);

    event_base* base_;
    QueueStore& store_;
    Committer& committer_;
    RunnerSettings settings_;
    Schedule schedule_;
    std::unordered_map<std::string, Message> messages_;
    std::unordered_map<uint64_t, Flight> flights_;
    std::unique_ptr<ipc::Channel> local_;
    std::unique_ptr<ipc::Channel> dead_local_;  // freed on the next timer, not in its callback
    EventPtr timer_;
    uint64_t next_request_ = 1;
    uint64_t reconnect_at_ = 0;  // seconds; local is down until then
    uint64_t reconnect_delay_ = 0;
    bool stopped_ = false;
    std::function<void()> on_drained_;
};

}  // namespace tegami::queue
