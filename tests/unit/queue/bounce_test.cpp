// bounce_test.cpp - tests for queue/bounce.cpp beyond the layout (submit_check_test.cpp):
// NOTIFY decides who is reported, ORCPT/ENVID and a remote reply reach the report, the
// delay warning's conditions, the double bounce to the postmaster, success reports
// (delivered, relayed, together with failures) and what RET returns. Refusals first.
#include "queue/bounce.hpp"

#include <criterion/criterion.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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
                        "0123456789ABCDEG", 2000, DsnOptions{"postmaster@mx.test", 50000, {}});
    cr_expect_eq(b.envelope.recipients[0].address, "postmaster@mx.test");
    cr_expect_eq(b.envelope.protocol, kProtocolDoubleBounce);
    cr_expect_eq(b.envelope.sender, "");
}

Test(dsn, remote_reply_orcpt_and_envid_reach_the_report) {
    Envelope e = env(0, RcptState::failed);
    e.envid = "QQ314159";
    e.recipients[0].orcpt = "R@far.example";  // as written: not an ORCPT, never reported
    e.recipients[0].dsn_orcpt = "rfc822;R@Far.Example";
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

namespace {

bool has(const Bounce& b, const char* s) {
    return b.body.find(s) != std::string::npos;
}

const char* kBody = "Subject: s\r\nFrom: s@example.org\r\n\r\nthe body line\r\n";

}  // namespace

Test(dsn, success_report_needs_a_sender_and_an_action) {
    Envelope e = env(ipc::kNotifySuccess, RcptState::sent);
    cr_expect_not(needs_success_report(e, {}), "nothing to report");
    cr_expect_not(needs_success_report(e, {SuccessAction::none}));
    Envelope n = e;
    n.sender = "";
    cr_expect_not(needs_success_report(n, {SuccessAction::delivered}), "null sender: never");
    cr_expect(needs_success_report(e, {SuccessAction::delivered}));
    cr_expect(notify_wants(ipc::kNotifySuccess, ipc::kNotifySuccess));
    cr_expect_not(notify_wants(0, ipc::kNotifySuccess), "no NOTIFY: no success report");
    cr_expect_not(notify_wants(ipc::kNotifyNever, ipc::kNotifySuccess));
}

Test(dsn, success_report_delivered_and_relayed) {
    Envelope e = env(ipc::kNotifySuccess, RcptState::sent);
    e.recipients[0].dsn = "2.0.0";
    e.recipients[0].text = "delivered to mailbox";
    Recipient r2 = e.recipients[0];
    r2.address = "t@far.example";
    r2.text = "mx.far.example[192.0.2.1]:25 said: 250 2.0.0 Ok: queued as X";
    e.recipients.push_back(r2);
    DsnOptions o;
    o.successes = {SuccessAction::delivered, SuccessAction::relayed};
    Bounce b = make_dsn(DsnKind::success, e, kBody, "mx.test", "0123456789ABCDEG", 2000, o);
    for (const char* want :
         {"Subject: Successful Mail Delivery Report\r\n", "Action: delivered\r\n",
          "Action: relayed\r\n", "Status: 2.0.0\r\n", "Remote-MTA: dns; mx.far.example\r\n",
          "Content-Type: text/rfc822-headers\r\n", "Subject: s\r\n"})
        cr_expect(has(b, want), "missing: %s", want);
    cr_expect_not(has(b, "the body line"), "no RET: a success report returns headers only");
    cr_expect_not(has(b, "Action: failed"));
    cr_expect_eq(b.envelope.sender, "");
    cr_expect_eq(b.envelope.recipients[0].address, "s@example.org");
}

Test(dsn, failure_report_lists_successes_asked_for) {
    Envelope e = env(0, RcptState::failed);
    Recipient ok = e.recipients[0];
    ok.address = "ok@far.example";
    ok.state = RcptState::sent;
    ok.notify = ipc::kNotifySuccess | ipc::kNotifyFailure;
    ok.dsn = "2.0.0";
    ok.text = "delivered to mailbox";
    e.recipients.push_back(ok);
    DsnOptions o;
    o.successes = {SuccessAction::none, SuccessAction::delivered};
    Bounce b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000, o);
    cr_expect(has(b, "Action: failed\r\n"));
    cr_expect(has(b, "Final-Recipient: rfc822; ok@far.example\r\nAction: delivered\r\n"));
    cr_expect(has(b, "Subject: Undelivered Mail Returned to Sender"));
}

