// envelope_test.cpp - the envelope record format (queue/envelope.cpp): corrupt records
// first (each must be an error, never a crash), then round trips.
#include <criterion/criterion.h>

#include <string>

#include "queue/envelope.hpp"

using namespace tegami::queue;

namespace {

const char* kQid = "0123456789ABCDEF";

Envelope sample(size_t nrcpt) {
    Envelope e;
    e.queue_id = kQid;
    e.sender = "alice@example.org";
    e.arrival = 1700000000;
    e.client_addr = "127.0.0.1";
    e.client_name = "localhost";
    e.helo = "client.example";
    e.protocol = "ESMTP";
    e.flags = 3;
    for (size_t i = 0; i < nrcpt; ++i) {
        Recipient r;
        r.address = "rcpt" + std::to_string(i) + "@example.net";
        r.state = static_cast<RcptState>(i % 4);
        r.attempts = static_cast<uint32_t>(i);
        r.next_try = 1700000000 + i;
        r.dsn = i ? "4.2.0" : "";
        r.text = i ? "mailbox busy: try later" : "";
        e.recipients.push_back(r);
    }
    return e;
}

void expect_same(const Envelope& a, const Envelope& b) {
    cr_expect_eq(a.queue_id, b.queue_id);
    cr_expect_eq(a.sender, b.sender);
    cr_expect_eq(a.arrival, b.arrival);
    cr_expect_eq(a.client_addr, b.client_addr);
    cr_expect_eq(a.client_name, b.client_name);
    cr_expect_eq(a.helo, b.helo);
    cr_expect_eq(a.protocol, b.protocol);
    cr_expect_eq(a.flags, b.flags);
    cr_assert_eq(a.recipients.size(), b.recipients.size());
    for (size_t i = 0; i < a.recipients.size(); ++i) {
        const auto &x = a.recipients[i], &y = b.recipients[i];
        cr_expect_eq(x.address, y.address);
        cr_expect_eq(x.state, y.state);
        cr_expect_eq(x.attempts, y.attempts);
        cr_expect_eq(x.next_try, y.next_try);
        cr_expect_eq(x.dsn, y.dsn);
        cr_expect_eq(x.text, y.text);
    }
}

// One valid recipient tail, for building records by hand.
const std::string kRcpt = "3:a@b\n7:pending\n1:0\n1:0\n0:\n0:\n";
const std::string kHead = "1:1\n1:s\n1:5\n0:\n0:\n0:\n0:\n1:0\n";

struct BadCase {
    const char* name;
    std::string record;
};

}  // namespace

Test(envelope, corrupt_records_are_errors) {
    const std::string good = encode_envelope(sample(3));
    const BadCase cases[] = {
        {"empty", ""},
        {"no colon", "1"},
        {"bad version", "1:2\n"},
        {"version not a number", "1:x\n"},
        {"length not a number", "x:1\n"},
        {"negative length", "-1:1\n"},
        {"length past end", "99:1\n"},
        {"huge length", "99999999999999999999999:1\n"},
        {"missing newline", "1:1x"},
        {"header only", kHead},
        {"zero recipients", kHead + "1:0\n"},
        {"recipient count above the record", kHead + "3:999\n" + kRcpt},
        {"recipient count above the limit", kHead + "7:9999999\n" + kRcpt},
        {"bad state", kHead + "1:1\n" + "3:a@b\n4:gone\n1:0\n1:0\n0:\n0:\n"},
        {"attempts overflow", kHead + "1:1\n" + "3:a@b\n4:sent\n11:99999999999\n1:0\n0:\n0:\n"},
        {"number with sign", kHead + "1:1\n" + "3:a@b\n4:sent\n2:+1\n1:0\n0:\n0:\n"},
        {"trailing bytes", kHead + "1:1\n" + kRcpt + "x"},
        {"truncated by one", good.substr(0, good.size() - 1)},
        {"truncated in half", good.substr(0, good.size() / 2)},
    };
    for (const auto& c : cases) {
        auto r = decode_envelope(kQid, c.record);
        cr_expect(!r.ok(), "case '%s' decoded", c.name);
        if (!r.ok()) cr_expect(r.error().message.find(kQid) == 0, "case '%s' message", c.name);
    }
}

