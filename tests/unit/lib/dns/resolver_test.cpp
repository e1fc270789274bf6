// resolver_test.cpp - the pure parts of lib/dns/resolver.cpp: reverse_name (the PTR
// query name of an address) and name_from_rdata (PTR rdata in wire format), bad inputs
// first. The lookups themselves run against dnsmasq in tests/interop/peername.sh.
#include <criterion/criterion.h>

#include <optional>
#include <string>

#include "lib/dns/resolver.hpp"

using namespace tegami::dns;

namespace {

struct RevCase {
    const char* addr;
    const char* want;  // nullptr: refused
};

const RevCase kRev[] = {
    {"", nullptr},
    {"localhost", nullptr},
    {"1.2.3", nullptr},
    {"1.2.3.256", nullptr},
    {"1.2.3.4 ", nullptr},
    {"::g", nullptr},
    {"[::1]", nullptr},
    {"192.0.2.1", "1.2.0.192.in-addr.arpa"},
    {"127.0.0.21", "21.0.0.127.in-addr.arpa"},
    {"::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"},
    {"2001:db8::567:89ab",
     "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
};

struct NameCase {
    std::string rdata;
    const char* want;  // nullptr: refused
};

std::string wire(std::initializer_list<std::string> labels) {
    std::string out;
    for (const auto& l : labels) {
        out += static_cast<char>(l.size());
        out += l;
    }
    out += '\0';
    return out;
}

}  // namespace

Test(dns, reverse_name_table) {
    for (const auto& c : kRev) {
        auto r = reverse_name(c.addr);
        if (!c.want) {
            cr_expect(!r, "\"%s\" refused, got %s", c.addr, r ? r->c_str() : "");
        } else {
            cr_assert(r.has_value(), "\"%s\"", c.addr);
            cr_expect_eq(*r, std::string(c.want), "\"%s\": %s", c.addr, r->c_str());
        }
    }
}

Test(dns, name_from_rdata_table) {
    const NameCase cases[] = {
        {"", nullptr},                                      // nothing
        {std::string(1, '\0'), nullptr},                    // the root alone
        {"\x04mail", nullptr},                              // no terminating label
        {"\x09mail", nullptr},                              // label past the end
        {std::string("\xc0\x0c", 2), nullptr},              // compression pointer
        {wire({"mail", "ex ample", "org"}), nullptr},       // a space
        {wire({"mail", "ex\nample", "org"}), nullptr},      // a control byte
        {wire({"mail", "example", "org"}) + "x", nullptr},  // trailing bytes
        {wire({std::string(64, 'a'), "org"}), nullptr},     // label over 63
        {wire({std::string(63, 'a'), std::string(63, 'b'), std::string(63, 'c'),
               std::string(63, 'd')}),
         nullptr},                                               // over 253 as text
        {wire({"Mail", "Example", "ORG"}), "mail.example.org"},  // lower-cased
        {wire({"good", "ptr", "test"}), "good.ptr.test"},
        {wire({"a-b_c", "x9"}), "a-b_c.x9"},
    };
    for (size_t i = 0; i < std::size(cases); ++i) {
        auto r = name_from_rdata(cases[i].rdata);
        if (!cases[i].want) {
            cr_expect(!r, "case %zu refused, got %s", i, r ? r->c_str() : "");
        } else {
            cr_assert(r.has_value(), "case %zu", i);
            cr_expect_eq(*r, std::string(cases[i].want), "case %zu: %s", i, r->c_str());
        }
    }
}