Test(dsn, ret_decides_what_is_returned) {
    Envelope e = env(0, RcptState::failed);
    // No RET: a failure report returns the whole message.
    Bounce b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(has(b, "Content-Type: message/rfc822\r\n"));
    cr_expect(has(b, "the body line"));
    // RET=HDRS: only the header section.
    e.flags = ipc::kFlagRetHdrs;
    b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(has(b, "Content-Type: text/rfc822-headers\r\n"));
    cr_expect_not(has(b, "the body line"));
    // Over bounce_size_limit: headers only, and the report says so.
    e.flags = ipc::kFlagRetFull;
    DsnOptions small;
    small.size_limit = 10;
    b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000, small);
    cr_expect_not(has(b, "the body line"));
    cr_expect(has(b, "too large to be returned whole"));
    // A success report returns the body only for RET=FULL.
    Envelope s = env(ipc::kNotifySuccess, RcptState::sent);
    s.flags = ipc::kFlagRetFull | ipc::kFlag8BitMime;
    DsnOptions o;
    o.successes = {SuccessAction::delivered};
    b = make_dsn(DsnKind::success, s, kBody, "mx.test", "0123456789ABCDEG", 2000, o);
    cr_expect(has(b, "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n"));
    cr_expect(has(b, "the body line"));
    cr_expect(b.envelope.flags & ipc::kFlag8BitMime, "8-bit content returned: 8BITMIME");
    // A delay warning never returns the body.
    Envelope d = env(0, RcptState::deferred);
    d.flags = ipc::kFlagRetFull;
    b = make_dsn(DsnKind::delay, d, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect_not(has(b, "the body line"));
}

Test(dsn, utf8_orcpt_and_final_recipient_are_ascii) {
    Envelope e = env(0, RcptState::failed);
    e.recipients[0].address = "j\xc3\xb6rg@far.example";
    e.recipients[0].dsn_orcpt = "utf-8;J\xc3\xb6rg@far.example";
    Bounce b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(has(b, "Original-Recipient: utf-8; J\\x{F6}rg@far.example\r\n"));
    cr_expect(has(b, "Final-Recipient: utf-8; j\\x{F6}rg@far.example\r\n"));
}

namespace {

// A small independent reader of a produced report: the MIME parts between the boundary
// lines, and the field groups of a delivery-status part (name lower-cased -> value).
using Group = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> parts_of(const std::string& body) {
    std::vector<std::string> parts;
    size_t b = body.find("boundary=\"");
    if (b == std::string::npos) return parts;
    b += 10;
    std::string delim = "--" + body.substr(b, body.find('"', b) - b);
    size_t at = body.find("\r\n" + delim + "\r\n");
    while (at != std::string::npos) {
        size_t start = at + delim.size() + 4;
        size_t next = body.find("\r\n" + delim, start);
        if (next == std::string::npos) break;
        parts.push_back(body.substr(start, next - start));
        at = body.compare(next + 2 + delim.size(), 2, "--") == 0 ? std::string::npos : next;
    }
    return parts;
}

std::vector<Group> groups_of(const std::string& part) {
    std::vector<Group> out;
    size_t start = part.find("\r\n\r\n");
    if (start == std::string::npos) return out;
    Group g;
    std::string rest = part.substr(start + 4) + "\r\n";
    for (size_t at = 0, nl; (nl = rest.find("\r\n", at)) != std::string::npos; at = nl + 2) {
        std::string line = rest.substr(at, nl - at);
        if (line.empty()) {
            if (!g.empty()) out.push_back(g);
            g.clear();
            continue;
        }
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        g.emplace_back(name, line.substr(line.find_first_not_of(' ', colon + 1)));
    }
    if (!g.empty()) out.push_back(g);
    return out;
}

std::string field(const Group& g, const std::string& name) {
    for (const auto& [n, v] : g)
        if (n == name) return v;
    return "";
}

// The report that the double bounce is about: a failure report to s@example.org that
// itself failed at s@example.org's server.
Envelope failed_report(std::string& body) {
    Envelope orig = env(0, RcptState::failed);
    orig.recipients[0].dsn_orcpt = "rfc822;R@far.example";
    Bounce rep = make_dsn(DsnKind::failure, orig, kBody, "mx.test", "0123456789ABCDEG", 2000);
    body = rep.body;
    Envelope e = rep.envelope;
    e.recipients[0].state = RcptState::failed;
    e.recipients[0].dsn = "5.2.2";
    e.recipients[0].text =
        "mx.example.org[192.0.2.7]:25 said: 552 5.2.2 <s@example.org>: mailbox full (in reply "
        "to RCPT TO command)";
    return e;
}

}  // namespace

