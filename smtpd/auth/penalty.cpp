// penalty.cpp - see penalty.hpp. Stored value: "failures first until" in decimal.
#include "smtpd/auth/penalty.hpp"

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "lib/core/log.hpp"

namespace tegami::auth {

Result<void> PenaltyBox::open(const std::string& path) {
    if (path.empty()) return {};
    DB* raw = nullptr;
    if (int rc = db_create(&raw, nullptr, 0); rc != 0)
        return make_error(Exit::os_err, std::string("db_create: ") + db_strerror(rc));
    DbPtr db(raw);
    if (int rc = db->open(db.get(), nullptr, path.c_str(), nullptr, DB_HASH, DB_CREATE, 0600);
        rc != 0)
        return make_error(Exit::cant_create, path + ": " + db_strerror(rc));
    DBC* c = nullptr;
    if (int rc = db->cursor(db.get(), nullptr, &c, 0); rc != 0)
        return make_error(Exit::os_file, path + ": " + db_strerror(rc));
    DbcPtr cur(c);
    DBT key{}, val{};
    time_t now = std::time(nullptr);
    while (cur->get(cur.get(), &key, &val, DB_NEXT) == 0) {
        std::string v(static_cast<char*>(val.data), val.size);
        Entry e;
        intmax_t first = 0, until = 0;
        unsigned failures = 0;
        if (std::sscanf(v.c_str(), "%u %jd %jd", &failures, &first, &until) != 3) continue;
        e.failures = failures;
        e.first = static_cast<time_t>(first);
        e.until = static_cast<time_t>(until);
        if (!expired(e, now) && entries_.size() < kMaxEntries)
            entries_.emplace(std::string(static_cast<char*>(key.data), key.size), e);
    }
    cur.reset();
    db_ = std::move(db);
    log_info("penalty box %s: %zu addresses remembered", path.c_str(), entries_.size());
    return {};
}

bool PenaltyBox::expired(const Entry& e, time_t now) const {
    return e.until <= now && e.first + window_ <= now;
}

void PenaltyBox::store(const std::string& addr, const Entry& e) {
    if (!db_) return;
    char buf[96];
    int n = std::snprintf(buf, sizeof buf, "%u %jd %jd", e.failures, static_cast<intmax_t>(e.first),
                          static_cast<intmax_t>(e.until));
    DBT key{}, val{};
    key.data = const_cast<char*>(addr.data());
    key.size = static_cast<u_int32_t>(addr.size());
    val.data = buf;
    val.size = static_cast<u_int32_t>(n);
    int rc = db_->put(db_.get(), nullptr, &key, &val, 0);
    if (rc == 0) rc = db_->sync(db_.get(), 0);
    if (rc != 0) log_error("penalty box: cannot store %s: %s", addr.c_str(), db_strerror(rc));
}

void PenaltyBox::erase(const std::string& addr) {
    entries_.erase(addr);
    if (!db_) return;
    DBT key{};
    key.data = const_cast<char*>(addr.data());
    key.size = static_cast<u_int32_t>(addr.size());
    (void)db_->del(db_.get(), nullptr, &key, 0);
}

void PenaltyBox::prune(time_t now) {
    if (entries_.size() < kMaxEntries) return;
    std::vector<std::string> gone;
    std::string oldest;
    time_t oldest_at = now + 1;
    for (const auto& [a, e] : entries_) {
        if (expired(e, now)) gone.push_back(a);
        if (e.first < oldest_at) {
            oldest_at = e.first;
            oldest = a;
        }
    }
    if (gone.empty() && !oldest.empty()) gone.push_back(oldest);
    for (const auto& a : gone)
        erase(a);
    if (db_) (void)db_->sync(db_.get(), 0);
}

uint32_t PenaltyBox::fail(const std::string& addr, time_t now) {
    auto it = entries_.find(addr);
    if (it == entries_.end()) {
        prune(now);
        it = entries_.emplace(addr, Entry{}).first;
    }
    Entry& e = it->second;
    if (e.first + window_ <= now && e.until <= now) e = Entry{};
    if (e.failures == 0) e.first = now;
    ++e.failures;
    if (limit_ && e.failures >= limit_) e.until = now + window_;
    store(addr, e);
    return e.failures;
}

time_t PenaltyBox::boxed_until(const std::string& addr, time_t now) {
    auto it = entries_.find(addr);
    if (it == entries_.end()) return 0;
    if (expired(it->second, now)) {
        erase(addr);
        return 0;
    }
    return it->second.until > now ? it->second.until : 0;
}

uint32_t PenaltyBox::failures(const std::string& addr, time_t now) {
    auto it = entries_.find(addr);
    if (it == entries_.end() || expired(it->second, now)) return 0;
    return it->second.failures;
}

}  // namespace tegami::auth
