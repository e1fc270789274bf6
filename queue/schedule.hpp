// schedule.hpp - the runner's in-memory schedule: a min-heap of (next try, queue ID,
// recipient index). Rebuilt from the store on start; never persisted itself (the
// envelope's next_try fields are the durable truth). Called only by the runner, on
// the event loop thread.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

namespace tegami::queue {

struct Due {
    uint64_t when = 0;  // seconds since the epoch
    std::string queue_id;
    uint32_t rcpt = 0;  // index into the envelope's recipients
};

class Schedule {
  public:
    void add(Due d) { heap_.push(std::move(d)); }
    bool empty() const { return heap_.empty(); }
    void clear() { heap_ = {}; }
    size_t size() const { return heap_.size(); }
    // The earliest entry's time; only when !empty().
    uint64_t next_time() const { return heap_.top().when; }
    // Pops the earliest entry if it is due at `now`.
    bool pop_due(uint64_t now, Due& out);

  private:
    struct Later {
        bool operator()(const Due& a, const Due& b) const {
            if (a.when != b.when) return a.when > b.when;
            if (a.queue_id != b.queue_id) return a.queue_id > b.queue_id;
            return a.rcpt > b.rcpt;
        }
    };
    std::priority_queue<Due, std::vector<Due>, Later> heap_;
};

}  // namespace tegami::queue
