// request_channel_test.cpp - unit tests for smtpd/server/request_channel.hpp, the part
// queue_client.cpp and auth_client.cpp share: the PendingRequests table (cancel of a queued
// failure, an answer that cancels or fails others), and QueueClient over a real Unix socket
// whose other end the test plays as the queue: nobody listening, a good answer, the peer
// closing with requests pending, a malformed frame, cancel before the failure is answered,
// the reconnect after a failure. Nothing is ever answered from inside submit(). Then
// streamed bodies: the body file the queue lends written directly, the end of data held
// until the open is answered, frames when no file is lent, a bad descriptor and a
// failed write.
#include "smtpd/server/request_channel.hpp"

#include <criterion/criterion.h>

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>

#include <string>
#include <vector>

#include "lib/core/unique_fd.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/ipc/messages.hpp"
#include "smtpd/server/queue_client.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {

struct Answer {
    int id;
    std::vector<int>* log;
};

Test(pending_requests, cancel_of_a_queued_failure_is_never_answered) {
    PendingRequests<uint64_t, Answer> t;
    std::vector<int> got;
    Answer a{1, &got}, b{2, &got}, c{3, &got};
    t.add(1, &a);
    t.add(2, &b);
    t.fail(3, &c);
    t.fail_all();
    cr_expect_eq(t.pending(), 0u);
    cr_expect_eq(t.failed(), 3u);
    t.cancel(2);
    t.answer_failed([](uint64_t, Answer* w) { w->log->push_back(w->id); });
    cr_assert_eq(got.size(), 2u);
    cr_expect_eq(got[0] + got[1], 4, "1 and 3 answered, 2 cancelled");
    cr_expect_eq(t.failed(), 0u);
}

Test(pending_requests, an_answer_may_cancel_later_ones_and_queue_new_failures) {
    PendingRequests<uint64_t, Answer> t;
    std::vector<int> got;
    Answer a{1, &got}, b{2, &got}, d{4, &got};
    t.fail(1, &a);
    t.fail(2, &b);
    t.answer_failed([&](uint64_t id, Answer* w) {
        w->log->push_back(w->id);
        if (id == 1) {
            t.cancel(2);    // cleared in the list being answered
            t.fail(4, &d);  // answered by the next pass, not this one
        }
    });
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0], 1);
    cr_expect_eq(t.failed(), 1u);
    t.answer_failed([](uint64_t, Answer* w) { w->log->push_back(w->id); });
    cr_assert_eq(got.size(), 2u);
    cr_expect_eq(got[1], 4);
}

Test(pending_requests, take_returns_the_waiter_once) {
    PendingRequests<std::string, Answer> t;
    std::vector<int> got;
    Answer a{1, &got};
    t.add("Q1", &a);
    cr_expect_eq(t.find("Q1"), &a);
    cr_expect_eq(t.take("Q1"), &a);
    cr_expect_eq(t.take("Q1"), nullptr);
    cr_expect_eq(t.take("nope"), nullptr);
}

// ---------------------------------------------------------------- QueueClient, real socket

struct Waiter : SubmitWaiter {
    std::vector<std::pair<uint32_t, std::string>> results;
    bool inside_submit = false;
    bool answered_inside = false;
    void submit_result(uint32_t status, std::string_view text) noexcept override {
        if (inside_submit) answered_inside = true;
        results.emplace_back(status, std::string(text));
    }
};