Test(envelope, every_truncation_is_an_error) {
    const std::string good = encode_envelope(sample(2));
    for (size_t n = 0; n < good.size(); ++n)
        cr_expect(!decode_envelope(kQid, good.substr(0, n)).ok(), "prefix %zu decoded", n);
}

Test(envelope, minimal_hand_written_record) {
    auto r = decode_envelope(kQid, kHead + "1:1\n" + kRcpt);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect_eq(r->sender, "s");
    cr_expect_eq(r->arrival, 5u);
    cr_expect_eq(r->recipients[0].address, "a@b");
    cr_expect_eq(r->recipients[0].state, RcptState::pending);
}

Test(envelope, round_trip) {
    for (size_t n : {1u, 2u, 4u, 50u}) {
        Envelope e = sample(n);
        auto r = decode_envelope(kQid, encode_envelope(e));
        cr_assert(r.ok(), "nrcpt %zu: %s", n, r.ok() ? "" : r.error().message.c_str());
        expect_same(e, *r);
    }
}

Test(envelope, round_trip_odd_bytes) {
    Envelope e = sample(1);
    e.sender = "";  // the null reverse path
    e.helo = std::string("with:colon\nand newline\0nul", 26);
    e.recipients[0].text = "12:3\n";
    auto r = decode_envelope(kQid, encode_envelope(e));
    cr_assert(r.ok());
    expect_same(e, *r);
}

Test(envelope, record_is_readable) {
    std::string rec = encode_envelope(sample(1));
    cr_expect(rec.rfind("1:4\n17:alice@example.org\n", 0) == 0, "record: %s", rec.c_str());
    cr_expect(rec.find("7:pending\n") != std::string::npos);
}

// The original recipient, NOTIFY and ENVID survive; a version 1 record (without them)
// written before the upgrade is still read.
Test(envelope, version_2_fields_and_version_1_records) {
    Envelope e = sample(2);
    e.envid = "abc";
    e.recipients[1].orcpt = "\"Bob\"@Example.org";
    e.recipients[1].notify = 6;
    auto back = decode_envelope("Q", encode_envelope(e));
    cr_assert(back.ok(), "%s", back.ok() ? "" : back.error().message.c_str());
    cr_expect_eq(back->envid, "abc");
    cr_expect_eq(back->recipients[1].orcpt, "\"Bob\"@Example.org");
    cr_expect_eq(back->recipients[1].notify, 6u);
    cr_expect_eq(back->recipients[0].orcpt, "");
    std::string v1 =
        "1:1\n1:s\n1:5\n0:\n0:\n0:\n4:SMTP\n1:0\n1:1\n"
        "10:bob@x.test\n8:deferred\n1:2\n2:99\n5:4.2.0\n4:full\n";
    auto old = decode_envelope("Q", v1);
    cr_assert(old.ok(), "%s", old.ok() ? "" : old.error().message.c_str());
    cr_expect_eq(old->recipients[0].address, "bob@x.test");
    cr_expect_eq(old->recipients[0].attempts, 2u);
    cr_expect_eq(old->recipients[0].text, "full");
    cr_expect(!decode_envelope("Q", "1:5\n" + v1.substr(4)).ok(), "version 5 accepted");
    // A version 2 record (no route field) is read as routed by its address.
    std::string v2 =
        "1:2\n1:s\n1:5\n0:\n0:\n0:\n4:SMTP\n1:0\n0:\n1:1\n"
        "10:bob@x.test\n0:\n1:0\n7:pending\n1:0\n1:0\n0:\n0:\n";
    auto two = decode_envelope("Q", v2);
    cr_assert(two.ok(), "%s", two.ok() ? "" : two.error().message.c_str());
    cr_expect_eq(two->recipients[0].route, "");
    // Version 3 without the route field is truncated; with it, the route survives.
    cr_expect(!decode_envelope("Q", "1:3\n" + v2.substr(4)).ok(), "v3 without route accepted");
    Envelope h = sample(1);
    h.recipients[0].route = kRouteMailbox;
    auto hb = decode_envelope("Q", encode_envelope(h));
    cr_assert(hb.ok());
    cr_expect_eq(hb->recipients[0].route, "mailbox");
}

