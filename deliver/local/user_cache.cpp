// user_cache.cpp - see user_cache.hpp.
#include "deliver/local/user_cache.hpp"

#include <sys/stat.h>

namespace tegami::local {

UserCache::UserCache(std::vector<std::string> watched, time_t max_age, Lookup lookup)
    : watched_(std::move(watched)), max_age_(max_age), lookup_(std::move(lookup)) {}

// A changed (or vanished, or reappeared) file drops every entry: passwd and group entries
// depend on each other (primary group, memberships), so no finer invalidation is sound.
void UserCache::check_files(time_t now) {
    if (now == checked_) return;
    checked_ = now;
    std::vector<Stamp> cur;
    cur.reserve(watched_.size());
    for (const std::string& f : watched_) {
        struct stat st {};
        Stamp s;
        if (::stat(f.c_str(), &st) == 0)
            s = Stamp{st.st_ino, st.st_size, static_cast<long>(st.st_mtim.tv_sec),
                      st.st_mtim.tv_nsec};
        cur.push_back(s);
    }
    if (cur != stamps_) {
        entries_.clear();
        stamps_ = std::move(cur);
    }
}

Result<Identity> UserCache::identity(const std::string& user, const std::string& extra_group,
                                     time_t now) {
    check_files(now);
    auto key = std::make_pair(user, extra_group);
    auto it = entries_.find(key);
    if (it != entries_.end() && now >= it->second.fetched && now - it->second.fetched < max_age_)
        return it->second.id;
    auto r = lookup_(user, extra_group);
    if (!r) {
        if (it != entries_.end()) entries_.erase(it);
        return r;
    }
    entries_[key] = Entry{r.value(), now};
    return r;
}

}  // namespace tegami::local
