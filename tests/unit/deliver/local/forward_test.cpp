// forward_test.cpp - deliver/local/forward.cpp: the safe-file rules for ~/.forward
// (bad cases first) and reading it as the current user, on files made in a mkdtemp()
// directory standing in for a home directory.
#include "deliver/local/forward.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace tegami::local;

namespace {

std::string make_home() {
    char tmpl[] = "/tmp/tegami-fwd-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    chmod(tmpl, 0755);
    return tmpl;
}

LocalUser me(const std::string& home) {
    return LocalUser{"me", geteuid(), getegid(), home};
}

}  // namespace

Test(forward, unsafe_files_are_ignored) {
    std::string home = make_home();
    std::string f = home + "/.forward";
    std::ofstream(f) << "someone\n";
    struct Case {
        const char* name;
        mode_t file_mode;
        mode_t home_mode;
    };
    const Case cases[] = {
        {"group-writable .forward", 0620, 0755},
        {"world-writable .forward", 0602, 0755},
        {"group-writable home", 0600, 0775},
        {"world-writable home", 0600, 0757},
    };
    for (const auto& c : cases) {
        chmod(f.c_str(), c.file_mode);
        chmod(home.c_str(), c.home_mode);
        auto r = read_forward(me(home), false);
        cr_assert(r.ok(), "%s: error", c.name);
        cr_expect(!r->has_value(), "%s: used", c.name);
    }
    chmod(home.c_str(), 0755);
    chmod(f.c_str(), 0600);
    // Owned by someone else (as root: a made-up uid owns it; root-owned files pass).
    uid_t owner = geteuid();
    if (owner == 0) {
        cr_assert(chown(f.c_str(), 4242, 4242) == 0);
        owner = 4242;
    }
    int fd = open(f.c_str(), O_RDONLY);
    cr_expect(!forward_safe(fd, home, owner + 1).ok(), "a .forward of another owner passes");
    cr_expect(forward_safe(fd, home, owner).ok() || owner != geteuid(), "own .forward refused");
    close(fd);
    // A symbolic link is not followed.
    unlink(f.c_str());
    std::ofstream(home + "/real") << "x\n";
    cr_assert(symlink((home + "/real").c_str(), f.c_str()) == 0);
    auto r = read_forward(me(home), false);
    cr_assert(r.ok());
    cr_expect(!r->has_value(), "a symlinked .forward is used");
    unlink(f.c_str());
    unlink((home + "/real").c_str());
    // None at all: nothing, no error.
    r = read_forward(me(home), false);
    cr_assert(r.ok());
    cr_expect(!r->has_value());
    rmdir(home.c_str());
}

Test(forward, safe_file_is_read) {
    std::string home = make_home();
    std::string f = home + "/.forward";
    std::ofstream(f) << "\\me, \"|/usr/bin/true\"\n";
    chmod(f.c_str(), 0644);
    auto r = read_forward(me(home), false);
    cr_assert(r.ok());
    cr_assert(r->has_value(), "a safe .forward is ignored");
    cr_expect_eq(**r, "\\me, \"|/usr/bin/true\"\n");
    unlink(f.c_str());
    rmdir(home.c_str());
}
