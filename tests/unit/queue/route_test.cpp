// route_test.cpp - tests for queue/route.cpp: each recipient's transport and next hop
// from local_domains, the mailertable and the smarthost. Bad mailertable values first.
#include "queue/route.hpp"

#include <criterion/criterion.h>

#include <map>
#include <string>

using namespace tegami::queue;

namespace {

RoutingTables tables(std::map<std::string, std::string> mt, std::string smarthost = "") {
    RoutingTables t;
    t.local_domains = {"me.test", "localhost"};
    t.smarthost = std::move(smarthost);
    t.mailertable = [mt = std::move(mt)](const std::string& k,
                                         std::string&) -> std::optional<std::string> {
        auto it = mt.find(k);
        if (it == mt.end()) return std::nullopt;
        return it->second;
    };
    return t;
}

}  // namespace

Test(route, bad_mailertable_values_defer_with_4_3_5) {
    const char* bad[] = {
        "smtp", "nosuchmailer:x", "smtp:[host", "smtp:host:0", "error:", "error:hello",
        "error:5.1.1:450 mixed classes",
        // what the shared error: parser finds fault with
        "error:   ", "error:go away", "error:55 short", "error:5500 long", "error:550x glued",
        "error:9.9.9 odd", "error:5.1 two parts", "error:5.1.1111 long part",
        "error:5..1 empty part", "error:250 ok", "error:354 go on", "error:2.0.0 fine",
        "error:5.1.1:250 odd", "error:4.2.2:550 mixed", "error:5.7.1 450 mixed", "error:550",
        "error:450 ", "error:5.1.1:550", "error:4.4.1:", "lmtp:", "lmtp:unix:relative",
        "lmtp:inet:host:0", "local:a b"};
    for (const char* b : bad) {
        Route r = route_recipient("u@far.test", tables({{"far.test", b}}));
        cr_expect_eq(r.transport, Transport::error, "%s", b);
        cr_expect_eq(r.status, 4u, "%s", b);
        cr_expect_eq(r.dsn, "4.3.5", "%s", b);
    }
}

Test(route, map_failure_defers) {
    RoutingTables t = tables({});
    t.mailertable = [](const std::string&, std::string& err) -> std::optional<std::string> {
        err = "cannot open hash:/nowhere";
        return std::nullopt;
    };
    Route r = route_recipient("u@far.test", t);
    cr_expect_eq(r.transport, Transport::error);
    cr_expect_eq(r.status, 4u);
}

Test(route, local_domains_and_no_domain_are_local) {
    for (const char* a : {"u@me.test", "u@ME.Test", "Postmaster", "x@localhost"}) {
        Route r =
            route_recipient(a, tables({{"me.test", "smtp:[elsewhere.test]"}}, "[relay.test]:587"));
        cr_expect_eq(r.transport, Transport::local, "%s", a);
        cr_expect(r.next_hop.empty(), "%s", a);
    }
}

Test(route, mailertable_forms) {
    auto t = tables({{"a.test", "smtp:[mx.a.test]:2525"},
                     {".b.test", "esmtp:b-relay.test"},
                     {"c.test", "local:postmaster"},
                     {"d.test", "error:5.7.1:550 we do not deliver there"},
                     {"e.test", "error:450 try later"},
                     {"f.test", "smtp:"},
                     {"g.test", "lmtp:unix:/run/lmtp"},
                     {"h.test", "lmtp:127.0.0.1"},
                     {"i.test", "lmtp:inet:[::1]:2424"}},
                    "[relay.test]:587");
    struct Case {
        const char* addr;
        Transport tr;
        const char* hop;
    } cases[] = {
        {"u@a.test", Transport::smtp, "[mx.a.test]:2525"},
        {"u@x.b.test", Transport::smtp, "b-relay.test:25"},
        {"u@y.x.b.test", Transport::smtp, "b-relay.test:25"},
        {"u@b.test", Transport::smtp, "[relay.test]:587"},  // ".b.test" is subdomains only
        {"u@c.test", Transport::local, ""},
        {"u@f.test", Transport::smtp, "f.test:25"},
        {"u@g.test", Transport::lmtp, "unix:/run/lmtp"},
        {"u@h.test", Transport::lmtp, "inet:127.0.0.1:24"},
        {"u@i.test", Transport::lmtp, "inet:[::1]:2424"},
        {"u@other.test", Transport::smtp, "[relay.test]:587"},
    };
    for (const auto& c : cases) {
        Route r = route_recipient(c.addr, t);
        cr_expect_eq(r.transport, c.tr, "%s: %s", c.addr, transport_name(r.transport));
        cr_expect_eq(r.next_hop, std::string(c.hop), "%s: %s", c.addr, r.next_hop.c_str());
    }
    Route r = route_recipient("u@c.test", t);
    cr_expect_eq(r.rewrite, "postmaster");
    r = route_recipient("u@d.test", t);
    cr_expect_eq(r.transport, Transport::error);
    cr_expect_eq(r.status, 5u);
    cr_expect_eq(r.dsn, "5.7.1");
    cr_expect_eq(r.text, "we do not deliver there");
    r = route_recipient("u@e.test", t);
    cr_expect_eq(r.status, 4u);
    cr_expect_eq(r.dsn, "4.0.0");
}

