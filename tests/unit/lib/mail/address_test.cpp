// address_test.cpp - tests for lib/mail/address.cpp: paths, mailboxes, domains,
// address literals, UTF-8. Table-driven, bad inputs first.
#include <criterion/criterion.h>

#include <string>

#include "lib/mail/address.hpp"

using namespace tegami;

namespace {

struct Bad {
    const char* in;
    PathKind kind;
    int code;
    const char* enhanced;
};

}  // namespace

Test(address, bad_paths_are_refused_with_their_reply) {
    std::string long_local = "<" + std::string(65, 'a') + "@x.org>";
    std::string long_path = "<" + std::string(60, 'a') + "@" + std::string(60, 'b') + "." +
                            std::string(60, 'c') + "." + std::string(60, 'd') + "." +
                            std::string(20, 'e') + ">";
    std::string long_label = "<a@" + std::string(64, 'x') + ".org>";
    const Bad cases[] = {
        {"", PathKind::reverse, 501, "5.1.7"},
        {"a@b.org", PathKind::reverse, 501, "5.1.7"},
        {"<a@b.org", PathKind::reverse, 501, "5.1.7"},
        {"<>", PathKind::forward, 501, "5.1.3"},
        {"<@a.org:>", PathKind::reverse, 501, "5.1.7"},
        {"<a>", PathKind::forward, 501, "5.1.3"},
        {"<a>", PathKind::reverse, 501, "5.1.7"},
        {"<postmaster>", PathKind::reverse, 501, "5.1.7"},
        {"<@r.org:postmaster>", PathKind::forward, 501, "5.1.3"},
        {"<a@>", PathKind::forward, 501, "5.1.3"},
        {"<@b.org>", PathKind::forward, 501, "5.1.3"},
        {"<a..b@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<.a@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<a.@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<a b@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<a(b)@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<\"a@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<\"a\x01\"@c.org>", PathKind::forward, 501, "5.1.3"},
        {"<a@-c.org>", PathKind::forward, 501, "5.1.3"},
        {"<a@c-.org>", PathKind::forward, 501, "5.1.3"},
        {"<a@c..org>", PathKind::forward, 501, "5.1.3"},
        {"<a@c.org.>", PathKind::forward, 501, "5.1.3"},
        {"<a@c_d.org>", PathKind::forward, 501, "5.1.3"},
        {"<a@[1.2.3]>", PathKind::forward, 501, "5.1.3"},
        {"<a@[1.2.3.256]>", PathKind::forward, 501, "5.1.3"},
        {"<a@[IPv6:zz::1]>", PathKind::forward, 501, "5.1.3"},
        {"<a@[1.2.3.4>", PathKind::forward, 501, "5.1.3"},
        {"<a@[x-:y]>", PathKind::forward, 501, "5.1.3"},
        {"<a@b.org>>", PathKind::forward, 0, ""},  // parses; the caller sees the rest
        {"<\xff@b.org>", PathKind::forward, 501, "5.1.3"},
        {"<\xc3\x28@b.org>", PathKind::forward, 501, "5.1.3"},
        {"<a@\xed\xa0\x80.org>", PathKind::forward, 501, "5.1.3"},
        {long_local.c_str(), PathKind::forward, 501, "5.1.3"},
        {long_path.c_str(), PathKind::forward, 501, "5.1.3"},
        {long_label.c_str(), PathKind::forward, 501, "5.1.3"},
    };
    for (const auto& c : cases) {
        size_t used = 0;
        auto r = parse_path(c.in, c.kind, used);
        if (c.code == 0) {
            cr_expect(r.ok(), "%s", c.in);
            continue;
        }
        cr_expect_not(r.ok(), "%s", c.in);
        if (r.ok()) continue;
        cr_expect_eq(r.error().code, c.code, "%s", c.in);
        cr_expect_eq(r.error().enhanced, std::string(c.enhanced), "%s", c.in);
    }
}