Test(dsn, double_bounce_of_a_non_report_says_so) {
    // Bad inputs: a null-sender message that is no report, an empty body, a report cut
    // short: the postmaster is still told who failed, and nothing is made up.
    std::string ignored;
    Envelope e = failed_report(ignored);
    for (const char* body :
         {"", "Subject: hello\r\n\r\nnot a report\r\n", "Content-Type: message/delivery-status\r\n",
          "Content-Type: message/delivery-status\r\n\r\n"
          "Reporting-MTA: dns; x\r\n\r\nAction: failed\r\n"}) {
        Bounce b = make_dsn(DsnKind::double_bounce, e, body, "mx.test", "0123456789ABCDEH", 3000,
                            DsnOptions{"postmaster@mx.test", 50000, {}});
        cr_expect_not(has(b, "delivered to <>"), "%s", b.body.c_str());
        cr_expect(has(b, "<s@example.org>: mx.example.org[192.0.2.7]:25 said: 552"), "%s",
                  b.body.c_str());
        cr_expect_not(has(b, "reported on these recipients"), "nothing quoted for \"%s\"", body);
        auto parts = parts_of(b.body);
        cr_assert_eq(parts.size(), 3u);
        auto groups = groups_of(parts[1]);
        cr_assert_eq(groups.size(), 2u);
        cr_expect_eq(field(groups[1], "final-recipient"), "rfc822; s@example.org");
    }
    cr_expect(reported_recipients("Content-Type: message/delivery-status\r\n\r\nx: y\r\n\r\n"
                                  "Action: failed\r\n",
                                  10)
                  .empty(),
              "a group without Final-Recipient is not a recipient");
    // A huge field (a folded one too) is cut, not copied whole into the postmaster's report.
    std::string huge =
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        "Final-Recipient: rfc822; a@b\r\nDiagnostic-Code: smtp; " +
        std::string(5000, 'x') + "\r\n";
    for (int i = 0; i < 100; ++i)
        huge += " " + std::string(100, 'y') + "\r\n";
    auto cut = reported_recipients(huge, 10);
    cr_assert_eq(cut.size(), 1u);
    cr_expect_eq(cut[0].diagnostic.size(), 500u);
    cr_expect_eq(reported_recipients(huge + "\r\nFinal-Recipient: rfc822; c@d\r\n", 1).size(), 1u,
                 "at most max");
}