// Version 4 adds the client's ORCPT per recipient; a version 2 record (as queued before
// routes and ORCPT, with envid, orcpt and notify) and a version 3 record (with the route)
// still decode, and are written back as version 4.
Test(envelope, version_4_dsn_orcpt_and_older_records) {
    Envelope e = sample(2);
    e.flags = 4;  // RET=FULL
    e.recipients[0].dsn_orcpt = "rfc822;Alice+x@Example.org";
    e.recipients[0].notify = 2;
    e.recipients[0].route = kRouteMailbox;
    auto back = decode_envelope("Q", encode_envelope(e));
    cr_assert(back.ok(), "%s", back.ok() ? "" : back.error().message.c_str());
    cr_expect_eq(back->recipients[0].dsn_orcpt, "rfc822;Alice+x@Example.org");
    cr_expect_eq(back->recipients[0].route, "mailbox");
    cr_expect_eq(back->recipients[1].dsn_orcpt, "");
    cr_expect_eq(back->flags, 4u);
    std::string v2 =
        "1:2\n1:s\n1:5\n0:\n0:\n0:\n5:ESMTP\n1:0\n3:ENV\n1:1\n"
        "10:bob@x.test\n10:Bob@X.test\n1:2\n8:deferred\n1:2\n2:99\n5:4.2.0\n4:full\n";
    auto old = decode_envelope("Q", v2);
    cr_assert(old.ok(), "%s", old.ok() ? "" : old.error().message.c_str());
    cr_expect_eq(old->envid, "ENV");
    cr_expect_eq(old->recipients[0].orcpt, "Bob@X.test");
    cr_expect_eq(old->recipients[0].notify, 2u);
    cr_expect_eq(old->recipients[0].dsn_orcpt, "", "a version 2 record has no ORCPT");
    cr_expect_eq(old->recipients[0].text, "full");
    std::string v3 = "1:3\n" + v2.substr(4) + "7:mailbox\n";
    auto three = decode_envelope("Q", v3);
    cr_assert(three.ok(), "%s", three.ok() ? "" : three.error().message.c_str());
    cr_expect_eq(three->recipients[0].route, "mailbox");
    cr_expect_eq(three->recipients[0].dsn_orcpt, "", "a version 3 record has no ORCPT");
    std::string again = encode_envelope(*three);
    cr_expect(again.rfind("1:4\n", 0) == 0, "rewritten as version 4");
    auto re = decode_envelope("Q", again);
    cr_assert(re.ok());
    cr_expect_eq(re->recipients[0].orcpt, "Bob@X.test");
    cr_expect_eq(re->recipients[0].route, "mailbox");
    // A version 3 record labelled 4 lacks the ORCPT field: refused, never misread.
    cr_expect(!decode_envelope("Q", "1:4\n" + v3.substr(4)).ok(), "v3 body as v4 accepted");
}

Test(envelope, states_and_printable) {
    cr_expect_str_eq(rcpt_state_name(RcptState::deferred), "deferred");
    cr_expect(rcpt_state_final(RcptState::sent));
    cr_expect(rcpt_state_final(RcptState::failed));
    cr_expect(!rcpt_state_final(RcptState::pending));
    cr_expect(!rcpt_state_final(RcptState::deferred));
    cr_expect_eq(printable("a\r\nb\x7f\xff"), "a??b??");
    Envelope e = sample(2);
    e.recipients[0].state = RcptState::sent;
    e.recipients[1].state = RcptState::deferred;
    cr_expect(!e.all_final());
    e.recipients[1].state = RcptState::failed;
    cr_expect(e.all_final());
}
