// bounce_test.cpp - tests for queue/bounce.cpp beyond the layout (submit_check_test.cpp):
// NOTIFY decides who is reported, ORCPT/ENVID and a remote reply reach the report, the
// delay warning's conditions, and the double bounce to the postmaster. Refusals first.
#include "queue/bounce.hpp"

#include <criterion/criterion.h>

#include <string>

#include "lib/ipc/messages.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

Envelope env(uint32_t notify, RcptState st) {
    Envelope e;
    e.queue_id = "0123456789ABCDEF";
    e.sender = "s@example.org";
    e.arrival = 1000;
    Recipient r;
    r.address = "r@far.example";
    r.notify = notify;
    r.state = st;
    r.dsn = st == RcptState::failed ? "5.1.1" : "4.2.0";
    r.text =
        "mx.far.example[192.0.2.1]:25 said: 550 5.1.1 <r@far.example>: no such user (in "
        "reply to RCPT TO command)";
    e.recipients.push_back(r);
    return e;
}

}  // namespace

Test(dsn, notify_never_or_without_failure_gets_no_bounce) {
    cr_expect_not(needs_bounce(env(ipc::kNotifyNever, RcptState::failed)));
    cr_expect_not(needs_bounce(env(ipc::kNotifySuccess | ipc::kNotifyDelay, RcptState::failed)));
    cr_expect(needs_bounce(env(ipc::kNotifyFailure, RcptState::failed)));
    cr_expect(needs_bounce(env(0, RcptState::failed)));  // no NOTIFY: failures are reported
}

Test(dsn, delay_warning_conditions) {
    Envelope e = env(0, RcptState::deferred);
    cr_expect_not(needs_delay_warning(e, 1000 + 99, 100), "too early");
    cr_expect_not(needs_delay_warning(e, 1000 + 100, 0), "disabled");
    cr_expect(needs_delay_warning(e, 1000 + 100, 100));
    e.flags |= kFlagDelayWarned;
    cr_expect_not(needs_delay_warning(e, 1000 + 100, 100), "warned once only");
    cr_expect_not(needs_delay_warning(env(ipc::kNotifyFailure, RcptState::deferred), 2000, 100),
                  "NOTIFY without DELAY");
    Envelope n = env(0, RcptState::deferred);
    n.sender = "";
    cr_expect_not(needs_delay_warning(n, 2000, 100), "null sender");
}

Test(dsn, double_bounce_only_for_a_failed_report_and_once) {
    Envelope e = env(0, RcptState::failed);
    cr_expect_not(needs_double_bounce(e), "has a sender: an ordinary bounce");
    e.sender = "";
    cr_expect(needs_double_bounce(e));
    e.protocol = kProtocolDoubleBounce;
    cr_expect_not(needs_double_bounce(e), "a failed double bounce is only logged");
    Bounce b = make_dsn(DsnKind::double_bounce, env(0, RcptState::failed), "", "mx.test",
                        "0123456789ABCDEG", 2000, "postmaster@mx.test");
    cr_expect_eq(b.envelope.recipients[0].address, "postmaster@mx.test");
    cr_expect_eq(b.envelope.protocol, kProtocolDoubleBounce);
    cr_expect_eq(b.envelope.sender, "");
}

Test(dsn, remote_reply_orcpt_and_envid_reach_the_report) {
    Envelope e = env(0, RcptState::failed);
    e.envid = "QQ314159";
    e.recipients[0].orcpt = "R@Far.Example";
    Bounce b = make_dsn(DsnKind::failure, e, "Subject: s\r\n\r\nbody\r\n", "mx.test",
                        "0123456789ABCDEG", 2000);
    for (const char* want :
         {"Original-Envelope-Id: QQ314159\r\n", "Original-Recipient: rfc822; R@Far.Example\r\n",
          "Final-Recipient: rfc822; r@far.example\r\n", "Remote-MTA: dns; mx.far.example\r\n",
          "Diagnostic-Code: smtp; 550 5.1.1 <r@far.example>: no such user\r\n",
          "Status: 5.1.1\r\n"})
        cr_expect(b.body.find(want) != std::string::npos, "missing: %s", want);
}

Test(dsn, delay_report) {
    Envelope e = env(0, RcptState::deferred);
    Bounce b =
        make_dsn(DsnKind::delay, e, "Subject: s\r\n\r\n", "mx.test", "0123456789ABCDEG", 2000);
    for (const char* want : {"Subject: Delayed Mail (still being retried)", "Action: delayed\r\n",
                             "Status: 4.2.0\r\n", "you need not resend it"})
        cr_expect(b.body.find(want) != std::string::npos, "missing: %s", want);
    cr_expect_eq(b.envelope.recipients[0].address, "s@example.org");
}