Test(dsn, double_bounce_names_the_report_recipient_and_the_original_failure) {
    std::string report;
    Envelope e = failed_report(report);
    Bounce b = make_dsn(DsnKind::double_bounce, e, report, "mx.test", "0123456789ABCDEH", 3000,
                        DsnOptions{"postmaster@mx.test", 50000, {}});
    cr_expect_eq(b.envelope.recipients[0].address, "postmaster@mx.test");
    cr_expect_not(has(b, "delivered to <>"), "%s", b.body.c_str());
    auto parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u, "%s", b.body.c_str());
    // The text: who the report went to and why that failed, and what the report said.
    cr_expect(parts[0].find("<s@example.org>: mx.example.org[192.0.2.7]:25 said: 552 5.2.2") !=
                  std::string::npos,
              "%s", parts[0].c_str());
    cr_expect(parts[0].find("  rfc822; r@far.example (originally rfc822; R@far.example): failed, "
                            "status 5.1.1: smtp; 550 5.1.1 <r@far.example>: no such user\r\n") !=
                  std::string::npos,
              "%s", parts[0].c_str());
    // The delivery-status part: the per-recipient fields of what failed (the report).
    cr_expect(
        parts[1].find("Content-Type: message/delivery-status\r\n") == 0 ||
            parts[1].find("\r\nContent-Type: message/delivery-status\r\n") != std::string::npos,
        "%s", parts[1].c_str());
    auto groups = groups_of(parts[1]);
    cr_assert_eq(groups.size(), 2u, "%s", parts[1].c_str());
    cr_expect_eq(field(groups[0], "reporting-mta"), "dns; mx.test");
    cr_expect_eq(field(groups[0], "x-tegami-queue-id"), "0123456789ABCDEG");
    const Group& g = groups[1];
    cr_expect_eq(field(g, "final-recipient"), "rfc822; s@example.org");
    cr_expect_eq(field(g, "original-recipient"), "", "the report had no ORCPT");
    cr_expect_eq(field(g, "action"), "failed");
    cr_expect_eq(field(g, "status"), "5.2.2");
    cr_expect_eq(field(g, "remote-mta"), "dns; mx.example.org");
    cr_expect_eq(field(g, "diagnostic-code"), "smtp; 552 5.2.2 <s@example.org>: mailbox full");
    // The returned part: the report's headers.
    cr_expect(parts[2].find("Content-Type: text/rfc822-headers\r\n") != std::string::npos);
    cr_expect(parts[2].find("Subject: Undelivered Mail Returned to Sender\r\n") !=
              std::string::npos);
    // The shared reader, on the report itself.
    auto was = reported_recipients(report, 10);
    cr_assert_eq(was.size(), 1u);
    cr_expect_eq(was[0].final_recipient, "rfc822; r@far.example");
    cr_expect_eq(was[0].status, "5.1.1");
}

namespace {

std::string content_type(const std::string& part) {
    size_t at = part.find("Content-Type: ");
    if (at == std::string::npos) return "";
    at += 14;
    return part.substr(at, part.find_first_of(";\r", at) - at);
}

Envelope utf8_failure() {
    Envelope e = env(0, RcptState::failed);
    e.flags = ipc::kFlagSmtputf8 | ipc::kFlag8BitMime;
    e.recipients[0].address = "j\xc3\xb6rg+x@far.example";
    e.recipients[0].dsn_orcpt = "utf-8;J\xc3\xb6rg+x@far.example";
    return e;
}

}  // namespace

Test(dsn, global_report_bad_inputs_stay_ascii) {
    // A utf-8 ORCPT that is not valid UTF-8 is never copied raw, even in a global report.
    Envelope e = utf8_failure();
    e.recipients[0].dsn_orcpt = "utf-8;J\xc3(rg@far.example";
    Bounce b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    auto parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u);
    auto groups = groups_of(parts[1]);
    cr_assert_eq(groups.size(), 2u);
    std::string orcpt = field(groups[1], "original-recipient");
    cr_expect_eq(orcpt.find('\xc3'), std::string::npos, "raw invalid UTF-8: %s", orcpt.c_str());
    cr_expect(orcpt.rfind("utf-8; ", 0) == 0, "%s", orcpt.c_str());
    // Without SMTPUTF8 the report is the classic one, whatever the addresses hold.
    e = utf8_failure();
    e.flags = 0;
    b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u);
    cr_expect(has(b, "report-type=delivery-status;"));
    cr_expect_eq(content_type(parts[0]), "text/plain");
    cr_expect(has(b, "charset=us-ascii"));
    cr_expect_eq(content_type(parts[1]), "message/delivery-status");
    cr_expect_eq(content_type(parts[2]), "message/rfc822");
    cr_expect_eq(field(groups_of(parts[1])[1], "final-recipient"),
                 "utf-8; j\\x{F6}rg\\x{2B}x@far.example");
}

