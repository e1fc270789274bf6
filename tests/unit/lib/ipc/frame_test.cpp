// frame_test.cpp - the IPC vocabulary: every message round-trips, and every malformed
// payload (short, trailing bytes, absurd counts) is refused, never half-decoded.
#include <criterion/criterion.h>
#include <sys/socket.h>

#include <cstring>

#include "lib/core/unique_fd.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/frame.hpp"
#include "lib/ipc/messages.hpp"

using namespace tegami;
using namespace tegami::ipc;

namespace {
std::string payload_of(const std::string& frame) {
    return frame.substr(sizeof(FrameHeader));
}
}  // namespace

Test(ipc_frame, bad_payloads_refused) {
    SubmitMsg m;
    m.request_id = 7;
    m.queue_id = "ABC";
    m.sender = "a@b";
    m.recipients = {"x@y", "z@w"};
    m.body = "hello\r\n";
    std::string p = payload_of(encode(m));
    SubmitMsg out;
    for (size_t cut = 0; cut < p.size(); ++cut)
        cr_expect(!decode(std::string_view(p).substr(0, cut), out), "short payload of %zu accepted",
                  cut);
    cr_expect(!decode(p + "x", out), "trailing byte accepted");
    // A recipient count far beyond what the payload can hold.
    FrameWriter w(MsgType::submit);
    w.u64(1);
    w.str("ID");
    w.str("a@b");
    w.u32(0xffffffffu);
    cr_expect(!decode(payload_of(w.finish()), out));
}

Test(ipc_frame, messages_round_trip) {
    SubmitMsg s;
    s.request_id = 42;
    s.queue_id = "0123456789ABCDEF";
    s.sender = "";
    s.recipients = {"a@localhost", std::string("b\0c@x", 5)};
    s.client_addr = "127.0.0.1";
    s.client_name = "localhost";
    s.helo = "client.example";
    s.protocol = "ESMTP";
    s.flags = kFlag8BitMime | kFlagSmtputf8;
    s.body = std::string(100000, 'x');
    SubmitMsg s2;
    cr_assert(decode(payload_of(encode(s)), s2));
    cr_expect_eq(s2.request_id, 42u);
    cr_expect_eq(s2.queue_id, s.queue_id);
    cr_expect_eq(s2.recipients, s.recipients);
    cr_expect(s2.orcpts.empty());
    s.orcpts = {"A@LocalHost", "\"b\"@x"};
    cr_assert(decode(payload_of(encode(s)), s2));
    cr_expect_eq(s2.orcpts, s.orcpts);
    cr_expect_eq(s2.flags, s.flags);
    cr_expect_eq(s2.body, s.body);
    cr_expect(s2.notify.empty() && s2.dsn_orcpts.empty() && s2.envid.empty());
    s.notify = {kNotifySuccess | kNotifyDelay, 0};
    s.dsn_orcpts = {"rfc822;A@LocalHost", ""};
    s.envid = "ENV 42";
    s.flags |= kFlagRetHdrs;
    cr_assert(decode(payload_of(encode(s)), s2));
    cr_expect_eq(s2.notify, s.notify);
    cr_expect_eq(s2.dsn_orcpts, s.dsn_orcpts);
    cr_expect_eq(s2.envid, "ENV 42");
    cr_expect_eq(s2.flags, s.flags);
    cr_expect_eq(s2.body, s.body);

    DeliverResultMsg d{
        9,
        {{0, kStatusTemp, "4.2.2", "mailbox full", 0}, {3, kStatusOk, "2.0.0", "", kResultRelayed}},
        "local"},
        d2;
    cr_assert(decode(payload_of(encode(d)), d2));
    cr_assert_eq(d2.results.size(), 2u);
    cr_expect_eq(d2.results[0].dsn, "4.2.2");
    cr_expect_eq(d2.results[1].index, 3u);
    cr_expect_eq(d2.results[1].status, kStatusOk);
    cr_expect_eq(d2.results[1].flags, kResultRelayed);
    cr_expect_eq(d2.relay, "local");
    cr_expect_eq(d2.setup_ms, 0u);
    d.setup_ms = 120;
    d.xfer_ms = 4000000;
    cr_assert(decode(payload_of(encode(d)), d2));
    cr_expect_eq(d2.setup_ms, 120u);
    cr_expect_eq(d2.xfer_ms, 4000000u);
    std::string cut = payload_of(encode(d));
    cr_expect(!decode(cut.substr(0, cut.size() - 4), d2), "a frame without the timings is refused");
    SubmitResultMsg r{3, kStatusOk, "QID", "2.0.0 ok"}, r2;
    cr_assert(decode(payload_of(encode(r)), r2));
    cr_expect_eq(r2.queue_id, "QID");
    DeliverMsg dm{5,  "QID",   "s@x", {{0, "r@y", "R@Y", kNotifyFailure}, {7, "q@y", "", 0}},
                  "", "env-1", 0,     1700000000,
                  4},
        dm2;
    std::string frame = encode(dm);
    cr_expect_eq(reinterpret_cast<const FrameHeader*>(frame.data())->nfds, 1u,
                 "the body travels as one descriptor");
    cr_assert(decode(payload_of(frame), dm2));
    cr_expect_eq(dm2.arrival_time, 1700000000u);
    cr_assert_eq(dm2.recipients.size(), 2u);
    cr_expect_eq(dm2.recipients[0].orcpt, "R@Y");
    cr_expect_eq(dm2.recipients[0].notify, kNotifyFailure);
    cr_expect_eq(dm2.recipients[1].index, 7u);
    cr_expect_eq(dm2.envid, "env-1");
    cr_expect_eq(dm2.body_size, 4u);
}

