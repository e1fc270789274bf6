// networks_test.cpp - tests for lib/net/networks.cpp: bad entries first (host bits
// beyond the prefix, prefixes out of range, names), then matching IPv4, IPv6 and
// IPv4-mapped addresses.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "lib/net/networks.hpp"

using namespace tegami;

Test(networks, bad_entries) {
    const char* bad[] = {"",          "10.0.0.0/33", "10.0.0.1/8", "[::1]/129", "foo",
                         "10.0.0.0/", "10.0.0.0/x",  "1.2.3",      "::1/-1",    "/8"};
    for (const char* b : bad)
        cr_expect_not(parse_network(b).has_value(), "%s", b);
    std::string which;
    cr_expect_not(parse_networks({"127.0.0.0/8", "bogus"}, which).has_value());
    cr_expect_eq(which, std::string("bogus"));
}

Test(networks, matching) {
    std::string bad;
    auto nets = parse_networks(
        {"127.0.0.0/8", "[::1]/128", "192.0.2.16/28", "2001:db8::/32", "198.51.100.7"}, bad);
    cr_assert(nets.has_value(), "%s", bad.c_str());
    const char* in[] = {"127.0.0.1",  "127.255.0.9",   "::1",          "192.0.2.17",
                        "192.0.2.31", "2001:db8:1::5", "198.51.100.7", "::ffff:127.0.0.1"};
    const char* out[] = {"128.0.0.1",    "192.0.2.15", "192.0.2.32", "2001:db9::1",
                         "198.51.100.8", "::2",        "unknown",    ""};
    for (const char* a : in)
        cr_expect(network_contains(*nets, a), "%s", a);
    for (const char* a : out)
        cr_expect_not(network_contains(*nets, a), "%s", a);
}