Test(dsn, smtputf8_message_gets_a_global_report) {
    Envelope e = utf8_failure();
    Bounce b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(b.envelope.flags & ipc::kFlagSmtputf8, "the report needs SMTPUTF8 on the way");
    cr_expect(has(b, "Content-Type: multipart/report; report-type=global-delivery-status;\r\n"));
    auto parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u, "%s", b.body.c_str());
    cr_expect(parts[0].find("charset=utf-8") != std::string::npos);
    cr_expect(parts[0].find("<j\xc3\xb6rg+x@far.example>: ") != std::string::npos);
    cr_expect_eq(content_type(parts[1]), "message/global-delivery-status");
    auto groups = groups_of(parts[1]);
    cr_assert_eq(groups.size(), 2u, "%s", parts[1].c_str());
    const Group& g = groups[1];
    // utf-8-addr-unitext: UTF-8 as is, '+' escaped.
    cr_expect_eq(field(g, "final-recipient"), "utf-8; j\xc3\xb6rg\\x{2B}x@far.example");
    cr_expect_eq(field(g, "original-recipient"), "utf-8; J\xc3\xb6rg\\x{2B}x@far.example");
    cr_expect_eq(field(g, "action"), "failed");
    cr_expect_eq(field(g, "status"), "5.1.1");
    cr_expect_eq(content_type(parts[2]), "message/global");
    cr_expect(parts[2].find("Content-Transfer-Encoding: 8bit\r\n") != std::string::npos);
    cr_expect(parts[2].find("the body line") != std::string::npos);
    // RET=HDRS: message/global-headers.
    e.flags |= ipc::kFlagRetHdrs;
    b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u);
    cr_expect_eq(content_type(parts[2]), "message/global-headers");
    cr_expect(parts[2].find("the body line") == std::string::npos);
    // A double bounce of a global report quotes its recipients from it.
    Bounce rep =
        make_dsn(DsnKind::failure, utf8_failure(), kBody, "mx.test", "0123456789ABCDEG", 2000);
    auto was = reported_recipients(rep.body, 10);
    cr_assert_eq(was.size(), 1u);
    cr_expect_eq(was[0].final_recipient, "utf-8; j??rg\\x{2B}x@far.example",
                 "quoted as printable ASCII: %s", was[0].final_recipient.c_str());
}

Test(dsn, expanded_recipient_is_reported_as_expanded) {
    // Bad input first: an expanded recipient without a sender to tell gets no report.
    Envelope e = env(ipc::kNotifySuccess, RcptState::sent);
    e.sender = "";
    cr_expect_not(needs_success_report(e, {SuccessAction::expanded}), "null sender: never");
    e = env(ipc::kNotifySuccess, RcptState::sent);
    e.recipients[0].address = "list@me.test";
    e.recipients[0].dsn = "2.0.0";
    e.recipients[0].text = "expanded to 2 address(es) routed by the queue";
    cr_expect(needs_success_report(e, {SuccessAction::expanded}));
    DsnOptions o;
    o.successes = {SuccessAction::expanded};
    Bounce b = make_dsn(DsnKind::success, e, kBody, "mx.test", "0123456789ABCDEG", 2000, o);
    auto parts = parts_of(b.body);
    cr_assert_eq(parts.size(), 3u);
    auto groups = groups_of(parts[1]);
    cr_assert_eq(groups.size(), 2u, "%s", parts[1].c_str());
    cr_expect_eq(field(groups[1], "final-recipient"), "rfc822; list@me.test");
    cr_expect_eq(field(groups[1], "action"), "expanded");
    cr_expect_eq(field(groups[1], "status"), "2.0.0");
    cr_expect(parts[0].find("<list@me.test>: expanded: ") != std::string::npos, "%s",
              parts[0].c_str());
}

