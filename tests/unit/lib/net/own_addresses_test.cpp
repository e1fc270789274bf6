// own_addresses_test.cpp - tests for lib/net/own_addresses.cpp: malformed literals and
// other tags are never this host; 127.0.0.1 (on every loopback interface) is; an address
// no interface has (TEST-NET-2) is not; IPv6 ::1 is exactly when the host has it.
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/map/recipients.hpp"
#include "lib/net/own_addresses.hpp"

using namespace tegami;

namespace {

bool host_has_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

Test(own_addresses, malformed_literals_and_other_tags_are_not_this_host) {
    const char* bad[] = {"",
                         "[]",
                         "127.0.0.1",
                         "[127.0.0.1",
                         "127.0.0.1]",
                         "[127.0.0.1 ]",
                         "[999.0.0.1]",
                         "[IPv6:127.0.0.1]",
                         "[IPv6:]",
                         "[tag:x]",
                         "[::1]",
                         "[127.1]",
                         "[IPv6::::]",
                         "[localhost]",
                         "[127.0.0.1]extra",
                         "[ 127.0.0.1]"};
    for (const char* b : bad)
        cr_expect_not(is_own_address_literal(b), "%s", b);
}

Test(own_addresses, loopback_is_this_host_and_a_foreign_address_is_not) {
    cr_expect(is_own_address_literal("[127.0.0.1]"));
    cr_expect_not(is_own_address_literal("[198.51.100.77]"));
    cr_expect_not(is_own_address_literal("[127.0.0.2]"), "in lo's network, not its address");
    bool v6 = host_has_ipv6_loopback();
    cr_expect_eq(is_own_address_literal("[IPv6:::1]"), v6);
    cr_expect_eq(is_own_address_literal("[ipv6:0:0:0:0:0:0:0:1]"), v6, "the tag in any case");
}

Test(own_addresses, an_own_literal_is_a_local_domain) {
    Config c;
    c.local_domains = {"mx.test"};
    cr_expect(is_local_domain(c, "MX.test"));
    cr_expect(is_local_domain(c, "[127.0.0.1]"));
    cr_expect_not(is_local_domain(c, "[198.51.100.77]"));
    cr_expect_not(is_local_domain(c, "other.test"));
}
