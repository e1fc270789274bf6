// batch_test.cpp - unit tests for deliver/local/batch.cpp and the delivery process's
// batch loop (run_delivery_child, as the test's own user, forked here): the batch
// datagram's round trip and every malformed form, descriptors that do not match the
// messages, a datagram too large to take, the end of the socket; then one process
// delivering two batches into an mbox, each answered with its reports and the end
// marker, until the socket is closed (exit 0), and a one-batch process (reuse off) that
// exits with the first failure's code.
#include "deliver/local/batch.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "deliver/local/delivery.hpp"
#include "tests/unit/test_files.hpp"

using namespace tegami;
using namespace tegami::local;

namespace {

UniqueFd memfd_with(const std::string& data) {
    UniqueFd fd(memfd_create("body", MFD_CLOEXEC));
    cr_assert(fd.valid());
    cr_assert(write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    return fd;
}

struct Pair {
    UniqueFd a, b;
    Pair() {
        int sv[2];
        cr_assert(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        a = UniqueFd(sv[0]);
        b = UniqueFd(sv[1]);
    }
};

const std::vector<BatchItem> kItems = {
    {"a@example.org", "bob@mx.example", "Q1", 0, 3},
    {"", "bob+box@mx.example", "Q2", 4096, 70000},
};

// Reads report datagrams until the end marker (or 5 s): the lines, "" on a timeout.
std::string reports_until_end(int fd) {
    std::string text;
    for (int i = 0; i < 500; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 10) != 1) continue;
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return text + "<eof>";
        std::string line(buf, static_cast<size_t>(n));
        if (line == kBatchEnd) return text;
        text += line;
    }
    return "";
}

}  // namespace

Test(batch, round_trip) {
    std::string d = encode_batch(77, kItems);
    Batch b;
    cr_assert(decode_batch(d, b));
    cr_expect_eq(b.seq, 77u);
    cr_assert_eq(b.items.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        cr_expect_eq(b.items[i].sender, kItems[i].sender);
        cr_expect_eq(b.items[i].recipient, kItems[i].recipient);
        cr_expect_eq(b.items[i].queue_id, kItems[i].queue_id);
        cr_expect_eq(b.items[i].offset, kItems[i].offset);
        cr_expect_eq(b.items[i].size, kItems[i].size);
    }
    size_t want = 4 + 8 + 4;
    for (const auto& it : kItems)
        want += batch_item_bytes(it);
    cr_expect_eq(d.size(), want, "batch_item_bytes is the encoded size");
}

Test(batch, malformed_datagrams_are_refused) {
    std::string d = encode_batch(1, kItems);
    Batch b;
    for (size_t n = 0; n < d.size(); ++n)
        cr_expect(!decode_batch(std::string_view(d).substr(0, n), b), "cut at %zu accepted", n);
    cr_expect(!decode_batch(d + "x", b), "a trailing octet");
    std::string bad = d;
    bad[0] = 'X';
    cr_expect(!decode_batch(bad, b), "wrong magic");
    cr_expect(!decode_batch(encode_batch(1, {}), b), "no message");
    std::vector<BatchItem> many(kMaxBatch + 1, kItems[0]);
    cr_expect(!decode_batch(encode_batch(1, many), b), "more than kMaxBatch");
    std::vector<BatchItem> full(kMaxBatch, kItems[0]);
    cr_expect(decode_batch(encode_batch(1, full), b), "exactly kMaxBatch");
    // A string length that runs past the end.
    std::string huge = d;
    uint32_t big = 0xffffff00;
    std::memcpy(huge.data() + 16, &big, sizeof big);
    cr_expect(!decode_batch(huge, b), "a length past the end");
}

Test(batch, descriptors_travel_and_must_match) {
    Pair p;
    UniqueFd f1 = memfd_with("one"), f2 = memfd_with("two");
    std::vector<BatchItem> items = {kItems[0], kItems[0]};
    cr_assert_eq(send_batch(p.a.get(), encode_batch(5, items), {f1.get(), f2.get()}), 0);
    Batch b;
    cr_assert(receive_batch(p.b.get(), b) == Received::batch);
    cr_assert_eq(b.fds.size(), 2u);
    char buf[8] = {};
    cr_expect(pread(b.fds[1].get(), buf, 3, 0) == 3 && std::string(buf, 3) == "two");
    cr_expect(fcntl(b.fds[0].get(), F_GETFD) & FD_CLOEXEC, "received close-on-exec");

    cr_assert_eq(send_batch(p.a.get(), encode_batch(6, items), {f1.get()}), 0);
    cr_expect(receive_batch(p.b.get(), b) == Received::bad, "two messages, one descriptor");

    std::string big(kMaxBatchBytes + 1, 'x');
    cr_assert_eq(send_batch(p.a.get(), big, {}), 0);
    cr_expect(receive_batch(p.b.get(), b) == Received::bad, "a datagram too large");

    p.a.reset();
    cr_expect(receive_batch(p.b.get(), b) == Received::end, "the end of the socket");
}

