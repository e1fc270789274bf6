// golden_test.cpp - the wire format of every IPC message type (lib/ipc/wire.hpp) is fixed:
// one sample of each, with every field set, encodes to exactly the bytes captured from the
// hand-written encoders of kVersion 3 (before lib/ipc/messages.cpp became a field table),
// with the version raised to 4 when AuthStartMsg gained its last two fields (local address
// and port), which are appended to its sample.
// Every strict prefix of each sample and the sample with a byte more are refused, the
// values each message's layout forbids (empty recipient lists, out-of-range statuses and
// codes) are refused, and each sample decodes back to the same frame.
#include <criterion/criterion.h>

#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "lib/ipc/frame.hpp"
#include "lib/ipc/messages.hpp"

using namespace tegami::ipc;

namespace {

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string payload_of(const std::string& frame) {
    return frame.substr(sizeof(FrameHeader));
}

// One row: a message type's sample frame, how to decode a payload as that type and
// re-encode it, and the frame's bytes in hex.
struct Golden {
    const char* name;
    std::function<std::string()> sample;
    // Decodes payload; on success re-encodes into *frame. Empty for the payload-less types.
    std::function<bool(std::string_view, std::string*)> redo;
    const char* hex;
};

template <typename M>
std::function<bool(std::string_view, std::string*)> redo_as() {
    return [](std::string_view p, std::string* frame) {
        M m;
        if (!decode(p, m)) return false;
        if constexpr (std::is_same_v<M, ListenerMsg>)
            *frame = encode(m, 1);
        else
            *frame = encode(m);
        return true;
    };
}

SubmitMsg submit_sample() {
    SubmitMsg m;
    m.request_id = 0x0102030405060708ull;
    m.queue_id = "Q1";
    m.sender = "a@b";
    m.recipients = {"x@y", "z@w"};
    m.orcpts = {"X@y", "z@W"};
    m.client_addr = "::1";
    m.client_name = "lh";
    m.helo = "h";
    m.protocol = "ESMTP";
    m.flags = kFlag8BitMime | kFlagRetHdrs;
    m.envid = "E";
    m.notify = {kNotifyFailure, kNotifySuccess | kNotifyDelay};
    m.dsn_orcpts = {"rfc822;x@y", ""};
    m.body = "B\r\n";
    return m;
}

DeliverMsg deliver_sample() {
    DeliverMsg m;
    m.request_id = 9;
    m.queue_id = "Q2";
    m.sender = "s@t";
    m.recipients = {{0, "u@v", "rfc822;U@v", kNotifyNever}, {3, "w@v", "", 0}};
    m.next_hop = "[mx]:25";
    m.envid = "id";
    m.flags = kFlagSmtputf8;
    m.arrival_time = 1700000000;
    m.body_size = 4096;
    m.body_offset = 12288;
    return m;
}

DeliverResultMsg deliver_result_sample() {
    DeliverResultMsg m;
    m.request_id = 10;
    m.results = {{0, kStatusOk, "2.0.0", "ok", kResultRelayed}, {3, kStatusPerm, "5.1.1", "no", 0}};
    m.relay = "mbox";
    m.setup_ms = 12;
    m.xfer_ms = 34;
    return m;
}

DeliverRedirectMsg redirect_sample() {
    DeliverRedirectMsg m;
    m.request_id = 11;
    m.index = 2;
    m.targets = {{"r@e", kRedirectAddress, "owner-l@h"}, {"bob", kRedirectMailbox}};
    return m;
}

ControlListMsg control_list_sample() {
    ControlListMsg m;
    ControlEntry e;
    e.queue_id = "Q3";
    e.flags = kControlHeld;
    e.size = 512;
    e.arrival = 1700000001;
    e.sender = "s@t";
    e.reason = "why";
    e.recipients = {{"a@b", "deferred", "4.4.1", "later", 1700000100}};
    ControlEntry hidden;
    hidden.queue_id = "Q4";
    hidden.flags = kControlHidden | kControlActive;
    m.entries = {e, hidden};
    return m;
}

LimitReplyMsg limit_reply_sample() {
    LimitReplyMsg m;
    m.request_id = 12;
    m.status = kStatusOk;
    m.hour = LimitWindowMsg{1, 2, 3, 4, 5, 6, 7};
    m.day = LimitWindowMsg{11, 12, 13, 14, 15, 16, 17};
    return m;
}

const std::vector<Golden>& goldens() {
    static const std::vector<Golden> rows = {
        {"listener",
         [] {
             return encode(ListenerMsg{"mta", "127.0.0.1:25"}, 1);
         },
         redo_as<ListenerMsg>(),
         "494d4754040001001700000001000000030000006d74610c0000003132372e302e302e313a3235"},
        {"start", [] { return encode_empty(MsgType::start); }, nullptr,
         "494d4754040002000000000000000000"},
        {"ready", [] { return encode_empty(MsgType::ready); }, nullptr,
         "494d4754040003000000000000000000"},
        {"reload", [] { return encode_empty(MsgType::reload); }, nullptr,
         "494d4754040004000000000000000000"},
        {"submit", [] { return encode(submit_sample()); }, redo_as<SubmitMsg>(),
         "494d475404000a008600000000000000080706050403020102000000513103000000614062020000000300000"
         "0784079030000007a40770200000003000000584079030000007a4057030000003a3a31020000006c68010000"
         "00680500000045534d545009000000010000004502000000040000000a000000020000000a000000726663383"
         "2323b7840790000000003000000420d0a"},
        {"submit_result",
         [] {
             return encode(SubmitResultMsg{5, kStatusOk, "Q1", "2.0.0 ok"});
         },
         redo_as<SubmitResultMsg>(),
         "494d475404000b001e0000000000000005000000000000000200000002000000513108000000322e302e30206"
         "f6b"},
        {"body_chunk",
         [] {
             return encode(BodyChunkMsg{"Q1", 1, "data\r\n"});
         },
         redo_as<BodyChunkMsg>(),
         "494d475404000c0014000000000000000200000051310100000006000000646174610d0a"},
        {"body_chunk_result",
         [] {
             return encode(BodyChunkResultMsg{"Q1", 2, kStatusTemp, "4.3.0 full"});
         },
         redo_as<BodyChunkResultMsg>(),
         "494d475404000d001c0000000000000002000000513102000000040000000a000000342e332e302066756c6"
         "c"},
        {"body_abort", [] { return encode(BodyAbortMsg{"Q1"}); }, redo_as<BodyAbortMsg>(),
         "494d475404000e000600000000000000020000005131"},
        {"body_writer", [] { return encode(BodyWriterMsg{"Q1"}); }, redo_as<BodyWriterMsg>(),
         "494d475404000f000600000001000000020000005131"},
        {"deliver", [] { return encode(deliver_sample()); }, redo_as<DeliverMsg>(),
         "494d4754040014007600000001000000090000000000000002000000513203000000734074020000000000000"
         "0030000007540760a0000007266633832323b5540760100000003000000030000007740760000000000000000"
         "070000005b6d785d3a32350200000069640200000000f15365000000000010000000000000"
         "0030000000000000"},
        {"deliver_result", [] { return encode(deliver_result_sample()); },
         redo_as<DeliverResultMsg>(),
         "494d47540400150052000000000000000a0000000000000002000000000000000200000005000000322e302e3"
         "0020000006f6b01000000030000000500000005000000352e312e31020000006e6f00000000040000006d626f"
         "780c00000022000000"},
        {"deliver_redirect", [] { return encode(redirect_sample()); },
         redo_as<DeliverRedirectMsg>(),
         "494d47540400160037000000000000000b0000000000000002000000020000000300000072406500000000090"
         "000006f776e65722d6c406803000000626f620100000000000000"},
        {"auth_start",
         [] {
             return encode(AuthStartMsg{13, "PLAIN", 1, std::string("\0u\0p", 4), "192.0.2.1", "cb",
                                        kAuthTls, "192.0.2.25", 587});
         },
         redo_as<AuthStartMsg>(),
         "494d475404003c0046000000000000000d0000000000000005000000504c41494e01000000040000000075007"
         "0090000003139322e302e322e3102000000636201000000"
         "0a0000003139322e302e322e32354b020000"},
        {"auth_step",
         [] {
             return encode(AuthStepMsg{14, "resp"});
         },
         redo_as<AuthStepMsg>(),
         "494d475404003d0010000000000000000e000000000000000400000072657370"},
        {"auth_cancel", [] { return encode(AuthCancelMsg{15}); }, redo_as<AuthCancelMsg>(),
         "494d475404003e0008000000000000000f00000000000000"},
        {"auth_reply",
         [] {
             return encode(AuthReplyMsg{16, kAuthContinue, "ch", "alice", "334"});
         },
         redo_as<AuthReplyMsg>(),
         "494d475404003f00220000000000000010000000000000000100000002000000636805000000616c696365030"
         "00000333334"},
        {"auth_check",
         [] {
             return encode(AuthCheckMsg{17, "192.0.2.2"});
         },
         redo_as<AuthCheckMsg>(),
         "494d47540400400015000000000000001100000000000000090000003139322e302e322e32"},
        {"limit_reply", [] { return encode(limit_reply_sample()); }, redo_as<LimitReplyMsg>(),
         "494d4754040042007c000000000000000c0000000000000002000000010000000000000002000000000000000"
         "30000000000000004000000000000000500000000000000060000000000000007000000000000000b00000000"
         "0000000c000000000000000d000000000000000e000000000000000f000000000000001000000000000000110"
         "0000000000000"},
        {"limit_reserve",
         [] {
             return encode(LimitReserveMsg{19, "alice", 9, 1, 4});
         },
         redo_as<LimitReserveMsg>(),
         "494d4754040044002900000000000000130000000000000005000000616c6963650900000000000000010000"
         "00000000000400000000000000"},
        {"limit_release",
         [] {
             return encode(LimitReleaseMsg{"alice", 9, 1, 250});
         },
         redo_as<LimitReleaseMsg>(),
         "494d475404004500210000000000000005000000616c69636509000000000000000100000000000000fa0000"
         "0000000000"},
        {"control_request",
         [] {
             return encode(ControlRequestMsg{ControlOp::hold, {"Q1", "Q2"}, "spam"});
         },
         redo_as<ControlRequestMsg>(),
         "494d4754040046001c000000000000000300000002000000020000005131020000005132040000007370616"
         "d"},
        {"control_list", [] { return encode(control_list_sample()); }, redo_as<ControlListMsg>(),
         "494d47540400470083000000000000000200000002000000513302000000000200000000000001f1536500000"
         "0000300000073407403000000776879010000000300000061406208000000646566657272656405000000342e"
         "342e31050000006c6174657264f15365000000000200000051340500000000000000000000000000000000000"
         "000000000000000000000000000"},
        {"control_result",
         [] {
             return encode(ControlResultMsg{kStatusPerm, 3, "No such message"});
         },
         redo_as<ControlResultMsg>(),
         "494d4754040048001b0000000000000005000000030000000f0000004e6f2073756368206d657373616765"},
    };
    return rows;
}

// A payload with one u32 field (at byte offset `at`) replaced by v.
std::string with_u32(std::string p, size_t at, uint32_t v) {
    std::memcpy(p.data() + at, &v, sizeof v);
    return p;
}

}  // namespace

