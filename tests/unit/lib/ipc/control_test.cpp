// control_test.cpp - tests for the control-socket messages in lib/ipc/messages.cpp
// (types 70-72): round trips, and every short, oversized or trailing frame refused.
#include <criterion/criterion.h>

#include <string>

#include "lib/ipc/messages.hpp"

using namespace tegami::ipc;

namespace {

std::string payload(const std::string& frame) {
    return frame.substr(sizeof(FrameHeader));
}

}  // namespace

Test(control_msg, bad_frames_are_refused) {
    ControlRequestMsg req;
    cr_expect(!decode(std::string(""), req));
    std::string bad_op = payload(encode(ControlRequestMsg{ControlOp::list, {}, ""}));
    bad_op[0] = 9;
    cr_expect(!decode(bad_op, req));
    std::string good = payload(encode(ControlRequestMsg{ControlOp::hold, {"A", "B"}, "why"}));
    for (size_t cut = 0; cut < good.size(); ++cut)
        cr_expect(!decode(std::string_view(good).substr(0, cut), req), "cut %zu", cut);
    cr_expect(!decode(good + "x", req));
    std::string huge = good;
    huge[4] = '\xff';  // an absurd id count
    cr_expect(!decode(huge, req));

    ControlListMsg list;
    ControlEntry e;
    e.queue_id = "Q1";
    e.recipients.push_back(ControlRecipient{"a@b", "deferred", "4.2.0", "full", 5});
    std::string lp = payload(encode(ControlListMsg{{e}}));
    for (size_t cut = 0; cut < lp.size(); ++cut)
        cr_expect(!decode(std::string_view(lp).substr(0, cut), list), "cut %zu", cut);
    ControlResultMsg res;
    cr_expect(!decode(payload(encode(ControlResultMsg{})) + "z", res));
}

Test(control_msg, round_trips) {
    ControlRequestMsg req, r2;
    req.op = ControlOp::remove;
    req.ids = {"1K1K", "2K2K"};
    req.reason = "spam";
    cr_assert(decode(payload(encode(req)), r2));
    cr_expect_eq(r2.op, ControlOp::remove);
    cr_expect_eq(r2.ids, req.ids);
    cr_expect_eq(r2.reason, "spam");

    ControlEntry e;
    e.queue_id = "Q1";
    e.flags = kControlActive | kControlHeld;
    e.size = 123;
    e.arrival = 456;
    e.sender = "s@x";
    e.reason = "held";
    e.recipients.push_back(ControlRecipient{"a@b", "deferred", "4.2.0", "full", 789});
    ControlListMsg l2;
    cr_assert(decode(payload(encode(ControlListMsg{{e, e}})), l2));
    cr_assert_eq(l2.entries.size(), 2u);
    cr_expect_eq(l2.entries[1].recipients[0].next_try, 789u);
    cr_expect_eq(l2.entries[0].flags, kControlActive | kControlHeld);

    ControlResultMsg res{kStatusPerm, 3, "Permission denied"}, res2;
    cr_assert(decode(payload(encode(res)), res2));
    cr_expect_eq(res2.count, 3u);
    cr_expect_eq(res2.text, "Permission denied");
}
