// write_full_test.cpp - lib/core/write_full.cpp: a buffer larger than a pipe's capacity
// arrives whole through short writes; a descriptor open read-only gives EBADF, a pipe
// whose reader is gone EPIPE; nothing to write succeeds without a write.
#include "lib/core/write_full.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "lib/core/unique_fd.hpp"

using namespace tegami;

Test(write_full, a_buffer_larger_than_the_pipe_arrives_whole) {
    int p[2];
    cr_assert_eq(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd rd(p[0]), wr(p[1]);
    std::string data(1 << 20, '\0');
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>('a' + i % 26);
    std::string got;
    std::thread reader([&] {
        char buf[3000];  // reads of an odd size: the writer sees partial progress
        ssize_t n;
        while ((n = ::read(rd.get(), buf, sizeof buf)) > 0)
            got.append(buf, static_cast<size_t>(n));
    });
    int err = write_full(wr.get(), data);
    wr.reset();
    reader.join();
    cr_expect_eq(err, 0);
    cr_expect(got == data, "%zu bytes of %zu, in order", got.size(), data.size());
}

Test(write_full, a_failed_write_returns_its_errno) {
    char tmpl[] = "/tmp/tegami-wfull-XXXXXX";
    UniqueFd made(::mkstemp(tmpl));
    cr_assert(made.valid());
    UniqueFd ro(::open(tmpl, O_RDONLY | O_CLOEXEC));
    ::unlink(tmpl);
    cr_expect_eq(write_full(ro.get(), "x"), EBADF);

    ::signal(SIGPIPE, SIG_IGN);
    int p[2];
    cr_assert_eq(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[0]);
    UniqueFd wr(p[1]);
    cr_expect_eq(write_full(wr.get(), "x"), EPIPE);
}

Test(write_full, nothing_to_write_is_done_at_once) {
    cr_expect_eq(write_full(-1, ""), 0, "no write(2) is made, so even a bad descriptor is fine");
}