Test(address, good_paths) {
    struct Good {
        const char* in;
        PathKind kind;
        const char* str;
        bool utf8;
        size_t used;
    } cases[] = {
        {"<>", PathKind::reverse, "", false, 2},
        {"<a@b.org>", PathKind::forward, "a@b.org", false, 9},
        {"<A.B@Example.ORG> SIZE=1", PathKind::forward, "A.B@example.org", false, 17},
        {"<Postmaster>", PathKind::forward, "Postmaster", false, 12},
        {"<POSTMASTER@Local>", PathKind::forward, "POSTMASTER@local", false, 18},
        {"<@r1.org,@r2.org:u@d.org>", PathKind::forward, "u@d.org", false, 25},
        {"<\"a b\\\"c\"@d.org>", PathKind::forward, "\"a b\\\"c\"@d.org", false, 16},
        {"<\"a>b\"@d.org>", PathKind::forward, "\"a>b\"@d.org", false, 13},
        {"<u@[127.0.0.1]>", PathKind::forward, "u@[127.0.0.1]", false, 15},
        {"<u@[IPv6:::1]>", PathKind::forward, "u@[IPv6:::1]", false, 14},
        {"<u+tag=x!#$%&'*/?^_`{|}~-@b-c.d9.org>", PathKind::forward,
         "u+tag=x!#$%&'*/?^_`{|}~-@b-c.d9.org", false, 37},
        {"<\xc3\xa9t\xc3\xa9@\xc3\xa9"
         "cole.FR>",
         PathKind::forward,
         "\xc3\xa9t\xc3\xa9@\xc3\xa9"
         "cole.fr",
         true, 17},
    };
    for (const auto& c : cases) {
        size_t used = 0;
        auto r = parse_path(c.in, c.kind, used);
        cr_assert(r.ok(), "%s: %s", c.in, r.ok() ? "" : r.error().text.c_str());
        cr_expect_eq(r->str(), std::string(c.str), "%s", c.in);
        cr_expect_eq(r->utf8, c.utf8, "%s", c.in);
        cr_expect_eq(used, c.used, "%s", c.in);
    }
}

Test(address, length_limits_are_inclusive) {
    std::string local64 = "<" + std::string(64, 'a') + "@x.org>";
    size_t used = 0;
    cr_expect(parse_path(local64, PathKind::forward, used).ok());
    // 256 octets of path in all: "<" + 64 + "@" + 189 + ">"
    std::string dom =
        std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(61, 'd');
    std::string p256 = "<" + std::string(64, 'a') + "@" + dom + ">";
    cr_assert_eq(p256.size(), 256u);
    cr_expect(parse_path(p256, PathKind::forward, used).ok());
    std::string p257 = "<" + std::string(64, 'a') + "@" + dom + "e>";
    cr_expect_not(parse_path(p257, PathKind::forward, used).ok());
}

Test(address, domains) {
    const char* bad[] = {"", ".", "a.", ".a", "a..b", "-a", "a-", "a_b", "a b", "a@b"};
    for (const char* d : bad)
        cr_expect_not(valid_domain(d, false), "%s", d);
    cr_expect_not(valid_domain("\xc3\xa9.org", false));
    const char* good[] = {"a", "a.b", "a-b.c", "1.2", "xn--e1afmkfd.org"};
    for (const char* d : good)
        cr_expect(valid_domain(d, false), "%s", d);
    cr_expect(valid_domain("\xc3\xa9.org", true));
}