Test(ipc_frame, deliver_bad_payloads_refused) {
    DeliverMsg dm{5, "QID", "s@x", {{0, "r@y", "", 0}}, "", "", 0, 1, 0}, out;
    std::string p = payload_of(encode(dm));
    for (size_t cut = 0; cut < p.size(); ++cut)
        cr_expect(!decode(std::string_view(p).substr(0, cut), out), "short payload of %zu", cut);
    cr_expect(!decode(p + "x", out), "trailing byte accepted");
    // No recipients, and a count beyond what the payload holds.
    for (uint32_t n : {0u, 0xffffffffu}) {
        FrameWriter w(MsgType::deliver);
        w.u64(1);
        w.str("Q");
        w.str("s@x");
        w.u32(n);
        cr_expect(!decode(payload_of(w.finish()), out), "recipient count %u accepted", n);
    }
    DeliverResultMsg r{1, {{0, 2, "2.0.0", ""}}, "local"}, rout;
    std::string rp = payload_of(encode(r));
    for (size_t cut = 0; cut < rp.size(); ++cut)
        cr_expect(!decode(std::string_view(rp).substr(0, cut), rout), "short result of %zu", cut);
    FrameWriter w(MsgType::deliver_result);
    w.u64(1);
    w.u32(0xffffffffu);
    cr_expect(!decode(payload_of(w.finish()), rout), "absurd result count accepted");
}

Test(ipc_frame, deliver_redirect_round_trip_and_bad_payloads) {
    DeliverRedirectMsg m{
        7, 2, {{"bob@far.example", kRedirectAddress}, {"alice@localhost", kRedirectMailbox}}},
        out;
    std::string p = payload_of(encode(m));
    cr_assert(decode(p, out));
    cr_expect_eq(out.request_id, 7u);
    cr_expect_eq(out.index, 2u);
    cr_assert_eq(out.targets.size(), 2u);
    cr_expect_eq(out.targets[0].address, "bob@far.example");
    cr_expect_eq(out.targets[1].route, kRedirectMailbox);
    for (size_t cut = 0; cut < p.size(); ++cut)
        cr_expect(!decode(std::string_view(p).substr(0, cut), out), "short payload of %zu", cut);
    cr_expect(!decode(p + "x", out), "trailing byte accepted");
    DeliverRedirectMsg none{7, 2, {}}, empty_addr{7, 2, {{"", 0}}}, bad_route{7, 2, {{"a@b", 9}}};
    cr_expect(!decode(payload_of(encode(none)), out), "no targets accepted");
    cr_expect(!decode(payload_of(encode(empty_addr)), out), "empty address accepted");
    cr_expect(!decode(payload_of(encode(bad_route)), out), "unknown route accepted");
    FrameWriter w(MsgType::deliver_redirect);
    w.u64(1);
    w.u32(0);
    w.u32(static_cast<uint32_t>(kMaxRedirects + 1));
    cr_expect(!decode(payload_of(w.finish()), out), "too many targets accepted");
}

Test(ipc_frame, header_checks) {
    FrameHeader h{kMagic, kVersion, 10, 0, 0};
    cr_expect(header_valid(h));
    FrameHeader bad_magic = h;
    bad_magic.magic ^= 1;
    cr_expect(!header_valid(bad_magic));
    FrameHeader bad_version = h;
    bad_version.version = kVersion + 1;
    cr_expect(!header_valid(bad_version));
    FrameHeader too_big = h;
    too_big.length = kMaxPayload + 1;
    cr_expect(!header_valid(too_big));
    FrameHeader fds = h;
    fds.nfds = kMaxFds + 1;
    cr_expect(!header_valid(fds));
}

Test(ipc_channel, blocking_frames_carry_descriptors) {
    int sv[2];
    cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    UniqueFd a(sv[0]), b(sv[1]);
    int p[2];
    cr_assert(pipe(p) == 0);
    UniqueFd pr(p[0]), pw(p[1]);
    cr_assert(
        send_frame_blocking(a.get(), encode(ListenerMsg{"mta", "127.0.0.1:25"}, 1), {pw.get()})
            .ok());
    auto f = recv_frame_blocking(b.get());
    cr_assert(f.ok());
    cr_expect(f->type == MsgType::listener);
    cr_assert_eq(f->fds.size(), 1u);
    ListenerMsg m;
    cr_assert(decode(f->payload, m));
    cr_expect_eq(m.role, "mta");
    cr_expect(write(f->fds[0].get(), "x", 1) == 1);
    char c = 0;
    cr_expect(read(pr.get(), &c, 1) == 1 && c == 'x', "the passed descriptor is the pipe");
    // Garbage instead of a frame.
    const char junk[sizeof(FrameHeader)] = "not a frame....";
    cr_assert(write(a.get(), junk, sizeof junk) == static_cast<ssize_t>(sizeof junk));
    cr_expect(!recv_frame_blocking(b.get()).ok());
}
