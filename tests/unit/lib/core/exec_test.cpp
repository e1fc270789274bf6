// exec_test.cpp - lib/core/exec.cpp: a program that cannot be run returns to the caller
// with errno set; one that runs gets exactly argv as given and an environment of PATH
// and the variables the caller keeps (when this process has them), nothing else.
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "lib/core/exec.hpp"

using namespace tegami;

namespace {

// Runs exec_program in a child with stdout on a pipe; returns what it printed.
std::string output_of(const std::string& path, std::vector<std::string> args,
                      std::initializer_list<const char*> keep) {
    int p[2];
    cr_assert(::pipe(p) == 0);
    pid_t pid = ::fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        ::dup2(p[1], 1);
        ::close(p[0]);
        ::close(p[1]);
        exec_program(path, std::move(args), keep);
        _exit(127);
    }
    ::close(p[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    ::close(p[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited %d", path.c_str(), st);
    return out;
}

}  // namespace

Test(exec_program, a_missing_program_returns_with_errno) {
    errno = 0;
    exec_program("/nonexistent/tegami-nothing", {"x"});
    cr_expect_eq(errno, ENOENT);
    char path[] = "/tmp/tegami-exec-test.XXXXXX";
    int fd = ::mkstemp(path);  // mode 0600: not executable, even for root
    cr_assert(fd >= 0);
    ::close(fd);
    errno = 0;
    exec_program(path, {"x"});
    cr_expect_eq(errno, EACCES);
    ::unlink(path);
}

Test(exec_program, only_path_and_the_kept_variables_reach_the_program) {
    ::setenv("TEGAMI_EXEC_KEPT", "yes", 1);
    ::setenv("TEGAMI_EXEC_DROPPED", "no", 1);
    ::setenv("LD_PRELOAD", "", 1);
    std::string env = output_of("/usr/bin/env", {"env"}, {"TEGAMI_EXEC_KEPT", "TEGAMI_NOT_SET"});
    cr_expect_eq(env, std::string("PATH=/usr/sbin:/usr/bin:/sbin:/bin\nTEGAMI_EXEC_KEPT=yes\n"),
                 "%s", env.c_str());
    ::unsetenv("LD_PRELOAD");
}

Test(exec_program, argv_is_passed_as_given) {
    std::string out = output_of("/bin/echo", {"echo", "a b", "", "-c"}, {});
    cr_expect_eq(out, std::string("a b  -c\n"), "%s", out.c_str());
}