Test(address, utf8_validation) {
    const char* bad[] = {"\x80", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xc3", "\xe2\x82"};
    for (const char* s : bad)
        cr_expect_not(valid_utf8(s));
    cr_expect(valid_utf8("plain"));
    cr_expect(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
}

Test(address, helpers) {
    cr_expect_eq(lower_ascii("AbC\xc3\x89"), std::string("abc\xc3\x89"));
    cr_expect(iequals("PostMaster", "postmaster"));
    cr_expect_not(iequals("postmaste", "postmaster"));
    cr_expect_eq(unquote_local("\"a\\\"b c\""), std::string("a\"b c"));
    cr_expect_eq(unquote_local("a.b"), std::string("a.b"));
}

Test(address, literal_with_nul_or_8bit_is_refused) {
    // inet_pton stops at a NUL: the literal must be checked as a whole first.
    const std::string cases[] = {
        std::string("<a@[127.0.0.1\0evil\x80]>", 21),
        std::string("<a@[IPv6:::1\0\0\x7f\xfc]>", 18),
        std::string("<a@[127.0.0.1 ]>"),
        std::string("<a@[127.0.0.\xc3\xa9]>"),
    };
    for (const auto& in : cases) {
        size_t used = 0;
        auto r = parse_path(in, PathKind::forward, used);
        cr_expect(!r.ok(), "accepted a literal of %zu bytes", in.size());
    }
}

// One canonical form per address (quoted, escaped, mixed-case and UTF-8 spellings), the
// original kept as written, and the split that undoes the quoting.
Test(address, canonical_forms) {
    struct Case {
        const char* path;
        const char* canonical;
        const char* original;
    };
    const Case cases[] = {
        {"<alice@localhost>", "alice@localhost", "alice@localhost"},
        {"<\"alice\"@localhost>", "alice@localhost", "\"alice\"@localhost"},
        {"<\"al\\ice\"@LOCALHOST>", "alice@localhost", "\"al\\ice\"@LOCALHOST"},
        {"<Alice@Example.ORG>", "Alice@example.org", "Alice@Example.ORG"},
        {"<\"a.b\"@x.test>", "a.b@x.test", "\"a.b\"@x.test"},
        {"<\"a..b\"@x.test>", "\"a..b\"@x.test", "\"a..b\"@x.test"},
        {"<\"john doe\"@x.test>", "\"john doe\"@x.test", "\"john doe\"@x.test"},
        {"<\"a\\\"b\"@x.test>", "\"a\\\"b\"@x.test", "\"a\\\"b\"@x.test"},
        {"<\"a@b\"@x.test>", "\"a@b\"@x.test", "\"a@b\"@x.test"},
        {"<jos\xc3\xa9@X.test>", "jos\xc3\xa9@x.test", "jos\xc3\xa9@X.test"},
        {"<\"jos\xc3\xa9\"@x.test>", "jos\xc3\xa9@x.test", "\"jos\xc3\xa9\"@x.test"},
        {"<@route.test:bob@[127.0.0.1]>", "bob@[127.0.0.1]", "bob@[127.0.0.1]"},
        {"<Postmaster>", "Postmaster", "Postmaster"},
    };
    for (const auto& c : cases) {
        size_t used = 0;
        auto mb = parse_path(c.path, PathKind::forward, used);
        cr_assert(mb.ok(), "%s refused", c.path);
        cr_expect_eq(canonical_address(mb.value()), std::string(c.canonical), "%s -> %s", c.path,
                     canonical_address(mb.value()).c_str());
        cr_expect_eq(mb->original, std::string(c.original), "%s original %s", c.path,
                     mb->original.c_str());
        // The canonical form parses again to itself.
        std::string again = "<" + canonical_address(mb.value()) + ">";
        auto mb2 = parse_path(again, PathKind::forward, used);
        cr_assert(mb2.ok(), "canonical %s refused", again.c_str());
        cr_expect_eq(canonical_address(mb2.value()), canonical_address(mb.value()));
    }
    std::string local, domain;
    cr_expect(!split_canonical("", local, domain));
    cr_expect(!split_canonical("@x", local, domain));
    cr_expect(!split_canonical("a@", local, domain));
    cr_expect(!split_canonical("\"\"@x", local, domain), "empty quoted local part");
    cr_expect(split_canonical("\"a@b\"@x.test", local, domain));
    cr_expect_eq(local, "a@b");
    cr_expect_eq(domain, "x.test");
    cr_expect(split_canonical("\"john doe\"@x.test", local, domain));
    cr_expect_eq(local, "john doe");
}
