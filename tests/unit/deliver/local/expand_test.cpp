// expand_test.cpp - unit tests for deliver/local/expand.cpp against a temporary aliases
// file and passwd users every Debian system has (root uid 0; daemon, bin and nobody
// with uid != 0, sys): loops and depth, unsupported forms and unknown users first, then
// duplicates, self-reference, "\user", user@<local domain> and case folding.
#include "deliver/local/expand.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

using namespace tegami::local;
using tegami::AliasFile;
using tegami::Config;
using tegami::default_config;

namespace {

const char* kAliases =
    "# test aliases\n"
    "loop1: loop2\n"
    "loop2: loop3\n"
    "loop3: loop1\n"
    "deep0: deep1\ndeep1: deep2\ndeep2: deep3\ndeep3: deep4\ndeep4: deep5\n"
    "deep5: deep6\ndeep6: deep7\ndeep7: deep8\ndeep8: deep9\ndeep9: deep10\n"
    "deep10: deep11\ndeep11: daemon\n"
    "shallow: deep5\n"
    "prog: \"|/usr/bin/vacation x\"\n"
    "file: /tmp/mail.copy\n"
    "incl: :include:/etc/mail/list\n"
    "remote: someone@elsewhere.example\n"
    "mixed: daemon, \"|cmd\", nobody\n"
    "root: nobody\n"
    "admins: root, daemon\n"
    "dups: daemon, Daemon, nobody, daemon@localhost, list\n"
    "list: nobody, bin\n"
    "self: self, daemon\n"
    "sys: sys, bin\n"
    "daemon: \\daemon, nobody\n"
    "stop: \\root\n"
    "ghost: no-such-user-tegami\n"
    "bad: @\n"
    "local: nobody@LOCALHOST, bin@mx.example\n";

Config domains_config() {
    Config c = default_config();
    c.local_domains = {"localhost", "mx.example"};
    return c;
}
const Config kDomains = domains_config();

struct Case {
    const char* rcpt;
    std::vector<std::string> users;
    std::vector<std::string> dsns;  // failure codes, in order
};

const Case kCases[] = {
    {"loop1", {}, {"5.4.6"}},
    {"deep0", {}, {"5.4.6"}},
    {"prog", {}, {"5.3.0"}},
    {"file", {}, {"5.3.0"}},
    {"incl", {}, {"5.3.0"}},
    {"remote", {}, {"5.3.0"}},
    {"mixed", {"daemon", "nobody"}, {"5.3.0"}},
    {"no-such-user-tegami", {}, {"5.1.1"}},
    {"ghost", {}, {"5.1.1"}},
    {"stop", {}, {"5.1.1"}},
    {"bad", {}, {"5.1.3"}},
    {"shallow", {"daemon", "nobody"}, {}},
    {"root", {"nobody"}, {}},
    {"ROOT", {"nobody"}, {}},
    {"admins", {"nobody", "daemon"}, {}},
    {"dups", {"daemon", "nobody", "bin"}, {}},
    {"self", {"daemon", "nobody"}, {"5.1.1"}},  // "self" is no passwd user
    {"sys", {"sys", "bin"}, {}},                // self-reference: the user itself
    {"daemon", {"daemon", "nobody"}, {}},
    {"local", {"nobody", "bin"}, {}},
    {"bin", {"bin"}, {}},
    {"BIN", {"bin"}, {}},
};

}  // namespace

Test(expand, table) {
    char tmpl[] = "/tmp/tegami-expand-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/aliases";
    std::ofstream(path) << kAliases;
    AliasFile aliases(path);
    auto r = aliases.refresh();
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    for (const auto& c : kCases) {
        Expansion ex = expand_local(c.rcpt, &aliases, kDomains);
        std::vector<std::string> users, dsns;
        for (const auto& u : ex.users) {
            users.push_back(u.name);
            cr_expect_neq(u.uid, 0u, "%s: uid 0 returned", c.rcpt);
        }
        for (const auto& f : ex.failures)
            dsns.push_back(f.dsn);
        cr_expect(users == c.users, "%s: users differ (%zu)", c.rcpt, users.size());
        cr_expect(dsns == c.dsns, "%s: failures differ (%zu, first %s)", c.rcpt, dsns.size(),
                  ex.failures.empty() ? "-" : ex.failures[0].text.c_str());
    }
    unlink(path.c_str());
    rmdir(tmpl);
}

Test(expand, messages) {
    char tmpl[] = "/tmp/tegami-expand-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/aliases";
    std::ofstream(path) << kAliases;
    AliasFile aliases(path);
    cr_assert(aliases.refresh().ok());
    Expansion ex = expand_local("loop1", &aliases, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].text, std::string("alias loop: loop1 -> loop2 -> loop3 -> loop1"));
    ex = expand_local("prog", &aliases, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].text,
                 std::string("alias target form not supported yet: |/usr/bin/vacation x"));
    ex = expand_local("root", nullptr, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].dsn, std::string("5.1.1"));
    cr_expect(ex.users.empty());
}