// The spellings the shared error: parser accepts, as aliases and the virtusertable do.
Test(route, mailertable_error_spellings) {
    struct Case {
        const char* value;
        uint32_t status;
        const char* dsn;
        const char* text;
    } cases[] = {
        {"error:5.1.1:550 no such user", 5, "5.1.1", "no such user"},
        {"error:4.2.2:452 mailbox full", 4, "4.2.2", "mailbox full"},
        {"error:5.7.1 550 relaying denied", 5, "5.7.1", "relaying denied"},
        {"error:550 gone", 5, "5.0.0", "gone"},
        {"error:550-dash form", 5, "5.0.0", "dash form"},
        {"error:5.2.2 quota", 5, "5.2.2", "quota"},
        {"error:4.123.456:421 wide parts", 4, "4.123.456", "wide parts"},
        {"ERROR:  5.1.1:550   spaced  ", 5, "5.1.1", "spaced"},
    };
    for (const auto& c : cases) {
        Route r = route_recipient("u@far.test", tables({{"far.test", c.value}}));
        cr_expect_eq(r.transport, Transport::error, "%s", c.value);
        cr_expect_eq(r.status, c.status, "%s: %u", c.value, r.status);
        cr_expect_eq(r.dsn, std::string(c.dsn), "%s: %s", c.value, r.dsn.c_str());
        cr_expect_eq(r.text, std::string(c.text), "%s: \"%s\"", c.value, r.text.c_str());
    }
}

Test(route, catch_all_dot_and_no_smarthost_goes_to_mx) {
    Route r = route_recipient("u@far.test", tables({}));
    cr_expect_eq(r.transport, Transport::smtp);
    cr_expect_eq(r.next_hop, "far.test:25");
    r = route_recipient("u@far.test", tables({{".", "smtp:[hub.test]"}}));
    cr_expect_eq(r.next_hop, "[hub.test]:25");
    r = route_recipient("u@[127.0.0.2]", tables({}));
    cr_expect_eq(r.next_hop, "[127.0.0.2]:25");
}

// An address literal of this host (127.0.0.1 is on every loopback interface) is local,
// as smtpd accepted it; any other literal is that host.
Test(route, an_own_address_literal_is_local) {
    Route r = route_recipient("u@[127.0.0.1]", tables({}));
    cr_expect_eq(r.transport, Transport::local);
    r = route_recipient("u@[198.51.100.7]", tables({}));
    cr_expect_eq(r.transport, Transport::smtp);
    cr_expect_eq(r.next_hop, "[198.51.100.7]:25");
}

// A mailbox local handed back for mailbox_transport goes to that LMTP destination,
// whatever its domain; with the key emptied since, it is local again.
Test(route, mailbox_handoff_goes_to_mailbox_transport) {
    RoutingTables t = tables({{"me.test", "smtp:[elsewhere.test]"}});
    t.mailbox_transport = "unix:/run/dovecot/lmtp";
    Route r = route_recipient("alice@me.test", t, true);
    cr_expect_eq(r.transport, Transport::lmtp);
    cr_expect_eq(r.next_hop, "unix:/run/dovecot/lmtp");
    r = route_recipient("alice@me.test", t, false);
    cr_expect_eq(r.transport, Transport::local, "%s", transport_name(r.transport));
    t.mailbox_transport.clear();
    r = route_recipient("alice@me.test", t, true);
    cr_expect_eq(r.transport, Transport::local);
}
