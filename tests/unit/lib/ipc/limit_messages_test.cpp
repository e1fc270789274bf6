// limit_messages_test.cpp - tests for the sending-limit messages of lib/ipc/messages.cpp
// (limit_reply, limit_reserve, limit_release): truncated and over-long
// payloads are refused first, then every field round-trips.
#include <criterion/criterion.h>

#include <cstring>
#include <string>

#include "lib/ipc/frame.hpp"
#include "lib/ipc/messages.hpp"

using namespace tegami::ipc;

namespace {
std::string payload(const std::string& frame) {
    return frame.substr(sizeof(FrameHeader));
}
}  // namespace

Test(limit_messages, short_and_long_payloads_are_refused) {
    LimitReplyMsg r;
    r.request_id = 7;
    r.status = kStatusOk;
    r.day.next_drop = 99;
    std::string p = payload(encode(r));
    LimitReplyMsg out;
    for (size_t n = 0; n < p.size(); ++n)
        cr_expect_not(decode(std::string_view(p).substr(0, n), out), "a %zu-byte prefix", n);
    cr_expect_not(decode(p + "x", out), "trailing bytes");
    LimitReleaseMsg c{"alice", 5, 1, 3};
    std::string pc = payload(encode(c));
    LimitReleaseMsg cout;
    cr_expect_not(decode(pc.substr(0, pc.size() - 1), cout));
    cr_expect_not(decode(pc + '\0', cout));
    LimitReserveMsg k;
    cr_expect_not(decode("", k));
}

Test(limit_messages, round_trip) {
    LimitReplyMsg r;
    r.request_id = 9;
    r.status = kStatusTemp;
    r.hour = LimitWindowMsg{1, 2, 3, 4, 5, 6, 7};
    r.day = LimitWindowMsg{11, 12, 13, 14, 15, 16, 17};
    std::string f = encode(r);
    FrameHeader h{};
    std::memcpy(&h, f.data(), sizeof h);
    cr_expect_eq(h.type, static_cast<uint16_t>(MsgType::limit_reply));
    LimitReplyMsg r2;
    cr_assert(decode(payload(f), r2));
    cr_expect(r2.request_id == 9 && r2.status == kStatusTemp);
    cr_expect(r2.hour.max_messages == 1 && r2.hour.next_drop == 7);
    cr_expect(r2.day.messages == 13 && r2.day.recipients_free_at == 16);
}

Test(limit_messages, reserve_and_release_round_trip) {
    LimitReserveMsg k{21, "alice", 9, 1, 4};
    std::string pk = payload(encode(k));
    LimitReserveMsg k2;
    cr_assert(decode(pk, k2));
    cr_expect(k2.request_id == 21 && k2.identity == "alice" && k2.holder == 9 && k2.messages == 1 &&
              k2.recipients == 4);
    for (size_t n = 0; n < pk.size(); ++n)
        cr_expect_not(decode(std::string_view(pk).substr(0, n), k2), "a %zu-byte prefix", n);
    cr_expect_not(decode(pk + "x", k2), "trailing bytes");

    LimitReleaseMsg l{"uid:1000", 9, 1, 2};
    std::string pl = payload(encode(l));
    LimitReleaseMsg l2;
    cr_assert(decode(pl, l2));
    cr_expect(l2.identity == "uid:1000" && l2.holder == 9 && l2.messages == 1 &&
              l2.recipients == 2);
    cr_expect_not(decode(pl.substr(0, pl.size() - 1), l2));
    cr_expect_str_eq(msg_type_name(MsgType::limit_reserve), "limit_reserve");
    cr_expect_str_eq(msg_type_name(MsgType::limit_release), "limit_release");
}