namespace {

// A body read through read_dsn_source's reader: counts the octets handed out and the calls.
struct CountingReader {
    const std::string& body;
    uint64_t octets = 0;
    int calls = 0;
    Result<std::string> operator()(uint64_t n) {
        ++calls;
        std::string out = body.substr(0, static_cast<size_t>(std::min<uint64_t>(n, body.size())));
        octets += out.size();
        return out;
    }
};

std::string filler(size_t size, const std::string& head) {
    std::string s = head;
    while (s.size() < size)
        s += "From the body, not a header: " + std::string(40, 'b') + "\r\n";
    return s;
}

struct SourceCase {
    const char* label;
    std::string body;
};

}  // namespace

// The report made from what read_dsn_source reads is the report made from the whole body,
// octet for octet: failure, delay and success reports; RET=HDRS, RET=FULL and no RET;
// small and 10 MB bodies with a CRLF, a bare-LF or no empty line; bounce_size_limit
// off, default and above the size; a double bounce (which reads the whole report). A
// header section is found by reading 4 KiB, 16 KiB, ...;
// the whole body only when the report returns it.
Test(dsn, report_from_a_bounded_read_is_the_report_from_the_whole_body) {
    const std::string head = "Subject: s\r\nX-Long: " + std::string(5000, 'h') + "\r\n";
    const SourceCase cases[] = {
        {"empty", ""},
        {"header only, no newline", "Subject: s"},
        {"small, CRLF separator", "Subject: s\r\n\r\nbody\r\n"},
        {"small, no separator", "Subject: s\r\nX: y\r\n"},
        {"small, LF separator", "Subject: s\n\nbody\n"},
        {"small, LF then CRLF separator", "Subject: s\n\nbody\r\n\r\nmore\r\n"},
        {"separator across 4 KiB", std::string(4094, 'x') + "\r\n\r\nbody\r\n"},
        {"10 MB, long header, CRLF separator", filler(10u << 20, head + "\r\n")},
        {"60 kB, CRLF separator", filler(60000, head + "\r\n")},
        {"no final newline", "Subject: s\r\n\r\nbody"},
    };
    struct Kind {
        DsnKind kind;
        RcptState st;
        uint32_t notify;
    };
    const Kind kinds[] = {{DsnKind::failure, RcptState::failed, 0},
                          {DsnKind::delay, RcptState::deferred, 0},
                          {DsnKind::success, RcptState::sent, ipc::kNotifySuccess},
                          {DsnKind::double_bounce, RcptState::failed, 0}};
    for (const auto& c : cases) {
        for (const Kind& k : kinds) {
            for (uint32_t ret : {0u, ipc::kFlagRetHdrs, ipc::kFlagRetFull}) {
                for (uint64_t limit : {uint64_t{0}, uint64_t{50000}, uint64_t{20u << 20}}) {
                    Envelope e = env(k.notify, k.st);
                    e.flags = ret;
                    DsnOptions opt{"postmaster@mx.test", limit, {}};
                    if (k.kind == DsnKind::success) opt.successes = {SuccessAction::delivered};
                    Bounce whole =
                        make_dsn(k.kind, e, c.body, "mx.test", "0123456789ABCDEG", 2000, opt);
                    CountingReader reader{c.body};
                    auto src = read_dsn_source(k.kind, e, c.body.size(), opt, std::ref(reader));
                    cr_assert(src.ok());
                    cr_expect_eq(src->size, c.body.size());
                    opt.body_size = src->size;
                    Bounce part =
                        make_dsn(k.kind, e, src->text, "mx.test", "0123456789ABCDEG", 2000, opt);
                    cr_expect(part.body == whole.body, "%s, kind %d, ret %u, limit %llu: differs",
                              c.label, int(k.kind), ret, (unsigned long long)limit);
                    bool returned =
                        whole.body.find("Content-Type: message/rfc822\r\n") != std::string::npos;
                    bool whole_read = returned || k.kind == DsnKind::double_bounce;
                    uint64_t bound = whole_read ? c.body.size() : 4096 + 16384;
                    cr_expect_leq(reader.octets, bound, "%s, kind %d, ret %u: read %llu octets",
                                  c.label, int(k.kind), ret, (unsigned long long)reader.octets);
                }
            }
        }
    }
}

