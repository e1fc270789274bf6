// stream_test.cpp - scripted-I/O tests for lib/event/stream.cpp: a Stream over a
// transport that plays back a script of read, write and handshake results (short
// reads and writes, EAGAIN at every step, want-read/want-write swaps, EOF, errors),
// with no sockets and no event loop: each test calls handle() as the loop would and
// checks what the stream fed, wrote, armed and kept. Bad paths first.
#include <criterion/criterion.h>

#include <cerrno>
#include <deque>
#include <string>

#include "lib/event/stream.hpp"

using namespace tegami;

namespace {

struct Step {
    IoState state;
    std::string data;  // read: the bytes returned; write: ignored
    size_t take = 0;   // write: how many bytes the socket takes (SIZE_MAX: all)
    int err = 0;
};

struct Script : Transport {
    std::deque<Step> reads, writes, handshakes;
    std::string written;
    bool pending = false;
    int read_calls = 0, write_calls = 0;
    int fd() const override { return -1; }
    IoResult read(char* buf, size_t len) override {
        ++read_calls;
        if (reads.empty()) return {IoState::need_read, 0, 0};
        Step& s = reads.front();
        if (s.state != IoState::done) {
            IoResult r{s.state, 0, s.err};
            reads.pop_front();
            return r;
        }
        size_t n = std::min(len, s.data.size());
        s.data.copy(buf, n);
        s.data.erase(0, n);
        if (s.data.empty()) reads.pop_front();
        return {IoState::done, n, 0};
    }
    IoResult write(const char* buf, size_t len) override {
        ++write_calls;
        if (writes.empty()) {
            written.append(buf, len);
            return {IoState::done, len, 0};
        }
        Step s = writes.front();
        writes.pop_front();
        if (s.state != IoState::done) return {s.state, 0, s.err};
        size_t n = std::min(len, s.take);
        written.append(buf, n);
        return {IoState::done, n, 0};
    }
    IoResult handshake() override {
        if (handshakes.empty()) return {};
        Step s = handshakes.front();
        handshakes.pop_front();
        return {s.state, 0, s.err};
    }
    bool has_pending_input() const override { return pending; }
    UniqueFd take_fd() override { return UniqueFd(); }
};

// Takes whole lines only (as the SMTP session does with its own line buffer off), and
// answers each with "ok <line>".
struct Owner : StreamOwner {
    Stream* s = nullptr;
    std::string fed;
    int timeouts = 0, secured = 0;
    bool reply = true;
    bool pause_after_line = false;
    void stream_ready(short what) noexcept override { s->handle(what); }
    size_t stream_input(std::string_view in) override {
        size_t lf = in.find('\n');
        if (lf == std::string_view::npos) return 0;
        std::string line(in.substr(0, lf + 1));
        fed += line;
        if (reply) s->write("ok " + line);
        if (pause_after_line) s->pause(true);
        return lf + 1;
    }
    void stream_timeout() override {
        ++timeouts;
        s->write("421 timeout\r\n");
    }
    void stream_secured() override { ++secured; }
};

struct Rig {
    Script* t;
    Owner o;
    Stream s;
    Rig() : t(new Script), s(nullptr, std::unique_ptr<Transport>(t), o) {
        o.s = &s;
        s.set_timeouts(300, 300);
    }
};

Step rd(std::string d) {
    return {IoState::done, std::move(d)};
}
Step eagain() {
    return {IoState::need_read, ""};
}
Step wr(size_t take) {
    return {IoState::done, "", take};
}
Step wblock() {
    return {IoState::need_write, ""};
}

}  // namespace

Test(stream, peer_that_closes_mid_reply_ends_the_stream_with_an_error) {
    Rig r;
    r.t->reads = {rd("A\r\n")};
    r.t->writes = {wr(2), {IoState::error, "", 0, EPIPE}};
    r.s.handle(EV_READ);
    cr_expect_eq(r.t->written, "ok");  // 2 bytes left, then the peer vanished
    r.s.handle(EV_WRITE);
    cr_expect(r.s.dead());
    cr_expect_eq(r.s.end(), StreamEnd::error);
    cr_expect_str_eq(r.s.end_reason().c_str(), "Broken pipe");
    cr_expect_eq(r.s.interest(), 0, "a dead stream arms nothing");
    cr_expect_not(r.s.holds_buffers());
    r.s.write("more\r\n");
    cr_expect_eq(r.t->written, "ok", "nothing is written after the end");
}