struct Rig {
    std::string dir;
    std::shared_ptr<Config> cfg = std::make_shared<Config>(default_config());
    event_base* base = event_base_new();
    UniqueFd listener;
    std::unique_ptr<QueueClient> client;
    Rig() {
        char tmpl[] = "/tmp/tegami-reqch-XXXXXX";
        dir = mkdtemp(tmpl);
        cfg->run_dir = dir;
        client = std::make_unique<QueueClient>(base, [this] { return cfg; });
    }
    ~Rig() {
        client.reset();
        event_base_free(base);
        ::unlink(queue_socket_path(*cfg).c_str());
        ::rmdir(dir.c_str());
    }
    void listen() { listener = listen_unix(queue_socket_path(*cfg)).value(); }
    UniqueFd accept_peer() {
        pollfd p{listener.get(), POLLIN, 0};
        cr_assert_eq(::poll(&p, 1, 2000), 1, "the client connected");
        return UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    }
    void spin(int rounds = 20) {
        for (int i = 0; i < rounds; ++i) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            ::usleep(2000);
        }
    }
    uint64_t submit(Waiter& w) {
        ipc::SubmitMsg m;
        m.queue_id = "Q";
        w.inside_submit = true;
        uint64_t id = client->submit(std::move(m), &w);
        w.inside_submit = false;
        return id;
    }
    static std::string read_some(int fd) {
        pollfd p{fd, POLLIN, 0};
        cr_assert_eq(::poll(&p, 1, 2000), 1, "a frame came");
        char buf[65536];
        ssize_t n = ::read(fd, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    }
    static void send(int fd, const std::string& frame) {
        cr_assert_eq(::write(fd, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
    }
};

}  // namespace

Test(queue_client, nobody_listening_is_answered_4_3_0_from_the_timer) {
    Rig r;
    Waiter w;
    r.submit(w);
    cr_expect(!w.answered_inside, "never answered from inside submit()");
    cr_expect_eq(r.client->pending(), 1u);
    r.spin();
    cr_assert_eq(w.results.size(), 1u);
    cr_expect_eq(w.results[0].first, ipc::kStatusTemp);
    cr_expect_eq(w.results[0].second, "4.3.0 Queue unavailable, try again later");
    cr_expect_eq(r.client->pending(), 0u);
    // Within the backoff the next one fails at once, without trying; once the queue
    // listens and the backoff (100 ms) has passed, it connects.
    r.listen();
    Waiter w2;
    r.submit(w2);
    r.spin(2);
    cr_assert_eq(w2.results.size(), 1u);
    cr_expect_eq(w2.results[0].first, ipc::kStatusTemp);
    ::usleep(250000);
    Waiter w3;
    r.submit(w3);
    UniqueFd peer = r.accept_peer();
    cr_expect(peer.valid());
    cr_expect(!Rig::read_some(peer.get()).empty());
}

Test(queue_client, answer_reaches_its_waiter_and_a_close_fails_the_rest) {
    Rig r;
    r.listen();
    Waiter a, b, c;
    uint64_t ida = r.submit(a);
    UniqueFd peer = r.accept_peer();
    r.submit(b);
    uint64_t idc = r.submit(c);
    r.spin(3);
    cr_expect(!Rig::read_some(peer.get()).empty());
    ipc::SubmitResultMsg ok;
    ok.request_id = ida;
    ok.status = ipc::kStatusOk;
    ok.text = "2.0.0 Ok: queued as Q";
    Rig::send(peer.get(), ipc::encode(ok));
    r.spin();
    cr_assert_eq(a.results.size(), 1u);
    cr_expect_eq(a.results[0].first, ipc::kStatusOk);
    cr_expect_eq(a.results[0].second, "2.0.0 Ok: queued as Q");
    r.client->cancel(idc);
    peer.reset();  // the queue goes away with b pending (c was cancelled)
    r.spin();
    cr_assert_eq(b.results.size(), 1u);
    cr_expect_eq(b.results[0].first, ipc::kStatusTemp);
    cr_expect(c.results.empty(), "a cancelled request is not answered");
    cr_expect_eq(a.results.size(), 1u, "nothing more for a");
    cr_expect_eq(r.client->pending(), 0u);
}

Test(queue_client, malformed_frame_closes_the_channel_and_fails_what_waits) {
    Rig r;
    r.listen();
    Waiter a;
    r.submit(a);
    UniqueFd peer = r.accept_peer();
    r.spin(3);
    cr_expect(!Rig::read_some(peer.get()).empty());
    Rig::send(peer.get(), ipc::encode_empty(ipc::MsgType::ready));  // not an answer
    r.spin();
    cr_assert_eq(a.results.size(), 1u);
    cr_expect_eq(a.results[0].first, ipc::kStatusTemp);
    char byte;
    pollfd p{peer.get(), POLLIN, 0};
    cr_expect_eq(::poll(&p, 1, 2000), 1);
    cr_expect_eq(::read(peer.get(), &byte, 1), 0, "smtpd closed its end");
}

Test(queue_client, cancel_before_the_timer_silences_the_failure) {
    Rig r;
    Waiter w;
    uint64_t id = r.submit(w);
    r.client->cancel(id);
    r.spin();
    cr_expect(w.results.empty());
    cr_expect_eq(r.client->pending(), 0u);
}

// ---------------------------------------------------------------- streamed bodies

namespace {

struct StreamWaiter : Waiter {
    std::vector<std::pair<uint32_t, std::string>> chunks;
    void chunk_result(uint32_t status, std::string_view text) noexcept override {
        if (inside_submit) answered_inside = true;
        chunks.emplace_back(status, std::string(text));
    }
};

ipc::ReceivedFrame next_frame(int fd) {
    auto f = ipc::recv_frame_blocking(fd);
    cr_assert(f.ok(), "a frame: %s", f.ok() ? "" : f.error().message.c_str());
    return std::move(f.value());
}

bool nothing_more(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) == 0;
}

// The open: an empty BodyChunkMsg number 1.
void expect_open(int peer) {
    auto f = next_frame(peer);
    cr_assert_eq(f.type, ipc::MsgType::body_chunk);
    ipc::BodyChunkMsg c;
    cr_assert(ipc::decode(f.payload, c));
    cr_expect_eq(c.queue_id, "Q");
    cr_expect_eq(c.index, 1u);
    cr_expect(c.data.empty(), "the open carries no content");
}

void answer_open(int peer, int lend_fd) {
    if (lend_fd >= 0)
        cr_assert(
            ipc::send_frame_blocking(peer, ipc::encode(ipc::BodyWriterMsg{"Q"}), {lend_fd}).ok());
    cr_assert(ipc::send_frame_blocking(
                  peer, ipc::encode(ipc::BodyChunkResultMsg{"Q", 1, ipc::kStatusOk, ""}))
                  .ok());
}

ipc::SubmitMsg streamed_submit() {
    ipc::SubmitMsg m;
    m.queue_id = "Q";
    m.flags = ipc::kFlagStreamedBody;
    m.body = "Received: head\r\n";
    return m;
}

// A body file as the queue lends it: its offset where the content goes (100 bytes in),
// removed before the Rig's directory. Opened read-only, every write to it fails.
struct BodyFile {
    std::string path;
    UniqueFd fd;
    explicit BodyFile(const Rig& r, int flags = O_RDWR) : path(r.dir + "/body") {
        fd = UniqueFd(::open(path.c_str(), flags | O_CREAT | O_CLOEXEC, 0600));
        cr_assert(fd.valid());
        cr_assert_eq(::lseek(fd.get(), 100, SEEK_SET), 100);
    }
    ~BodyFile() { ::unlink(path.c_str()); }
    std::string content() const {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(100 + out.size()))) > 0)
            out.append(buf, static_cast<size_t>(n));
        return out;
    }
};

