// counter_store.cpp - see counter_store.hpp. The window arithmetic and the BDB store.
#include "smtpd/auth/counter_store.hpp"

#include <algorithm>
#include <charconv>

#include "lib/core/log.hpp"

namespace tegami::auth {

namespace {

bool inside(const Bucket& b, Window w, time_t now) {
    int64_t c = bucket_index(w, now);
    return b.index <= c && b.index > c - static_cast<int64_t>(window_spec(w).buckets);
}

time_t leaves_at(const Bucket& b, Window w) {
    const WindowSpec& s = window_spec(w);
    return static_cast<time_t>((b.index + s.buckets) * s.bucket_seconds);
}

// When the count, dropping the oldest buckets first, falls below max (0: it is below).
template <typename Get>
time_t free_at(const std::vector<Bucket>& sorted, Window w, uint64_t total, uint64_t max, Get get) {
    if (max == 0 || total < max) return 0;
    uint64_t left = total;
    for (const auto& b : sorted) {
        left -= get(b);
        if (left < max) return leaves_at(b, w);
    }
    return 0;  // not reached: the buckets sum to total
}

}  // namespace

WindowUsage summarize(const std::vector<Bucket>& buckets, Window w, time_t now,
                      uint64_t max_messages, uint64_t max_recipients) {
    std::vector<Bucket> in;
    for (const auto& b : buckets)
        if (inside(b, w, now)) in.push_back(b);
    std::sort(in.begin(), in.end(),
              [](const Bucket& a, const Bucket& b) { return a.index < b.index; });
    WindowUsage u;
    u.max_messages = max_messages;
    u.max_recipients = max_recipients;
    for (const auto& b : in) {
        u.messages += b.messages;
        u.recipients += b.recipients;
    }
    if (!in.empty()) u.next_drop = leaves_at(in.front(), w);
    u.messages_free_at =
        free_at(in, w, u.messages, max_messages, [](const Bucket& b) { return b.messages; });
    u.recipients_free_at =
        free_at(in, w, u.recipients, max_recipients, [](const Bucket& b) { return b.recipients; });
    return u;
}

// ---- the stored form
namespace {

void put_window(std::string& out, char tag, const std::vector<Bucket>& v) {
    out += ' ';
    out += tag;
    for (const auto& b : v)
        out += ' ' + std::to_string(b.index) + ':' + std::to_string(b.messages) + ':' +
               std::to_string(b.recipients);
}

template <typename T>
bool number(std::string_view& s, T& out, char stop) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc() || p == s.data()) return false;
    s.remove_prefix(static_cast<size_t>(p - s.data()));
    if (stop) {
        if (s.empty() || s.front() != stop) return false;
        s.remove_prefix(1);
    }
    return true;
}

}  // namespace

std::string encode_buckets(const std::vector<Bucket>& hour, const std::vector<Bucket>& day) {
    std::string out = "1";
    put_window(out, 'h', hour);
    put_window(out, 'd', day);
    return out;
}

bool decode_buckets(std::string_view v, std::vector<Bucket>& hour, std::vector<Bucket>& day) {
    hour.clear();
    day.clear();
    if (v.substr(0, 2) != "1 ") return false;
    v.remove_prefix(2);
    std::vector<Bucket>* cur = nullptr;
    while (!v.empty()) {
        size_t sp = v.find(' ');
        std::string_view tok = v.substr(0, sp);
        v.remove_prefix(sp == std::string_view::npos ? v.size() : sp + 1);
        if (tok == "h" || tok == "d") {
            cur = tok == "h" ? &hour : &day;
            continue;
        }
        Bucket b;
        if (!cur || !number(tok, b.index, ':') || !number(tok, b.messages, ':') ||
            !number(tok, b.recipients, 0) || !tok.empty())
            return false;
        if (cur->size() >= 64) return false;
        cur->push_back(b);
    }
    return true;
}