Test(stream, client_that_never_reads_is_bounded_and_timed_out) {
    Rig r;
    std::string lots;
    for (int i = 0; i < 4000; ++i)
        lots += "NOOP\r\n";
    r.t->reads = {rd(lots)};
    for (int i = 0; i < 100000; ++i)
        r.t->writes.push_back(wblock());
    for (int i = 0; i < 10; ++i)
        r.s.handle(EV_READ | EV_WRITE);
    // Output stops growing past the high-water mark (plus one reply): input is no
    // longer fed or read.
    cr_expect_lt(r.o.fed.size(), lots.size());
    cr_expect_eq(r.s.interest(), EV_WRITE, "only writability is awaited: %d", r.s.interest());
    size_t fed = r.o.fed.size();
    r.s.handle(EV_READ | EV_WRITE);
    cr_expect_eq(r.o.fed.size(), fed);
    cr_expect_leq(fed, Stream::kOutputHighWater + 64, "fed %zu", fed);
    r.s.handle(EV_TIMEOUT);
    cr_expect_eq(r.s.end(), StreamEnd::write_timeout);
    cr_expect_eq(r.o.timeouts, 0, "no 421 is queued behind replies nobody reads");
    cr_expect_not(r.s.holds_buffers());
}

Test(stream, read_error_and_eof) {
    Rig r;
    r.t->reads = {{IoState::error, "", 0, ECONNRESET}};
    r.s.handle(EV_READ);
    cr_expect_eq(r.s.end(), StreamEnd::error);
    cr_expect_str_eq(r.s.end_reason().c_str(), "Connection reset by peer");

    Rig e;
    e.t->reads = {rd("QUIT\r\nHALF"), {IoState::closed, ""}};
    e.s.handle(EV_READ);
    e.s.handle(EV_READ);
    cr_expect_eq(e.o.fed, "QUIT\r\n", "what came before EOF is still fed");
    cr_expect_eq(e.s.end(), StreamEnd::peer_closed);
}

// A client may close its sending side once it sent everything (shutdown(SHUT_WR), as
// "nc -N" does) and still read the replies: what it sent before the EOF is answered,
// even while the owner waits (the queue answering the end of data), and only then does
// the stream end.
Test(stream, a_half_closed_peer_gets_the_replies_to_what_it_sent) {
    Rig r;
    r.o.pause_after_line = true;
    r.t->reads = {rd("DATA\r\nQUIT\r\n"), {IoState::closed, ""}};
    r.s.handle(EV_READ);
    r.s.handle(EV_READ);  // the EOF, while the owner waits
    cr_expect_not(r.s.dead(), "the stream lives on while the owner waits");
    cr_expect_eq(r.s.interest() & EV_READ, 0, "nothing more is read after the EOF");
    cr_expect_eq(r.s.buffered_input(), 6u);
    r.o.pause_after_line = false;
    r.s.resume();
    cr_expect_eq(r.o.fed, "DATA\r\nQUIT\r\n");
    cr_expect_eq(r.t->written, "ok DATA\r\nok QUIT\r\n");
    cr_expect_eq(r.s.end(), StreamEnd::peer_closed, "then it ends");
    cr_expect_not(r.s.holds_buffers());

    // A reply the socket does not take at once is still sent before the end.
    Rig w;
    w.t->reads = {rd("A\r\n"), {IoState::closed, ""}};
    w.t->writes = {wblock(), wblock()};
    w.s.handle(EV_READ);
    w.s.handle(EV_READ);
    cr_expect_not(w.s.dead());
    cr_expect_eq(w.s.interest(), EV_WRITE);
    w.s.handle(EV_WRITE);
    cr_expect_eq(w.t->written, "ok A\r\n");
    cr_expect_eq(w.s.end(), StreamEnd::peer_closed);
}

Test(stream, read_timeout_asks_the_owner) {
    Rig r;
    r.s.handle(EV_TIMEOUT);
    cr_expect_eq(r.o.timeouts, 1);
    cr_expect_eq(r.t->written, "421 timeout\r\n");
    cr_expect_not(r.s.dead());
}

Test(stream, short_reads_and_eagain_at_every_step) {
    Rig r;
    r.t->reads = {rd("EH"), eagain(), rd("LO a"), eagain(), rd("\r\nMA"), eagain(), rd("IL\r\n")};
    for (int i = 0; i < 7; ++i)
        r.s.handle(EV_READ);
    cr_expect_eq(r.o.fed, "EHLO a\r\nMAIL\r\n");
    cr_expect_eq(r.t->written, "ok EHLO a\r\nok MAIL\r\n");
    cr_expect_eq(r.s.interest(), EV_READ);
    cr_expect_not(r.s.holds_buffers(), "idle: no buffers kept");
}