// The descriptors this process holds: a descriptor QueueClient received and dropped, or
// a lent file it closed, brings the count back.
size_t open_fds() {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d))
            ++n;
        ::closedir(d);
    }
    return n;
}

// Opens body "Q" as a session does, with chunk 1 "first;" (from inside a callback: the
// waiter notes any answer given inside the call); at the end of data the last chunk
// "last;" and the SubmitMsg follow at once. Checks that the empty open reached the queue
// and returns the queue's end of the channel.
UniqueFd open_body(Rig& r, StreamWaiter& w, bool end_of_data = false) {
    r.listen();
    w.inside_submit = true;
    r.client->send_chunk("Q", 1, "first;", &w);
    UniqueFd peer = r.accept_peer();
    if (end_of_data) {
        r.client->send_chunk("Q", 2, "last;", &w);
        r.client->submit(streamed_submit(), &w);
    }
    w.inside_submit = false;
    r.spin(3);
    expect_open(peer.get());
    return peer;
}

}  // namespace

Test(queue_client, a_lent_body_file_takes_the_content_and_only_the_submit_follows) {
    Rig r;
    StreamWaiter w;
    UniqueFd peer = open_body(r, w);
    BodyFile file(r);
    size_t fds = open_fds();
    answer_open(peer.get(), file.fd.get());
    r.spin();
    cr_assert_eq(w.chunks.size(), 1u, "chunk 1 answered once written");
    cr_expect_eq(w.chunks[0].first, ipc::kStatusOk);
    w.inside_submit = true;
    r.client->send_chunk("Q", 2, "second;", &w);
    w.inside_submit = false;
    cr_expect(!w.answered_inside, "never answered from inside send_chunk()");
    r.spin();
    cr_assert_eq(w.chunks.size(), 2u);
    cr_expect_eq(w.chunks[1].first, ipc::kStatusOk);
    r.client->submit(streamed_submit(), &w);
    r.spin(3);
    auto f = next_frame(peer.get());
    cr_expect_eq(f.type, ipc::MsgType::submit, "no chunk frame after the file was lent");
    cr_expect_eq(file.content(), "first;second;");
    cr_expect(nothing_more(peer.get()));
    cr_expect(!w.answered_inside);
    cr_expect_eq(open_fds(), fds, "the lent file is closed once the SubmitMsg is sent");
}

// At the end of data the last chunk and the SubmitMsg come without waiting: both are held
// until the open's answer, then the content is written and the SubmitMsg sent behind it.
Test(queue_client, the_end_of_data_before_the_open_is_answered_waits_for_it) {
    Rig r;
    StreamWaiter w;
    UniqueFd peer = open_body(r, w, true);
    cr_expect(nothing_more(peer.get()), "the SubmitMsg is held");
    BodyFile file(r);
    answer_open(peer.get(), file.fd.get());
    r.spin();
    auto f = next_frame(peer.get());
    cr_assert_eq(f.type, ipc::MsgType::submit);
    ipc::SubmitMsg m;
    cr_assert(ipc::decode(f.payload, m));
    cr_expect(m.flags & ipc::kFlagStreamedBody);
    cr_expect_eq(m.body, "Received: head\r\n");
    cr_expect_eq(file.content(), "first;last;");
    cr_expect(w.results.empty(), "the submit waits for the queue's answer");
    cr_expect(!w.answered_inside);
}