// ---- BdbCounterStore
Result<void> BdbCounterStore::open(const std::string& path, time_t now) {
    path_ = path;
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
    size_t bad = 0;
    while (cur->get(cur.get(), &key, &val, DB_NEXT) == 0) {
        Entry e;
        std::string_view v(static_cast<char*>(val.data), val.size);
        if (!decode_buckets(v, e.win[0], e.win[1])) {
            ++bad;
            continue;
        }
        expire(e, now);
        if (e.win[1].empty() || entries_.size() >= kMaxCountedIdentities) continue;
        e.last = now;
        entries_.emplace(std::string(static_cast<char*>(key.data), key.size), std::move(e));
    }
    cur.reset();
    db_ = std::move(db);
    if (bad) log_warning("sending counters %s: %zu unreadable entries ignored", path.c_str(), bad);
    log_info("sending counters %s: %zu identities", path.c_str(), entries_.size());
    return {};
}

void BdbCounterStore::expire(Entry& e, time_t now) {
    for (Window w : {Window::hour, Window::day})
        std::erase_if(e.win[static_cast<size_t>(w)],
                      [w, now](const Bucket& b) { return !inside(b, w, now); });
}

// At the bound, identities with nothing in the day window go first, then the one that
// sent longest ago: forgetting counts only ever lets someone send more, never less.
void BdbCounterStore::prune(time_t now) {
    if (entries_.size() < kMaxCountedIdentities) return;
    std::vector<std::string> gone;
    const std::string* oldest = nullptr;
    time_t oldest_at = now + 1;
    for (auto& [id, e] : entries_) {
        expire(e, now);
        if (e.win[1].empty()) gone.push_back(id);
        if (e.last < oldest_at) {
            oldest_at = e.last;
            oldest = &id;
        }
    }
    if (gone.empty() && oldest) gone.push_back(*oldest);
    for (const auto& id : gone) {
        entries_.erase(id);
        dirty_.erase(id);
        erased_.push_back(id);
    }
}

void BdbCounterStore::add(const std::string& id, uint64_t messages, uint64_t recipients,
                          time_t now) {
    auto it = entries_.find(id);
    if (it == entries_.end()) {
        prune(now);
        it = entries_.emplace(id, Entry{}).first;
    }
    Entry& e = it->second;
    expire(e, now);
    e.last = now;
    for (Window w : {Window::hour, Window::day}) {
        auto& v = e.win[static_cast<size_t>(w)];
        int64_t idx = bucket_index(w, now);
        auto b =
            std::find_if(v.begin(), v.end(), [idx](const Bucket& x) { return x.index == idx; });
        if (b == v.end()) {
            v.push_back(Bucket{idx, 0, 0});
            b = v.end() - 1;
        }
        b->messages += messages;
        b->recipients += recipients;
    }
    dirty_.insert(id);
}

std::vector<Bucket> BdbCounterStore::buckets(const std::string& id, Window w, time_t now) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return {};
    std::vector<Bucket> out;
    for (const auto& b : it->second.win[static_cast<size_t>(w)])
        if (inside(b, w, now)) out.push_back(b);
    return out;
}

void BdbCounterStore::flush() {
    if (!db_) {
        dirty_.clear();
        erased_.clear();
        return;
    }
    if (dirty_.empty() && erased_.empty()) return;
    int rc = 0;
    for (const auto& id : erased_) {
        DBT key{};
        key.data = const_cast<char*>(id.data());
        key.size = static_cast<u_int32_t>(id.size());
        (void)db_->del(db_.get(), nullptr, &key, 0);
    }
    for (const auto& id : dirty_) {
        auto it = entries_.find(id);
        if (it == entries_.end()) continue;
        std::string v = encode_buckets(it->second.win[0], it->second.win[1]);
        DBT key{}, val{};
        key.data = const_cast<char*>(id.data());
        key.size = static_cast<u_int32_t>(id.size());
        val.data = v.data();
        val.size = static_cast<u_int32_t>(v.size());
        if (int r = db_->put(db_.get(), nullptr, &key, &val, 0); r != 0) rc = r;
    }
    if (rc == 0) rc = db_->sync(db_.get(), 0);
    if (rc != 0) {
        log_error("sending counters %s: cannot write: %s (counts kept in memory)", path_.c_str(),
                  db_strerror(rc));
        return;  // dirty entries stay dirty: the next flush tries again
    }
    dirty_.clear();
    erased_.clear();
}

}  // namespace tegami::auth
