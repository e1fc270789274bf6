// fsync_spy_test.cpp - the fsync() interposer behind fsync_spy.hpp, and its own check.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/unit/deliver/local/fsync_spy.hpp"

namespace {
std::vector<std::string>& record() {
    static std::vector<std::string> r;
    return r;
}
}  // namespace

extern "C" int fsync(int fd) {
    char link[64];
    char path[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = ::readlink(link, path, sizeof path - 1);
    record().emplace_back(n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string("?"));
    return static_cast<int>(::syscall(SYS_fsync, fd));
}

namespace tegami::test {
std::vector<std::string> fsync_spy_take() {
    std::vector<std::string> out;
    out.swap(record());
    return out;
}
}  // namespace tegami::test

Test(fsync_spy, records_the_path) {
    char tmpl[] = "/tmp/tegami-spy-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    (void)tegami::test::fsync_spy_take();
    int fd = ::open(tmpl, O_RDONLY | O_DIRECTORY);
    cr_assert(fd >= 0);
    cr_expect_eq(fsync(fd), 0);
    ::close(fd);
    auto got = tegami::test::fsync_spy_take();
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0], std::string(tmpl));
    ::rmdir(tmpl);
}