Test(stream, one_read_per_readiness_without_fionread) {
    Rig r;
    r.t->reads = {rd("A\r\n"), rd("B\r\n")};
    r.s.handle(EV_READ);
    cr_expect_eq(r.t->read_calls, 1, "a read that got data is not repeated until EAGAIN");
    cr_expect_eq(r.o.fed, "A\r\n");
    r.s.handle(EV_READ);
    cr_expect_eq(r.o.fed, "A\r\nB\r\n");
}

Test(stream, short_writes_and_eagain_on_write) {
    Rig r;
    r.t->reads = {rd("HELLO\r\n")};
    r.t->writes = {wr(3), wblock(), wr(2), wblock(), wr(100)};
    r.s.handle(EV_READ);  // the reply, gathered during the feed: 3 bytes, then blocked
    cr_expect_eq(r.t->written, "ok ");
    cr_expect_eq(r.s.interest(), EV_READ | EV_WRITE);
    cr_expect_not(r.s.output_empty(), "the unsent rest is kept");
    r.s.handle(EV_WRITE);  // 2 bytes, then blocked
    cr_expect_eq(r.t->written, "ok HE");
    r.s.handle(EV_WRITE);
    cr_expect_eq(r.t->written, "ok HELLO\r\n");
    cr_expect_eq(r.s.interest(), EV_READ, "write interest dropped once flushed");
    cr_expect_not(r.s.holds_buffers());
}

// Pipelined commands read in one go get their replies in one write (one segment: Nagle's
// algorithm cannot hold the second reply back waiting for the client's delayed ACK).
Test(stream, replies_to_pipelined_input_go_out_in_one_write) {
    Rig r;
    r.t->reads = {rd("MAIL\r\nRCPT\r\nDATA\r\n"), eagain()};
    r.s.handle(EV_READ);
    cr_expect_eq(r.o.fed, "MAIL\r\nRCPT\r\nDATA\r\n");
    cr_expect_eq(r.t->written, "ok MAIL\r\nok RCPT\r\nok DATA\r\n");
    cr_expect_eq(r.t->write_calls, 1);
    cr_expect_not(r.s.holds_buffers());
}

Test(stream, replies_go_straight_to_the_socket) {
    Rig r;
    r.s.write("220 hi\r\n");
    cr_expect_eq(r.t->written, "220 hi\r\n");
    cr_expect_eq(r.t->write_calls, 1);
    cr_expect_not(r.s.holds_buffers());
    cr_expect_eq(r.s.interest(), EV_READ);
}

Test(stream, transport_want_write_on_read_and_want_read_on_write) {
    Rig r;
    r.t->reads = {{IoState::need_write, ""}, rd("X\r\n")};
    r.s.handle(EV_READ);
    cr_expect_eq(r.s.interest(), EV_WRITE, "a read waiting for writability");
    r.s.handle(EV_WRITE);
    cr_expect_eq(r.o.fed, "X\r\n");
    r.t->writes = {{IoState::need_read, ""}};
    r.s.write("Y\r\n");
    cr_expect_eq(r.s.interest(), EV_READ, "a write waiting for readability");
    r.s.handle(EV_READ);
    cr_expect(r.t->written.find("Y\r\n") != std::string::npos);
}

Test(stream, pending_transport_input_is_drained_without_a_wakeup) {
    Rig r;
    r.t->pending = true;
    r.t->reads = {rd("A\r\n"), rd("B\r\n")};
    r.s.handle(EV_READ);
    r.t->pending = false;
    cr_expect_eq(r.o.fed, "A\r\nB\r\n");
}

Test(stream, paused_input_stays_buffered_until_resumed) {
    Rig r;
    r.o.pause_after_line = true;
    r.t->reads = {rd("DATA\r\nQUIT\r\n")};
    r.s.handle(EV_READ);
    cr_expect_eq(r.o.fed, "DATA\r\n");
    cr_expect_eq(r.s.buffered_input(), 6u);
    r.o.pause_after_line = false;
    r.s.resume();
    cr_expect_eq(r.o.fed, "DATA\r\nQUIT\r\n");
    cr_expect_not(r.s.holds_buffers());
}

Test(stream, stop_reading_discards_and_disarms_reading) {
    Rig r;
    r.s.stop_reading();
    cr_expect_eq(r.s.interest(), 0);
    r.s.handle(EV_READ);
    cr_expect_eq(r.t->read_calls, 0);
}