// A store that lends no file (queue_store = memory): the content goes as frames 2, 3, ...
// and frame k's answer is the session's chunk k - 1.
Test(queue_client, without_a_lent_file_the_content_goes_in_frames) {
    Rig r;
    StreamWaiter w;
    UniqueFd peer = open_body(r, w);
    answer_open(peer.get(), -1);
    r.spin();
    cr_expect(w.chunks.empty(), "chunk 1 is answered by frame 2's answer");
    auto f = next_frame(peer.get());
    cr_assert_eq(f.type, ipc::MsgType::body_chunk);
    ipc::BodyChunkMsg c;
    cr_assert(ipc::decode(f.payload, c));
    cr_expect_eq(c.index, 2u);
    cr_expect_eq(c.data, "first;");
    cr_assert(ipc::send_frame_blocking(
                  peer.get(), ipc::encode(ipc::BodyChunkResultMsg{"Q", 2, ipc::kStatusOk, ""}))
                  .ok());
    r.spin();
    cr_assert_eq(w.chunks.size(), 1u);
    cr_expect_eq(w.chunks[0].first, ipc::kStatusOk);
}

// Bad input from the queue: a lent descriptor that is not a regular file closes the
// channel, and what waits gets 4; one lent for a body no longer open is dropped.
Test(queue_client, a_lent_descriptor_that_is_not_a_file_closes_the_channel) {
    Rig r;
    StreamWaiter w;
    UniqueFd peer = open_body(r, w);
    int p[2];
    cr_assert_eq(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd rd(p[0]), wr(p[1]);
    answer_open(peer.get(), wr.get());
    r.spin();
    cr_assert_eq(w.chunks.size(), 1u);
    cr_expect_eq(w.chunks[0].first, ipc::kStatusTemp);
    char byte;
    pollfd pp{peer.get(), POLLIN, 0};
    cr_expect_eq(::poll(&pp, 1, 2000), 1);
    ssize_t n = ::read(peer.get(), &byte, 1);
    cr_expect(n == 0 || (n < 0 && errno == ECONNRESET), "smtpd closed its end");
}

Test(queue_client, a_file_lent_for_a_body_not_open_is_dropped) {
    Rig r;
    r.listen();
    Waiter a;
    uint64_t id = r.submit(a);
    UniqueFd peer = r.accept_peer();
    r.spin(3);
    cr_expect(!Rig::read_some(peer.get()).empty());
    BodyFile file(r);
    size_t fds = open_fds();
    cr_assert(ipc::send_frame_blocking(peer.get(), ipc::encode(ipc::BodyWriterMsg{"Nope"}),
                                       {file.fd.get()})
                  .ok());
    r.spin();
    // "Nope" has no open body (aborted meanwhile, say): the descriptor is dropped and
    // the channel stays up.
    cr_expect_eq(open_fds(), fds, "the received descriptor is closed");
    cr_expect(a.results.empty());
    ipc::SubmitResultMsg ok;
    ok.request_id = id;
    ok.status = ipc::kStatusOk;
    cr_assert(ipc::send_frame_blocking(peer.get(), ipc::encode(ok)).ok());
    r.spin();
    cr_assert_eq(a.results.size(), 1u);
    cr_expect_eq(a.results[0].first, ipc::kStatusOk);
}

// The body file refuses the write (here: lent read-only, EBADF; in life a full disk):
// the body is aborted, the chunk and the held SubmitMsg are answered 4.3.0 from the
// timer, and the SubmitMsg never reaches the queue (it would commit a short body).
Test(queue_client, a_failed_write_aborts_the_body_and_never_sends_the_submit) {
    Rig r;
    StreamWaiter w;
    UniqueFd peer = open_body(r, w, true);
    BodyFile ro(r, O_RDONLY);
    answer_open(peer.get(), ro.fd.get());
    r.spin();
    cr_assert_eq(w.chunks.size(), 1u);
    cr_expect_eq(w.chunks[0].first, ipc::kStatusTemp);
    cr_expect_eq(w.chunks[0].second, "4.3.0 queue write failed");
    cr_assert_eq(w.results.size(), 1u);
    cr_expect_eq(w.results[0].first, ipc::kStatusTemp);
    cr_expect_eq(w.results[0].second, "4.3.0 queue write failed");
    auto f = next_frame(peer.get());
    cr_expect_eq(f.type, ipc::MsgType::body_abort);
    cr_expect(nothing_more(peer.get()), "no SubmitMsg");
    cr_expect_eq(r.client->pending(), 0u);
}
