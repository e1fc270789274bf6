// counter_store.hpp - the per-user sending counters behind the sending limits (issue 13
// item 5): how many messages and recipients each identity ("alice" for a SASL login,
// "uid:1000" for a local submitter) sent within the last hour and the last day.
//
// A window is approximated by fixed buckets (an hour is 12 buckets of 5 minutes, a day
// 24 of one hour): the count "in the last hour" is the sum of the current bucket and the
// 11 before it, so it covers between 55 and 60 minutes, and counts leave the window one
// bucket at a time. The store keeps buckets only; summing and reset times are the pure
// functions below, shared by every store.
//
// CounterStore is the small interface a shared store (Redis, for several MSA nodes)
// implements later; BdbCounterStore (counter_store_bdb.cpp) is the one used now: the
// counts in memory, written behind to a Berkeley DB hash file in auth_dir (limits.db)
// by flush(), which tegami-auth calls from a timer and when it stops - so a crash loses
// at most one flush interval of counts, never the file. Owned by tegami-auth only
// (auth_server.cpp); smtpd never opens it. Trusts the identities it is given (smtpd
// made them); bounds the number of identities it remembers.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"

namespace tegami::auth {

enum class Window : uint8_t { hour = 0, day = 1 };
struct WindowSpec {
    time_t bucket_seconds;
    uint32_t buckets;
};
constexpr WindowSpec kWindowSpecs[2] = {{300, 12}, {3600, 24}};
inline const WindowSpec& window_spec(Window w) {
    return kWindowSpecs[static_cast<size_t>(w)];
}
inline int64_t bucket_index(Window w, time_t now) {
    return static_cast<int64_t>(now / window_spec(w).bucket_seconds);
}

struct Bucket {
    int64_t index = 0;  // now / bucket_seconds when it was counted
    uint64_t messages = 0;
    uint64_t recipients = 0;
};

// One window's counts for one identity, against its limits (0: no limit).
struct WindowUsage {
    uint64_t max_messages = 0;
    uint64_t max_recipients = 0;
    uint64_t messages = 0;
    uint64_t recipients = 0;
    time_t messages_free_at = 0;    // when the count falls below the limit (0: it is below)
    time_t recipients_free_at = 0;  // likewise for recipients
    time_t next_drop = 0;           // when the oldest counted bucket leaves (0: none)
};

// Sums the buckets still inside window w at `now` and works out the reset times.
WindowUsage summarize(const std::vector<Bucket>& buckets, Window w, time_t now,
                      uint64_t max_messages, uint64_t max_recipients);

class CounterStore {
  public:
    virtual ~CounterStore() = default;
    // Adds to the bucket of `now` in both windows.
    virtual void add(const std::string& id, uint64_t messages, uint64_t recipients, time_t now) = 0;
    // The buckets of window w that are still inside it at `now` (any order).
    virtual std::vector<Bucket> buckets(const std::string& id, Window w, time_t now) = 0;
    // Makes what add() counted survive a restart (a store that writes through: no-op).
    virtual void flush() = 0;
};

constexpr size_t kMaxCountedIdentities = 100000;

class BdbCounterStore final : public CounterStore {
  public:
    // Opens (creating) path and loads what it holds; "" keeps the counts in memory only.
    Result<void> open(const std::string& path, time_t now);
    void add(const std::string& id, uint64_t messages, uint64_t recipients, time_t now) override;
    std::vector<Bucket> buckets(const std::string& id, Window w, time_t now) override;
    void flush() override;
    size_t size() const { return entries_.size(); }

  private:
    struct Entry {
        std::vector<Bucket> win[2];
        time_t last = 0;
    };
    void prune(time_t now);
    void expire(Entry& e, time_t now);

    DbPtr db_;
    std::string path_;
    std::unordered_map<std::string, Entry> entries_;
    std::unordered_set<std::string> dirty_;
    std::vector<std::string> erased_;
};

// The stored value of one identity: "1 h I:M:R ... d I:M:R ..." (readable with db_dump).
std::string encode_buckets(const std::vector<Bucket>& hour, const std::vector<Bucket>& day);
bool decode_buckets(std::string_view v, std::vector<Bucket>& hour, std::vector<Bucket>& day);

}  // namespace tegami::auth