Test(stream, swap_discards_pipelined_plaintext_and_handshakes) {
    Rig r;
    r.o.reply = false;
    r.o.pause_after_line = true;  // the session stops at STARTTLS
    r.t->reads = {rd("STARTTLS\r\nMAIL FROM:<evil>\r\n")};
    r.s.handle(EV_READ);
    cr_expect_eq(r.s.buffered_input(), 18u);
    auto* next = new Script;
    next->handshakes = {{IoState::need_write, ""}, {}};
    next->reads = {rd("EHLO b\r\n")};
    cr_expect(r.s.swap_transport([next](UniqueFd) { return std::unique_ptr<Transport>(next); }));
    cr_expect_eq(r.s.buffered_input(), 0u, "plaintext after STARTTLS is dropped");
    r.s.pause(false);
    cr_expect(r.s.handshaking());
    cr_expect_eq(r.s.interest(), EV_READ);
    r.s.handle(EV_READ);
    cr_expect_eq(r.s.interest(), EV_WRITE, "the handshake asked for writability");
    r.o.pause_after_line = false;
    r.s.handle(EV_WRITE);
    cr_expect_not(r.s.handshaking());
    cr_expect_eq(r.o.secured, 1);
    cr_expect_eq(r.o.fed, "STARTTLS\r\nEHLO b\r\n", "the injected MAIL never reaches the owner");
}

Test(stream, failed_or_stalled_handshake_ends_the_stream) {
    Rig r;
    auto* next = new Script;
    next->handshakes = {{IoState::error, "", 0, EPROTO}};
    r.s.swap_transport([next](UniqueFd) { return std::unique_ptr<Transport>(next); });
    r.s.handle(EV_READ);
    cr_expect_eq(r.s.end(), StreamEnd::handshake_failed);

    Rig s;
    auto* stall = new Script;
    stall->handshakes = {{IoState::need_read, ""}};
    s.s.swap_transport([stall](UniqueFd) { return std::unique_ptr<Transport>(stall); });
    s.s.handle(EV_READ);
    s.s.handle(EV_TIMEOUT);
    cr_expect_eq(s.s.end(), StreamEnd::handshake_failed);
    cr_expect_eq(s.o.timeouts, 0);
}

// A client sending a byte at a time, never finishing its line, is timed out by the read
// timeout counted from the line's first byte, however often bytes come; one that finishes
// its lines is not, and input held while the owner is paused does not count. (Real time:
// the read timeout is 1 s here.)
namespace {
struct HoldingOwner : Owner {
    bool holding = false;  // the owner keeps the partial line itself (as the session does)
    size_t stream_input(std::string_view in) override {
        size_t lf = in.find('\n');
        holding = lf == std::string_view::npos;
        if (holding) return in.size();
        fed += std::string(in.substr(0, lf + 1));
        return lf + 1;
    }
    bool stream_partial() const override { return holding; }
};
}  // namespace

Test(stream, a_line_sent_a_byte_at_a_time_is_timed_out_from_its_first_byte) {
    for (bool owner_holds : {false, true}) {
        Script* t = new Script;
        HoldingOwner ho;
        Owner plain;
        Owner& o = owner_holds ? static_cast<Owner&>(ho) : plain;
        Stream s(nullptr, std::unique_ptr<Transport>(t), o);
        o.s = &s;
        s.set_timeouts(1, 1);
        std::string line = "NOOP NOOP NOOP";
        for (char c : line)
            t->reads.push_back(rd(std::string(1, c)));
        int handled = 0;
        while (o.timeouts == 0 && handled < static_cast<int>(line.size())) {
            s.handle(EV_READ);
            ++handled;
            usleep(150000);
        }
        cr_expect_eq(o.timeouts, 1, "owner holds the line: %d", owner_holds);
        cr_expect_geq(handled, 6, "not before a second had passed (%d bytes)", handled);
        cr_expect_leq(handled, 9, "soon after the second (%d bytes)", handled);
        cr_expect_eq(t->written, "421 timeout\r\n");
    }
}

Test(stream, finished_lines_and_paused_input_do_not_run_the_partial_line_clock) {
    Rig r;
    r.s.set_timeouts(1, 1);
    r.o.reply = false;
    for (int i = 0; i < 8; ++i) {  // 1.2 s of lines, each done in two reads
        r.t->reads = {rd("NO"), rd("OP\r\n")};
        r.s.handle(EV_READ);
        r.s.handle(EV_READ);
        usleep(150000);
    }
    cr_expect_eq(r.o.timeouts, 0);
    r.o.pause_after_line = true;
    r.t->reads = {rd("A\r\nB\r\n")};  // B waits while the owner is paused
    r.s.handle(EV_READ);
    usleep(1200000);
    r.s.handle(EV_READ);
    cr_expect_eq(r.o.timeouts, 0, "input held for a paused owner is not the client's delay");
    std::string noops;
    for (int i = 0; i < 8; ++i)
        noops += "NOOP\r\n";
    cr_expect_eq(r.o.fed, noops + "A\r\n", "B is still held");
}
