// recipients_test.cpp - unit tests for lib/map/recipients.cpp: split_address cases and
// classify_local against a temporary aliases file and passwd users every Debian system
// has (root uid 0, daemon and nobody with uid != 0).
#include "lib/map/recipients.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

using tegami::AliasFile;
using tegami::classify_local;
using tegami::LocalKind;
using tegami::split_address;

namespace {

struct SplitCase {
    const char* addr;
    bool ok;
    const char* local;
    const char* domain;
};

const SplitCase kSplit[] = {
    {"", false, "", ""},
    {"user", false, "", ""},
    {"@example.org", false, "", ""},
    {"user@", false, "", ""},
    {"@", false, "", ""},
    {"user@example.org", true, "user", "example.org"},
    {"a@b", true, "a", "b"},
    {"\"odd@local\"@example.org", true, "\"odd@local\"", "example.org"},
    {"user@@example.org", true, "user@", "example.org"},
    {"User.Name+tag@Example.ORG", true, "User.Name+tag", "Example.ORG"},
};

struct ClassCase {
    const char* local;
    bool with_aliases;
    LocalKind want;
};

const ClassCase kClass[] = {
    {"", true, LocalKind::unknown},
    {"no-such-user-tegami", true, LocalKind::unknown},
    {"no-such-user-tegami", false, LocalKind::unknown},
    {"root", false, LocalKind::root_user},
    {"ROOT", false, LocalKind::root_user},
    {"root", true, LocalKind::alias},  // aliased to a person
    {"Root", true, LocalKind::alias},
    {"nobody", true, LocalKind::user},
    {"Daemon", true, LocalKind::user},
    {"daemon", false, LocalKind::user},
    {"postmaster", true, LocalKind::alias},
    {"POSTMASTER", true, LocalKind::alias},
    {"postmaster", false, LocalKind::unknown},
    {"list-x", true, LocalKind::alias},
    // LIST-request without an alias of its own is delivered to owner-LIST (expand.hpp):
    // RCPT takes it; without owner-LIST it is nobody.
    {"mylist-request", true, LocalKind::alias},
    {"MyList-Request", true, LocalKind::alias},
    {"list-x-request", true, LocalKind::unknown},
    {"-request", true, LocalKind::unknown},
    {"mylist-request", false, LocalKind::unknown},
};

}  // namespace

Test(recipients, split_address) {
    for (const auto& c : kSplit) {
        std::string local = "x", domain = "y";
        bool ok = split_address(c.addr, local, domain);
        cr_expect_eq(ok, c.ok, "\"%s\"", c.addr);
        if (ok && c.ok) {
            cr_expect_eq(local, std::string(c.local), "\"%s\" local", c.addr);
            cr_expect_eq(domain, std::string(c.domain), "\"%s\" domain", c.addr);
        }
    }
}

Test(recipients, split_address_nul) {
    std::string local, domain;
    std::string addr("ro\0ot@x", 7);
    cr_assert(split_address(addr, local, domain));
    cr_expect_eq(classify_local(local, nullptr), LocalKind::unknown);
}

Test(recipients, classify_local) {
    char tmpl[] = "/tmp/tegami-rcpt-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/aliases";
    {
        std::ofstream f(path);
        f << "postmaster: root\nroot: nobody\nlist-x: daemon, nobody\n"
          << "mylist: daemon\nowner-mylist: nobody\nowner-: nobody\n";
    }
    AliasFile aliases(path);
    cr_assert(aliases.refresh().ok());
    for (const auto& c : kClass) {
        LocalKind k = classify_local(c.local, c.with_aliases ? &aliases : nullptr);
        cr_expect_eq(static_cast<int>(k), static_cast<int>(c.want), "%s (aliases %d)", c.local,
                     c.with_aliases);
    }
    unlink(path.c_str());
    rmdir(tmpl);
}

// user+detail with a delimiter: the user's kind, unless user+detail is known itself;
// without a delimiter, or with the delimiter first, unknown.
Test(recipients, detail_and_local_domains) {
    cr_expect_eq(classify_local("daemon+box", nullptr, "+"), LocalKind::user);
    cr_expect_eq(classify_local("daemon+box", nullptr, ""), LocalKind::unknown);
    cr_expect_eq(classify_local("+box", nullptr, "+"), LocalKind::unknown);
    cr_expect_eq(classify_local("no-such-user-tegami+box", nullptr, "+"), LocalKind::unknown);
    cr_expect_eq(classify_local("root+x", nullptr, "+"), LocalKind::root_user);
    cr_expect_eq(classify_local("daemon-box", nullptr, "-"), LocalKind::user);
    tegami::Config c = tegami::default_config();
    c.local_domains = {"example.org", "localhost"};
    cr_expect(!is_local_domain(c, ""));
    cr_expect(!is_local_domain(c, "example.org.evil"));
    cr_expect(!is_local_domain(c, "sub.example.org"));
    cr_expect(is_local_domain(c, "EXAMPLE.org"));
}
