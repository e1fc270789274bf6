// mx_test.cpp - tests for deliver/remote/mx.cpp: MX rdata decoding (malformed first), the
// try order (preference, shuffled among equals) and null MX (RFC 7505).
#include "deliver/remote/mx.hpp"

#include <criterion/criterion.h>

#include <set>
#include <string>

using namespace tegami::remote;

namespace {

std::string rdata(uint16_t pref, const std::string& name) {
    std::string r;
    r.push_back(static_cast<char>(pref >> 8));
    r.push_back(static_cast<char>(pref & 0xff));
    size_t p = 0;
    while (p < name.size()) {
        size_t d = name.find('.', p);
        if (d == std::string::npos) d = name.size();
        r.push_back(static_cast<char>(d - p));
        r += name.substr(p, d - p);
        p = d + 1;
    }
    r.push_back('\0');
    return r;
}

}  // namespace

Test(mx, malformed_rdata_is_dropped) {
    const std::string bad[] = {
        "",                        // empty
        std::string("\0\x0a", 2),  // no name
        std::string("\0\x0a\x05"
                    "ab",
                    5),                    // label longer than the data
        std::string("\0\x0a\xc0\x0c", 4),  // a compression pointer
        std::string("\0\x0a\x02"
                    "ab\0x",
                    7),  // trailing bytes
        std::string("\0\x0a\x03"
                    "a b\0",
                    7),  // not a host name
    };
    for (const auto& b : bad) {
        MxRecord r;
        cr_expect_not(parse_mx_rdata(b, r), "len %zu", b.size());
    }
}

Test(mx, rdata_decodes_and_lower_cases) {
    MxRecord r;
    cr_assert(parse_mx_rdata(rdata(10, "MX1.Example.Test"), r));
    cr_expect_eq(r.preference, 10);
    cr_expect_eq(r.host, "mx1.example.test");
    cr_assert(parse_mx_rdata(std::string("\0\0\0", 3), r));
    cr_expect(r.host.empty());
}

Test(mx, null_mx_only_when_alone) {
    std::mt19937 rng(1);
    MxPlan p = plan_mx({{0, ""}}, rng);
    cr_expect(p.null_mx);
    cr_expect(p.hosts.empty());
    p = plan_mx({{0, ""}, {10, "mx.test"}}, rng);
    cr_expect_not(p.null_mx);
    cr_assert_eq(p.hosts.size(), 1u);
    cr_expect_eq(p.hosts[0], "mx.test");
}

Test(mx, sorted_by_preference_and_shuffled_among_equals) {
    std::set<std::string> firsts;
    for (unsigned seed = 0; seed < 64; ++seed) {
        std::mt19937 rng(seed);
        MxPlan p = plan_mx(
            {{20, "c.test"}, {10, "a.test"}, {10, "b.test"}, {30, "d.test"}, {10, "a.test"}}, rng);
        cr_assert_eq(p.hosts.size(), 4u);  // the duplicate is tried once
        cr_expect(p.hosts[0] == "a.test" || p.hosts[0] == "b.test");
        cr_expect(p.hosts[1] == "a.test" || p.hosts[1] == "b.test");
        cr_expect_eq(p.hosts[2], "c.test");
        cr_expect_eq(p.hosts[3], "d.test");
        firsts.insert(p.hosts[0]);
    }
    cr_expect_eq(firsts.size(), 2u, "equal preferences are shuffled");
}
