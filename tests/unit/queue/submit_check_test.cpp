// submit_check_test.cpp - validation of SubmitMsg (queue/submit_check.cpp) and bounce
// construction (queue/bounce.cpp). Bad submissions first.
#include <criterion/criterion.h>

#include <string>

#include "queue/bounce.hpp"
#include "queue/submit_check.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

ipc::SubmitMsg good() {
    ipc::SubmitMsg m;
    m.request_id = 7;
    m.queue_id = "0123456789ABCDEF";
    m.sender = "a@example.org";
    m.recipients = {"b@example.net"};
    m.client_addr = "127.0.0.1";
    m.helo = "bad\r\nhelo";
    m.protocol = "ESMTP";
    m.body = "Subject: x\r\n\r\nbody\r\n";
    return m;
}

struct Case {
    const char* name;
    void (*mutate)(ipc::SubmitMsg&);
    uint32_t status;  // 0: accepted
    const char* code;
};

const Case kCases[] = {
    {"short queue id", [](ipc::SubmitMsg& m) { m.queue_id = "ABC"; }, ipc::kStatusTemp, "4.3.5"},
    {"lower-case queue id", [](ipc::SubmitMsg& m) { m.queue_id = "0123456789abcdef"; },
     ipc::kStatusTemp, "4.3.5"},
    {"queue id with I", [](ipc::SubmitMsg& m) { m.queue_id = "0123456789ABCDEI"; },
     ipc::kStatusTemp, "4.3.5"},
    {"no recipients", [](ipc::SubmitMsg& m) { m.recipients.clear(); }, ipc::kStatusPerm, "5.5.1"},
    {"too many recipients",
     [](ipc::SubmitMsg& m) { m.recipients.assign(kMaxRecipients + 1, "b@x"); }, ipc::kStatusPerm,
     "5.5.3"},
    {"empty recipient", [](ipc::SubmitMsg& m) { m.recipients.push_back(""); }, ipc::kStatusPerm,
     "5.1.3"},
    {"recipient with CRLF", [](ipc::SubmitMsg& m) { m.recipients[0] = "b@x\r\nRCPT"; },
     ipc::kStatusPerm, "5.1.3"},
    {"recipient with brackets", [](ipc::SubmitMsg& m) { m.recipients[0] = "<b@x>"; },
     ipc::kStatusPerm, "5.1.3"},
    {"recipient too long", [](ipc::SubmitMsg& m) { m.recipients[0] = std::string(600, 'a'); },
     ipc::kStatusPerm, "5.1.3"},
    {"sender with space", [](ipc::SubmitMsg& m) { m.sender = "a b@x"; }, ipc::kStatusPerm, "5.1.7"},
    {"notify shorter than recipients",
     [](ipc::SubmitMsg& m) {
         m.notify = {2, 2};
     },
     ipc::kStatusPerm, "5.5.4"},
    {"NEVER with SUCCESS", [](ipc::SubmitMsg& m) { m.notify = {ipc::kNotifyNever | 2}; },
     ipc::kStatusPerm, "5.5.4"},
    {"unknown NOTIFY bit", [](ipc::SubmitMsg& m) { m.notify = {1u << 9}; }, ipc::kStatusPerm,
     "5.5.4"},
    {"ORCPT without type", [](ipc::SubmitMsg& m) { m.dsn_orcpts = {"b@example.net"}; },
     ipc::kStatusPerm, "5.5.4"},
    {"ORCPT with LF", [](ipc::SubmitMsg& m) { m.dsn_orcpts = {"rfc822;b@x\nY"}; }, ipc::kStatusPerm,
     "5.5.4"},
    {"ORCPTs longer than recipients",
     [](ipc::SubmitMsg& m) {
         m.dsn_orcpts = {"", ""};
     },
     ipc::kStatusPerm, "5.5.4"},
    {"ENVID too long", [](ipc::SubmitMsg& m) { m.envid = std::string(101, 'e'); }, ipc::kStatusPerm,
     "5.5.4"},
    {"ENVID with CR", [](ipc::SubmitMsg& m) { m.envid = "a\rb"; }, ipc::kStatusPerm, "5.5.4"},
    {"RET both ways", [](ipc::SubmitMsg& m) { m.flags = ipc::kFlagRetFull | ipc::kFlagRetHdrs; },
     ipc::kStatusPerm, "5.5.4"},
    {"DSN parameters",
     [](ipc::SubmitMsg& m) {
         m.notify = {ipc::kNotifySuccess};
         m.dsn_orcpts = {"rfc822;B@Example.net"};
         m.envid = "E1";
         m.flags = ipc::kFlagRetHdrs;
     },
     0, ""},
    {"null sender", [](ipc::SubmitMsg& m) { m.sender = ""; }, 0, ""},
    {"good", [](ipc::SubmitMsg&) {}, 0, ""},
    {"many recipients", [](ipc::SubmitMsg& m) { m.recipients.assign(1000, "b@x"); }, 0, ""},
};

}  // namespace