// A large body with no empty line within kMaxHeaderRead: the headers-only report quotes its
// whole lines up to there, read at most about 4/3 kMaxHeaderRead in all; the rest of the
// report is as from the whole body. A small one without an empty line is quoted whole.
Test(dsn, header_read_is_capped_without_a_separator) {
    std::string body;
    for (int i = 0; body.size() < (10u << 20); ++i)
        body += "X-Header-" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
    Envelope e = env(0, RcptState::failed);
    e.flags = ipc::kFlagRetHdrs;
    DsnOptions opt{"postmaster@mx.test", 50000, {}};
    CountingReader reader{body};
    auto src = read_dsn_source(DsnKind::failure, e, body.size(), opt, std::ref(reader));
    cr_assert(src.ok());
    cr_expect_eq(src->text.size(), kMaxHeaderRead);
    cr_expect_leq(reader.octets, kMaxHeaderRead * 4 / 3 + 4096, "read %llu",
                  (unsigned long long)reader.octets);
    cr_expect_leq(reader.calls, 10);
    opt.body_size = src->size;
    Bounce b = make_dsn(DsnKind::failure, e, src->text, "mx.test", "0123456789ABCDEG", 2000, opt);
    std::string_view quoted = std::string_view(src->text).substr(0, src->text.rfind('\n') + 1);
    size_t at = b.body.find("Content-Type: text/rfc822-headers\r\n\r\n");
    cr_assert(at != std::string::npos);
    std::string want_tail = std::string(quoted) + "\r\n--0123456789ABCDEF/mx.test--\r\n";
    cr_expect(b.body.ends_with(want_tail), "quotes the whole lines read, then ends");
    cr_expect(b.body.size() < kMaxHeaderRead + 10000);

    std::string small = "X: 1\r\nY: 2\r\n";
    CountingReader r2{small};
    auto s2 = read_dsn_source(DsnKind::failure, e, small.size(), opt, std::ref(r2));
    cr_assert(s2.ok());
    cr_expect_eq(s2->text, small);
    // A reader that fails is the reader's error.
    auto bad = read_dsn_source(DsnKind::failure, e, 100, opt, [](uint64_t) -> Result<std::string> {
        return make_error(Exit::io_err, "disk gone");
    });
    cr_expect(!bad.ok());
}

// A message that carried 8-bit octets without BODY=8BITMIME (many clients send it so,
// and smtpd takes it) is returned labelled as what it is: Content-Transfer-Encoding 8bit
// and an 8BITMIME envelope, never as 7-bit content with 8-bit octets in it. Whole or
// headers only alike; ASCII content stays unlabelled.
Test(dsn, undeclared_8bit_content_is_labelled_8bit) {
    const std::string body8 = "Subject: caf\xc3\xa9\r\n\r\nthe body line \xc3\xa9t\xc3\xa9\r\n";
    Envelope e = env(0, RcptState::failed);
    Bounce b = make_dsn(DsnKind::failure, e, body8, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(has(b, "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n"), "%s",
              b.body.c_str());
    cr_expect(b.envelope.flags & ipc::kFlag8BitMime, "8-bit content returned: 8BITMIME");
    e.flags = ipc::kFlagRetHdrs;
    b = make_dsn(DsnKind::failure, e, body8, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect(has(b, "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n"),
              "%s", b.body.c_str());
    cr_expect(b.envelope.flags & ipc::kFlag8BitMime);
    // 8-bit octets only in the body, and only the headers returned: nothing to label.
    const std::string body_only8 = "Subject: plain\r\n\r\nthe body line \xc3\xa9\r\n";
    b = make_dsn(DsnKind::failure, e, body_only8, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect_not(has(b, "Content-Transfer-Encoding"), "%s", b.body.c_str());
    cr_expect_not(b.envelope.flags & ipc::kFlag8BitMime);
    e.flags = 0;
    b = make_dsn(DsnKind::failure, e, kBody, "mx.test", "0123456789ABCDEG", 2000);
    cr_expect_not(has(b, "Content-Transfer-Encoding"), "%s", b.body.c_str());
    cr_expect_not(b.envelope.flags & ipc::kFlag8BitMime);
}
