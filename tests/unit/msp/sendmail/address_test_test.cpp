// address_test_test.cpp - tests for msp/sendmail/address_test.cpp: sendmail -bt's
// answers, bad input first, then the routing order (local, virtual, mailertable with
// parents and ".", smarthost, MX).
#include <criterion/criterion.h>

#include <map>
#include <string>

#include "msp/sendmail/address_test.hpp"

using namespace tegami;
using namespace tegami::msp;

namespace {

AddressTestContext context(const std::map<std::string, std::string>& mailertable = {},
                           const std::map<std::string, std::string>& virtuser = {}) {
    AddressTestContext c;
    c.hostname = "mx.example.org";
    c.local_domains = {"example.org", "localhost"};
    c.virtual_domains = {"virt.example"};
    c.lookup = [mailertable, virtuser](std::string_view map,
                                       std::string_view key) -> Result<std::optional<std::string>> {
        const auto& m = map == "mailertable" ? mailertable : virtuser;
        if (map == "access") return make_error(Exit::unavailable, "map is not configured");
        auto it = m.find(std::string(key));
        if (it == m.end()) return std::optional<std::string>();
        return std::optional<std::string>(it->second);
    };
    return c;
}

bool has(const std::string& out, const char* words) {
    return out.find(words) != std::string::npos;
}

}  // namespace

Test(address_test, bad_input_gets_a_clear_answer) {
    AddressTester t(context());
    struct Case {
        const char* in;
        const char* words;
    } cases[] = {
        {"99 a@b", "Undefined ruleset 99"},
        {"nosuchruleset a@b", "Undefined ruleset nosuchruleset"},
        {"3,bogus a@b", "Undefined ruleset bogus"},
        {"justoneword", "Undefined ruleset justoneword"},
        {"/parse", "Usage: /parse address"},
        {"/try", "Usage: /try mailer address"},
        {"/try nosuchmailer a@b", "Unknown mailer nosuchmailer"},
        {"/map", "Usage: /map mapname key"},
        {"/map nosuchmap key", "Map named \"nosuchmap\" not found"},
        {"/map access 1.2.3.4", "map is not configured"},
        {"/bogus", "Unknown \"/\" command /bogus"},
        {"=S0", "not supported"},
        {"-d21.12", "not supported"},
        {".Dx y", "not supported"},
        {"/parse a@", "Invalid address"},
        {"/parse @example.net", "Invalid address"},
        {"/mx example.net", "does not resolve MX"},
    };
    for (const auto& c : cases) {
        std::string out = t.line(c.in);
        cr_expect(has(out, c.words), "%s -> %s", c.in, out.c_str());
        cr_expect(!t.quit());
    }
    cr_expect_eq(t.line(""), "");
    cr_expect_eq(t.line("# a comment"), "");
    t.line("/quit");
    cr_expect(t.quit());
}

Test(address_test, tokens_as_sendmail_prints_them) {
    cr_expect_eq(tokenize("user@example.org"), "user @ example . org");
    cr_expect_eq(tokenize("<a.b@c>"), "< a . b @ c >");
    cr_expect_eq(tokenize("\"x y\"@z"), "\"x y\" @ z");
    cr_expect_eq(tokenize(""), "");
}