Test(submit_check, table) {
    for (const auto& c : kCases) {
        ipc::SubmitMsg m = good();
        c.mutate(m);
        auto r = check_submit(m);
        if (c.status == 0) {
            cr_expect(!r.has_value(), "case '%s' refused: %s", c.name, r ? r->text.c_str() : "");
            continue;
        }
        cr_assert(r.has_value(), "case '%s' accepted", c.name);
        cr_expect_eq(r->status, c.status, "case '%s'", c.name);
        cr_expect(r->text.rfind(c.code, 0) == 0, "case '%s': %s", c.name, r->text.c_str());
    }
}

Test(submit_check, envelope_from_submit) {
    ipc::SubmitMsg m = good();
    m.recipients.push_back("c@example.net");
    Envelope e = envelope_from_submit(m, 1234);
    cr_expect_eq(e.queue_id, m.queue_id);
    cr_expect_eq(e.arrival, 1234u);
    cr_expect_eq(e.helo, "bad??helo");
    cr_assert_eq(e.recipients.size(), 2u);
    cr_expect_eq(e.recipients[1].address, "c@example.net");
    cr_expect_eq(e.recipients[1].state, RcptState::pending);
    cr_expect_eq(e.recipients[1].next_try, 0u);
}

Test(bounce, never_bounce_a_bounce) {
    Envelope e = envelope_from_submit(good(), 1);
    cr_expect(!needs_bounce(e));  // nothing failed
    e.recipients[0].state = RcptState::failed;
    cr_expect(needs_bounce(e));
    e.sender = "";
    cr_expect(!needs_bounce(e));
}

Test(bounce, header_section) {
    cr_expect_eq(std::string(header_section("A: 1\r\nB: 2\r\n\r\nbody\r\n")), "A: 1\r\nB: 2\r\n");
    cr_expect_eq(std::string(header_section("A: 1\n\nbody")), "A: 1\n");
    cr_expect_eq(std::string(header_section("A: 1\r\n")), "A: 1\r\n");
    cr_expect_eq(std::string(header_section("")), "");
}

Test(submit, dsn_fields_reach_the_envelope) {
    ipc::SubmitMsg m = good();
    m.recipients = {"b@example.net", "c@example.net"};
    m.notify = {ipc::kNotifySuccess | ipc::kNotifyFailure, 0};
    m.dsn_orcpts = {"rfc822;B@Example.net", ""};
    m.envid = "ENV 1";
    m.flags = ipc::kFlagRetFull;
    cr_assert(!check_submit(m));
    Envelope e = envelope_from_submit(m, 5);
    cr_expect_eq(e.envid, "ENV 1");
    cr_expect_eq(e.flags, ipc::kFlagRetFull);
    cr_expect_eq(e.recipients[0].notify, ipc::kNotifySuccess | ipc::kNotifyFailure);
    cr_expect_eq(e.recipients[0].dsn_orcpt, "rfc822;B@Example.net");
    cr_expect_eq(e.recipients[1].notify, 0u);
    cr_expect_eq(e.recipients[1].dsn_orcpt, "");
}

Test(bounce, report_layout) {
    Envelope e = envelope_from_submit(good(), 1700000000);
    e.recipients.push_back(e.recipients[0]);
    e.recipients[0].state = RcptState::failed;
    e.recipients[0].dsn = "5.1.1";
    e.recipients[0].text = "no such user";
    e.recipients[1].state = RcptState::sent;
    e.recipients[1].address = "ok@example.net";
    e.flags |= ipc::kFlagRetHdrs;  // RET=HDRS: the header section only
    Bounce b =
        make_bounce(e, good().body + "secret body", "mx.test", "0123456789ABCDEG", 1700000100);
    cr_expect_eq(b.envelope.sender, "");
    cr_assert_eq(b.envelope.recipients.size(), 1u);
    cr_expect_eq(b.envelope.recipients[0].address, "a@example.org");
    cr_expect_eq(b.envelope.queue_id, "0123456789ABCDEG");
    const std::string& s = b.body;
    for (const char* want :
         {"From: MAILER-DAEMON@mx.test", "To: <a@example.org>", "Auto-Submitted: auto-replied",
          "multipart/report; report-type=delivery-status", "Content-Type: message/delivery-status",
          "Reporting-MTA: dns; mx.test", "Final-Recipient: rfc822; b@example.net", "Action: failed",
          "Status: 5.1.1", "Diagnostic-Code: X-Tegami; no such user",
          "Content-Type: text/rfc822-headers", "Subject: x\r\n",
          "--0123456789ABCDEF/mx.test--\r\n"})
        cr_expect(s.find(want) != std::string::npos, "missing: %s", want);
    cr_expect(s.find("ok@example.net") == std::string::npos, "a sent recipient is reported");
    cr_expect(s.find("secret body") == std::string::npos, "the body is quoted");
}
