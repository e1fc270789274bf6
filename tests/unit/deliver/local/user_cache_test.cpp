// user_cache_test.cpp - unit tests for deliver/local/user_cache.cpp: failed lookups are
// never cached, a hit costs no lookup, a changed watched file (size, mtime, inode, gone)
// or an entry older than max_age is looked up again, extra_group is part of the key.
// The lookup is a counting stand-in; the watched files are real files in a temp dir.
#include "deliver/local/user_cache.hpp"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace tegami;
using namespace tegami::local;

namespace {

struct Fixture {
    std::string dir;
    std::string passwd, group;
    int calls = 0;
    bool fail = false;
    Fixture() {
        char tmpl[] = "/tmp/user-cache-XXXXXX";
        dir = mkdtemp(tmpl);
        passwd = dir + "/passwd";
        group = dir + "/group";
        write(passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n");
        write(group, "alice:x:1000:\n");
    }
    ~Fixture() {
        ::unlink(passwd.c_str());
        ::unlink(group.c_str());
        ::rmdir(dir.c_str());
    }
    static void write(const std::string& path, const std::string& text) {
        std::ofstream(path, std::ios::trunc) << text;
    }
    UserCache cache(time_t max_age = 60) {
        return UserCache({passwd, group}, max_age,
                         [this](const std::string& user, const std::string& extra) {
                             ++calls;
                             if (fail || user == "nobody-here")
                                 return Result<Identity>(
                                     make_error(Exit::no_user, "unknown user \"" + user + "\""));
                             Identity id;
                             id.name = user;
                             id.uid = 1000 + static_cast<uid_t>(calls);
                             id.gid = 1000;
                             id.groups = {1000};
                             if (!extra.empty()) id.groups.push_back(8);
                             return Result<Identity>(id);
                         });
    }
};

}  // namespace

Test(user_cache, unknown_user_is_an_error_and_never_cached) {
    Fixture f;
    UserCache c = f.cache();
    for (int i = 0; i < 3; ++i) {
        auto r = c.identity("nobody-here", "", 100);
        cr_assert(!r);
        cr_expect_eq(r.error().exit, Exit::no_user);
    }
    cr_expect_eq(f.calls, 3);
    cr_expect_eq(c.size(), 0u);
}

Test(user_cache, failure_after_a_change_drops_the_old_entry) {
    Fixture f;
    UserCache c = f.cache(10);
    cr_assert(c.identity("alice", "", 100));
    f.fail = true;
    cr_expect(!c.identity("alice", "", 111));  // aged out, and the lookup now fails
    cr_expect_eq(c.size(), 0u);
}

Test(user_cache, hit_costs_no_lookup) {
    Fixture f;
    UserCache c = f.cache();
    auto a = c.identity("alice", "", 100);
    cr_assert(a);
    for (time_t t = 100; t < 110; ++t) {
        auto b = c.identity("alice", "", t);
        cr_assert(b);
        cr_expect_eq(b->uid, a->uid);
    }
    cr_expect_eq(f.calls, 1);
}

Test(user_cache, extra_group_is_part_of_the_key) {
    Fixture f;
    UserCache c = f.cache();
    auto plain = c.identity("alice", "", 100);
    auto mail = c.identity("alice", "mail", 100);
    cr_assert(plain && mail);
    cr_expect_eq(plain->groups.size(), 1u);
    cr_expect_eq(mail->groups.size(), 2u);
    cr_expect_eq(f.calls, 2);
    cr_expect_eq(c.size(), 2u);
}

Test(user_cache, entry_older_than_max_age_is_looked_up_again) {
    Fixture f;
    UserCache c = f.cache(60);
    cr_assert(c.identity("alice", "", 100));
    cr_assert(c.identity("alice", "", 159));
    cr_expect_eq(f.calls, 1);
    cr_assert(c.identity("alice", "", 160));
    cr_expect_eq(f.calls, 2);
    cr_assert(c.identity("alice", "", 50));  // the clock went back: not trusted
    cr_expect_eq(f.calls, 3);
}

struct FileChange {
    const char* name;
    void (*change)(Fixture&);
};

const FileChange kChanges[] = {
    {"passwd grows",
     [](Fixture& f) {
         Fixture::write(f.passwd, "alice:x:1000:1000::/h:/bin/sh\nbob:x:1001:1001::/h:/bin/sh\n");
     }},
    {"group rewritten, same size, new mtime",
     [](Fixture& f) {
         Fixture::write(f.group, "alice:x:1000:\n");
         timespec ts[2] = {{0, UTIME_OMIT}, {12345, 678}};
         ::utimensat(AT_FDCWD, f.group.c_str(), ts, 0);
     }},
    {"passwd replaced by rename (new inode)",
     [](Fixture& f) {
         std::string tmp = f.passwd + ".new";
         Fixture::write(tmp, "alice:x:1000:1000::/home/alice:/bin/sh\n");
         ::rename(tmp.c_str(), f.passwd.c_str());
     }},
    {"group removed", [](Fixture& f) { ::unlink(f.group.c_str()); }},
};

Test(user_cache, changed_watched_file_invalidates_within_a_second) {
    for (const FileChange& fc : kChanges) {
        Fixture f;
        UserCache c = f.cache();
        cr_assert(c.identity("alice", "", 100));
        fc.change(f);
        cr_assert(c.identity("alice", "", 100));  // same second: files not looked at again
        cr_expect_eq(f.calls, 1, "%s: same second", fc.name);
        cr_assert(c.identity("alice", "", 101));
        cr_expect_eq(f.calls, 2, "%s: the next second sees the change", fc.name);
        cr_assert(c.identity("alice", "", 102));
        cr_expect_eq(f.calls, 2, "%s: unchanged since", fc.name);
    }
}

Test(user_cache, real_lookup_of_the_current_user) {
    Identity me = current_identity().value();
    UserCache c;
    auto r = c.identity(me.name, "", time(nullptr));
    cr_assert(r);
    cr_expect_eq(r->uid, me.uid);
    cr_expect(!c.identity("no-such-user-tegami-test", "", time(nullptr)));
}
