// log_test.cpp - unit tests for lib/core/log.cpp's deferred writing (log_defer): lines are
// gathered until log_flush, wake is called once per batch, a batch never passes 4096
// bytes in one write, another thread's line is written at once after what was gathered,
// a forked child neither inherits nor writes the parent's batch, and an empty wake
// flushes and ends deferring. Standard error is a temporary file for each test.
#include "lib/core/log.hpp"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

using namespace tegami;

namespace {

struct StderrFile {
    std::string path;
    int saved = -1;
    StderrFile() {
        char tmpl[] = "/tmp/tegami-log-XXXXXX";
        int fd = mkstemp(tmpl);
        path = tmpl;
        saved = dup(2);
        dup2(fd, 2);
        close(fd);
        log_open("tegami/test", LogTarget::stderr_only);
    }
    ~StderrFile() {
        log_defer(nullptr);
        dup2(saved, 2);
        close(saved);
        unlink(path.c_str());
    }
    std::string text() const {
        std::string out;
        int fd = open(path.c_str(), O_RDONLY);
        char buf[8192];
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
            out.append(buf, static_cast<size_t>(n));
        close(fd);
        return out;
    }
    size_t lines() const {
        std::string t = text();
        size_t n = 0;
        for (char c : t)
            n += c == '\n';
        return n;
    }
};

}  // namespace

Test(log_defer, without_deferring_each_line_is_written_at_once) {
    StderrFile f;
    log_info("one");
    cr_expect_eq(f.lines(), 1u);
    log_flush();  // nothing gathered: nothing written
    cr_expect_eq(f.lines(), 1u);
}

Test(log_defer, lines_wait_for_the_flush_and_wake_once_per_batch) {
    StderrFile f;
    int wakes = 0;
    log_defer([&wakes] { ++wakes; });
    log_info("first");
    log_warning("second %d", 2);
    log_error("third");
    cr_expect_eq(f.lines(), 0u, "gathered, not written");
    cr_expect_eq(wakes, 1);
    log_flush();
    std::string t = f.text();
    cr_expect(t.find("first\n") < t.find("warning: second 2\n"), "%s", t.c_str());
    cr_expect(t.find("second 2\n") < t.find("error: third\n"), "%s", t.c_str());
    cr_expect_eq(f.lines(), 3u);
    log_info("fourth");
    cr_expect_eq(wakes, 2, "a new batch wakes again");
    log_defer(nullptr);  // flushes
    cr_expect_eq(f.lines(), 4u);
    log_info("fifth");
    cr_expect_eq(f.lines(), 5u, "no longer deferred");
    cr_expect_eq(wakes, 2);
}

Test(log_defer, a_batch_is_written_before_it_passes_4096_bytes) {
    StderrFile f;
    int wakes = 0;
    log_defer([&wakes] { ++wakes; });
    std::string part(1000, 'x');
    for (int i = 0; i < 5; ++i)
        log_info("%s", part.c_str());
    // Four lines of about 1,020 bytes fit in 4,096; the fifth forced them out first.
    cr_expect_eq(f.lines(), 4u);
    cr_expect_eq(wakes, 2);
    std::string huge(5000, 'y');
    log_info("%s", huge.c_str());  // longer than a batch: out at once, after the fifth
    cr_expect_eq(f.lines(), 6u);
    log_flush();
    cr_expect_eq(f.lines(), 6u);
}

Test(log_defer, another_threads_line_goes_out_at_once_after_the_batch) {
    StderrFile f;
    log_defer([] {});
    log_info("loop line");
    std::thread([] { log_info("thread line"); }).join();
    std::string t = f.text();
    cr_expect_eq(f.lines(), 2u, "%s", t.c_str());
    cr_expect(t.find("loop line") < t.find("thread line"), "%s", t.c_str());
}

Test(log_defer, a_forked_child_writes_only_its_own_lines) {
    StderrFile f;
    log_defer([] {});
    log_info("parent line");
    pid_t pid = fork();
    if (pid == 0) {
        log_info("child line");  // written at once, without the parent's batch
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    cr_expect_eq(f.lines(), 1u, "%s", f.text().c_str());
    cr_expect(f.text().find("child line") != std::string::npos);
    log_flush();
    std::string t = f.text();
    cr_expect_eq(f.lines(), 2u, "%s", t.c_str());
    size_t first = t.find("parent line");
    cr_expect(first != std::string::npos && t.find("parent line", first + 1) == std::string::npos,
              "the parent's line once: %s", t.c_str());
}
