// user_cache.hpp - tegami-local's cache of recipients' passwd and group data: the
// Identity (uid, gid, supplementary groups) a delivery child becomes. Without it every
// child ran getpwnam and getgrouplist itself, which through NSS costs about 150 system
// calls a delivery (nsswitch.conf, /etc/passwd, /etc/group, systemd's userdb probes).
// Called by LocalServer before it forks; the child only calls become_user.
//
// Invalidation: an entry is used while the stamps (inode, size, mtime) of the watched
// files (/etc/passwd, /etc/group) are those it was read under, and for at most max_age
// seconds whatever they say (for NSS sources that are not files). The files are stat()ed
// at most once a second. Failed lookups are never cached: a user added a moment ago is
// found by the next delivery.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/result.hpp"
#include "lib/priv/priv.hpp"

namespace tegami::local {

class UserCache {
  public:
    using Lookup =
        std::function<Result<Identity>(const std::string& user, const std::string& extra_group)>;

    static constexpr time_t kMaxAge = 60;

    // lookup: the real one (lib/priv lookup_identity) unless a test gives its own.
    explicit UserCache(std::vector<std::string> watched = {"/etc/passwd", "/etc/group"},
                       time_t max_age = kMaxAge, Lookup lookup = lookup_identity);

    // The identity of user with extra_group added (lookup_identity's meaning); now is the
    // caller's clock (time(nullptr) in the server).
    Result<Identity> identity(const std::string& user, const std::string& extra_group, time_t now);

    size_t size() const { return entries_.size(); }

  private:
    struct Stamp {
        ino_t ino = 0;
        off_t size = -1;
        long sec = 0, nsec = 0;
        bool operator==(const Stamp&) const = default;
    };
    struct Entry {
        Identity id;
        time_t fetched = 0;
    };
    void check_files(time_t now);

    std::vector<std::string> watched_;
    time_t max_age_;
    Lookup lookup_;
    std::vector<Stamp> stamps_;
    time_t checked_ = -1;
    std::map<std::pair<std::string, std::string>, Entry> entries_;
};

}  // namespace tegami::local