Test(batch, one_process_takes_batches_until_the_socket_closes) {
    char tmpl[] = "/tmp/tegami-batch-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    Config cfg = default_config();
    cfg.mail_spool_dir = dir;
    cfg.hostname = "mx.example";
    ChildSpec spec{
        &cfg, LocalUser{"bob", 1000, 1000, "/home/bob"}, {}, false, 0, TargetKind::mailbox, "", {}};
    spec.reuse = true;
    Pair p;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) run_delivery_child(spec, p.b.get());
    p.b.reset();

    // The first batch: two messages, one of them larger than a read (mapped).
    std::string small = "Subject: s\r\n\r\nbody-small\r\n";
    std::string large = "Subject: l\r\n\r\n" + std::string(70000, 'L') + "\r\nbody-large\r\n";
    UniqueFd b1 = memfd_with(small), b2 = memfd_with("padding" + large);
    std::vector<BatchItem> first = {{"a@example.org", "bob@mx.example", "QA", 0, small.size()},
                                    {"c@example.org", "bob@mx.example", "QB", 7, large.size()}};
    cr_assert_eq(send_batch(p.a.get(), encode_batch(1, first), {b1.get(), b2.get()}), 0);
    std::string r1 = reports_until_end(p.a.get());
    cr_expect_eq(r1, "0 " + dir + "/bob\n0 " + dir + "/bob\n", "%s", r1.c_str());

    // The same process takes the next batch.
    std::string third = "Subject: t\r\n\r\nbody-third\r\n";
    UniqueFd b3 = memfd_with(third);
    std::vector<BatchItem> second = {{"", "bob@mx.example", "QC", 0, third.size()}};
    cr_assert_eq(send_batch(p.a.get(), encode_batch(3, second), {b3.get()}), 0);
    std::string r2 = reports_until_end(p.a.get());
    cr_expect_eq(r2, "0 " + dir + "/bob\n", "%s", r2.c_str());
    int st = 0;
    cr_expect_eq(waitpid(pid, &st, WNOHANG), 0, "the process stays between batches");

    p.a.reset();
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit 0 at the end of the socket: %#x", st);
    std::string box = tegami::test::read_file(dir + "/bob");
    for (const char* t :
         {"\nbody-small\n", "\nbody-large\n", "\nbody-third\n", "From MAILER-DAEMON "})
        cr_expect(box.find(t) != std::string::npos, "%s missing", t);
    cr_expect(box.find(std::string(70000, 'L')) != std::string::npos, "the large body whole");
    cr_expect(box.find("padding") == std::string::npos, "only the range of the descriptor");
    (void)system(("rm -rf " + dir).c_str());
}

Test(batch, a_one_batch_process_exits_with_its_failure) {
    Config cfg = default_config();
    cfg.mail_spool_dir = "/nonexistent/tegami-spool";
    ChildSpec spec{
        &cfg, LocalUser{"bob", 1000, 1000, "/home/bob"}, {}, false, 0, TargetKind::mailbox, "", {}};
    Pair p;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) run_delivery_child(spec, p.b.get());
    p.b.reset();
    UniqueFd b1 = memfd_with("x\r\n");
    std::vector<BatchItem> one = {{"a@b", "bob@mx.example", "QZ", 0, 3}};
    cr_assert_eq(send_batch(p.a.get(), encode_batch(1, one), {b1.get()}), 0);
    std::string r = reports_until_end(p.a.get());
    cr_expect(r.starts_with("75 ") && r.find("tegami-spool") != std::string::npos, "%s", r.c_str());
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == EX_TEMPFAIL, "%#x", st);

    // A body range the descriptor does not hold is a temporary failure, not a crash.
    Pair q;
    spec.reuse = true;
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) run_delivery_child(spec, q.b.get());
    q.b.reset();
    std::vector<BatchItem> short_body = {{"a@b", "bob@mx.example", "QS", 0, 100}};
    cr_assert_eq(send_batch(q.a.get(), encode_batch(1, short_body), {b1.get()}), 0);
    r = reports_until_end(q.a.get());
    cr_expect(r.starts_with("75 ") && r.find("short") != std::string::npos, "%s", r.c_str());
    q.a.reset();
    cr_assert_eq(waitpid(pid, &st, 0), pid);
}