Test(address_test, routing_order) {
    auto ctx = context({{"partner.example", "esmtp:[10.0.0.2]"},
                        {".sub.example", "relay:gw.sub.example"},
                        {"bad.example", "error:5.7.1:550 no mail for you"}},
                       {{"info@virt.example", "alice"}, {"@virt.example", "bob@else.example"}});
    struct Case {
        const char* addr;
        const char* mailer;
        const char* host;
        const char* user;
    } cases[] = {
        {"alice", "local", "", "alice"},
        {"Alice@EXAMPLE.org", "local", "", "Alice"},
        {"a@mx.example.org", "local", "", "a"},
        {"<x@localhost>", "local", "", "x"},
        {"info@virt.example", "local", "", "alice"},
        {"other@virt.example", "esmtp", "else.example.", "bob@else.example"},
        {"u@partner.example", "esmtp", "[10.0.0.2]", "u@partner.example"},
        {"u@a.sub.example", "relay", "gw.sub.example", "u@a.sub.example"},
        {"u@bad.example", "error", "5.7.1", ""},
        {"u@elsewhere.example", "esmtp", "elsewhere.example.", "u@elsewhere.example"},
    };
    for (const auto& c : cases) {
        Resolved r = resolve_address(c.addr, ctx);
        cr_expect_eq(r.mailer, c.mailer, "%s: %s", c.addr, r.mailer.c_str());
        cr_expect_eq(r.host, c.host, "%s: %s", c.addr, r.host.c_str());
        if (r.mailer != "error") cr_expect_eq(r.user, c.user, "%s: %s", c.addr, r.user.c_str());
    }
    Resolved e = resolve_address("u@bad.example", ctx);
    cr_expect_eq(e.error, "550 no mail for you");
    auto smart = context();
    smart.smarthost = "[smtp.isp.example]:587";
    Resolved s = resolve_address("u@far.example", smart);
    cr_expect_eq(s.mailer, "relay");
    cr_expect_eq(s.host, "[smtp.isp.example]:587");
    // a catch-all pointing back into its own virtual domain does not loop for ever
    auto loop = context({}, {{"@virt.example", "x@virt.example"}});
    Resolved l = resolve_address("y@virt.example", loop);
    cr_expect_eq(l.mailer, "error");
}

Test(address_test, an_unreadable_map_is_a_temporary_error_not_a_guess) {
    AddressTestContext c = context();
    c.lookup = [](std::string_view map, std::string_view) -> Result<std::optional<std::string>> {
        if (map == "mailertable") return make_error(Exit::no_perm, "Permission denied");
        return make_error(Exit::unavailable, "map is not configured");
    };
    Resolved r = resolve_address("u@far.example", c);
    cr_expect_eq(r.mailer, "error");
    cr_expect_eq(r.host, "4.3.5");
    cr_expect(r.error.find("mailertable: Permission denied") != std::string::npos, "%s",
              r.error.c_str());
    AddressTester t(c);
    std::string out = t.line("/parse u@far.example");
    cr_expect(out.find("u@far.example... mailertable: Permission denied") != std::string::npos,
              "%s", out.c_str());
}

Test(address_test, probes_scripts_use) {
    AddressTester t(context({{"partner.example", "esmtp:[10.0.0.2]"}}));
    std::string out = t.line("3,0 user@partner.example");
    cr_expect(has(out, "canonify           input: user @ partner . example\n"), "%s", out.c_str());
    cr_expect(has(out, "canonify         returns: user < @ partner . example . >\n"), "%s",
              out.c_str());
    cr_expect(has(out,
                  "parse            returns: $# esmtp $@ [ 10 . 0 . 0 . 2 ] $: user < @ "
                  "partner . example . >\n"),
              "%s", out.c_str());
    out = t.line("/parse bob@example.org");
    cr_expect(has(out, "mailer local, user bob\n"), "%s", out.c_str());
    out = t.line("/parse x@far.example");
    cr_expect(has(out, "mailer esmtp, host far.example., user x@far.example\n"), "%s", out.c_str());
    out = t.line("/try esmtp bob");
    cr_expect(has(out, "Rcode = 0, addr = bob@mx.example.org\n"), "%s", out.c_str());
    t.line("/tryflags HS");
    out = t.line("/try local bob");
    cr_expect(has(out, "Trying header sender address bob for mailer local"), "%s", out.c_str());
    out = t.line("/map mailertable partner.example");
    cr_expect_eq(out, "map_lookup: mailertable (partner.example) returns esmtp:[10.0.0.2] (0)\n");
    out = t.line("/map mailertable none.example");
    cr_expect_eq(out, "map_lookup: mailertable (none.example) no match (0)\n");
    cr_expect_eq(t.line("$j"), "mx.example.org\n");
    cr_expect_eq(t.line("$w"), "mx\n");
    cr_expect_eq(t.line("$m"), "example.org\n");
    cr_expect_eq(t.line("$=w"), "mx.example.org\nexample.org\nlocalhost\n");
    cr_expect_eq(t.line("$z"), "\n");
}