// Bad inputs first: every strict prefix and a trailing byte, for every type.
Test(ipc_golden, truncated_and_trailing_payloads_are_refused) {
    for (const auto& g : goldens()) {
        if (!g.redo) continue;
        std::string p = payload_of(g.sample());
        std::string out;
        for (size_t n = 0; n < p.size(); ++n)
            cr_expect_not(g.redo(std::string_view(p).substr(0, n), &out), "%s: a %zu-byte prefix",
                          g.name, n);
        cr_expect_not(g.redo(p + '\0', &out), "%s: a trailing byte", g.name);
    }
}

Test(ipc_golden, values_the_layouts_forbid_are_refused) {
    std::string out;
    // DeliverMsg: no recipients. Its count is after u64 id, "Q2" and "s@t".
    DeliverMsg d = deliver_sample();
    d.recipients.clear();
    cr_expect_not(redo_as<DeliverMsg>()(payload_of(encode(d)), &out), "deliver: no recipients");
    // DeliverRedirectMsg: no targets, too many, an empty address, an unknown route.
    DeliverRedirectMsg r = redirect_sample();
    r.targets.clear();
    cr_expect_not(redo_as<DeliverRedirectMsg>()(payload_of(encode(r)), &out), "no targets");
    r.targets.assign(kMaxRedirects + 1, RedirectTarget{"a@b", kRedirectAddress});
    cr_expect_not(redo_as<DeliverRedirectMsg>()(payload_of(encode(r)), &out), "too many");
    r.targets.assign(kMaxRedirects, RedirectTarget{"a@b", kRedirectAddress});
    cr_expect(redo_as<DeliverRedirectMsg>()(payload_of(encode(r)), &out), "the most allowed");
    r.targets = {{"", kRedirectAddress}};
    cr_expect_not(redo_as<DeliverRedirectMsg>()(payload_of(encode(r)), &out), "empty address");
    r.targets = {{"a@b", kRedirectMailbox + 1}};
    cr_expect_not(redo_as<DeliverRedirectMsg>()(payload_of(encode(r)), &out), "unknown route");
    // AuthStartMsg: has_initial other than 0 or 1 (after u64 id and "PLAIN": offset 17).
    std::string as = payload_of(encode(AuthStartMsg{1, "PLAIN", 0, "", "", "", 0, "", 0}));
    cr_expect(redo_as<AuthStartMsg>()(with_u32(as, 17, 1), &out), "has_initial 1");
    cr_expect_not(redo_as<AuthStartMsg>()(with_u32(as, 17, 2), &out), "has_initial 2");
    // ... and a local port past 65535 (the last u32).
    cr_expect(redo_as<AuthStartMsg>()(with_u32(as, as.size() - 4, 65535), &out), "port 65535");
    cr_expect_not(redo_as<AuthStartMsg>()(with_u32(as, as.size() - 4, 65536), &out), "port 65536");
    // AuthReplyMsg: a status outside kAuthContinue..kAuthWeak (after the u64 id).
    std::string ar = payload_of(encode(AuthReplyMsg{1, kAuthOk, "", "", ""}));
    for (uint32_t s : {0u, kAuthWeak + 1, 0xffffffffu})
        cr_expect_not(redo_as<AuthReplyMsg>()(with_u32(ar, 8, s), &out), "auth status %u", s);
    for (uint32_t s = kAuthContinue; s <= kAuthWeak; ++s)
        cr_expect(redo_as<AuthReplyMsg>()(with_u32(ar, 8, s), &out), "auth status %u", s);
    // ControlRequestMsg: an op outside list..remove (the first field).
    std::string cr = payload_of(encode(ControlRequestMsg{ControlOp::list, {}, ""}));
    for (uint32_t op : {0u, 6u})
        cr_expect_not(redo_as<ControlRequestMsg>()(with_u32(cr, 0, op), &out), "op %u", op);
    // Counts larger than the payload could hold, before anything is allocated.
    std::string sub = payload_of(encode(SubmitMsg{}));
    cr_expect_not(redo_as<SubmitMsg>()(with_u32(sub, 16, 0xffffffffu), &out), "rcpt count");
    std::string cl = payload_of(encode(ControlListMsg{}));
    cr_expect_not(redo_as<ControlListMsg>()(with_u32(cl, 0, 0xffffffffu), &out), "entry count");
}

Test(ipc_golden, every_type_encodes_to_its_captured_bytes) {
    for (const auto& g : goldens()) {
        const std::string got = hex(g.sample());
        cr_expect(got == g.hex, "%s: the encoding changed: %s", g.name, got.c_str());
    }
}

Test(ipc_golden, every_sample_decodes_to_the_same_frame) {
    for (const auto& g : goldens()) {
        if (!g.redo) continue;
        std::string frame = g.sample(), again;
        cr_expect(g.redo(payload_of(frame), &again), "%s: does not decode", g.name);
        cr_expect(again == frame, "%s: re-encodes differently", g.name);
    }
}

Test(ipc_golden, every_message_type_has_a_row) {
    // One row per MsgType in wire.hpp; a new type needs a golden row here.
    std::vector<std::string> names;
    for (const auto& g : goldens()) {
        FrameHeader h{};
        std::string f = g.sample();
        std::memcpy(&h, f.data(), sizeof h);
        cr_expect_str_eq(msg_type_name(static_cast<MsgType>(h.type)), g.name);
        names.push_back(g.name);
    }
    cr_expect_eq(names.size(), 24u);
}
