// penalty.hpp - tegami-auth's memory of authentication failures per client address:
// how many failures an address made within auth_penalty_time, and whether it sits in
// the penalty box (refused until a time). Kept in a Berkeley DB hash file in auth_dir
// (penalty.db, owned by the auth account) and written through on every change, so a
// restart of smtpd or of tegami-auth forgets nothing. Called by auth_server.cpp only.
//
// Invariants: an entry older than the window (and not boxed) counts as zero; at most
// kMaxEntries addresses are remembered (expired ones are dropped first, then the
// oldest); a store that cannot be written is logged and the counts stay in memory.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <unordered_map>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"

namespace tegami::auth {

constexpr size_t kMaxEntries = 100000;

class PenaltyBox {
  public:
    PenaltyBox(uint32_t limit, time_t window) : limit_(limit), window_(window) {}
    // Opens (creating) the store and loads what it holds; "" keeps it in memory only.
    Result<void> open(const std::string& path);
    void configure(uint32_t limit, time_t window) {
        limit_ = limit;
        window_ = window;
    }
    // One more failure from addr; returns the failures within the window, counting it.
    // Reaching the limit puts addr in the box for the window.
    uint32_t fail(const std::string& addr, time_t now);
    // Refused until this time (0: not in the box).
    time_t boxed_until(const std::string& addr, time_t now);
    uint32_t failures(const std::string& addr, time_t now);
    size_t size() const { return entries_.size(); }

  private:
    struct Entry {
        uint32_t failures = 0;
        time_t first = 0;  // the first failure counted in the current window
        time_t until = 0;  // boxed until
    };
    void store(const std::string& addr, const Entry& e);
    void erase(const std::string& addr);
    void prune(time_t now);
    bool expired(const Entry& e, time_t now) const;

    uint32_t limit_;
    time_t window_;
    DbPtr db_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tegami::auth
