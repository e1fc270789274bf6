// expand_test.cpp - unit tests for deliver/local/expand.cpp against a temporary aliases
// file and passwd users every Debian system has (root uid 0; daemon, bin and nobody
// with uid != 0, sys): loops and depth, unsupported forms and unknown users first, then
// duplicates, self-reference, "\user", user@<local domain> and case folding.
#include "deliver/local/expand.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
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
    "local: nobody@LOCALHOST, bin@mx.example\n"
    "err: error:5.2.2:552 mailbox full\n"
    "err4: error:450 try later\n"
    "errbare: error:go away\n"
    "mylist: bin, daemon\n"
    "owner-mylist: nobody\n"
    "daemon+special: bin\n"
    "fwdmix: nobody, Someone@Elsewhere.EXAMPLE, Someone@elsewhere.example, \"a b\"@far.example\n"
    "badremote: x@bad_domain!, y@\n"
    "staff: bin, crew\n"
    "crew: daemon, staff\n"
    "cmt: bin (The Bin User), Sys Account <sys@localhost>, \"Nobody, Really\" <nobody>\n"
    "cmtbad: bin (unclosed\n"
    "olist: bin, no-such-user-tegami, Far@Elsewhere.example, \\root\n"
    "owner-olist: nobody\n";

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

// Deliveries as "user" (mailbox), "|command" (program) or "/path" (file).
const Case kCases[] = {
    {"loop1", {}, {"5.4.6"}},
    // Lists that name each other: every member once, and no failure for the recipient.
    {"staff", {"bin", "daemon", "nobody"}, {}},
    {"crew", {"daemon", "nobody", "bin"}, {}},
    // RFC 5322 forms sendmail takes: a comment, a display name before <address>.
    {"cmt", {"bin", "sys", "nobody"}, {}},
    {"cmtbad", {}, {"5.1.1"}},
    {"deep0", {}, {"5.4.6"}},
    {"prog", {"|/usr/bin/vacation x"}, {}},
    {"file", {"/tmp/mail.copy"}, {}},
    {"incl", {}, {"4.3.0"}},  // the include file does not exist: try again later
    {"remote", {}, {}},       // in Expansion::remote, for the queue to route
    {"fwdmix", {"nobody"}, {}},
    {"badremote", {}, {"5.1.3", "5.1.3"}},
    {"mixed", {"daemon", "nobody", "|cmd"}, {}},
    {"err", {}, {"5.2.2"}},
    {"err4", {}, {"4.0.0"}},
    {"errbare", {}, {"5.0.0"}},
    {"mylist", {"bin", "daemon", "nobody"}, {}},
    {"mylist-request", {"nobody"}, {}},
    {"bin+tag", {"bin"}, {}},
    {"daemon+special", {"bin"}, {}},  // the alias for user+detail wins
    {"daemon+other", {"daemon", "nobody"}, {}},
    {"no-such-user-tegami+x", {}, {"5.1.1"}},
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
        for (const auto& d : ex.deliveries) {
            users.push_back(d.kind == TargetKind::mailbox   ? d.user.name
                            : d.kind == TargetKind::program ? "|" + d.target
                                                            : d.target);
            cr_expect_neq(d.user.uid, 0u, "%s: uid 0 returned", c.rcpt);
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

// Other domains' addresses come back canonical (domain lower-cased, local part kept and
// quoted only when it must be), each once, beside the local deliveries.
Test(expand, remote_targets_are_handed_back_canonical_and_once) {
    char tmpl[] = "/tmp/tegami-expand-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/aliases";
    std::ofstream(path) << kAliases;
    AliasFile aliases(path);
    cr_assert(aliases.refresh().ok());
    Expansion ex = expand_local("fwdmix", &aliases, kDomains);
    cr_assert_eq(ex.remote.size(), 2u);
    cr_expect_eq(ex.remote[0], "Someone@elsewhere.example");
    cr_expect_eq(ex.remote[1], "\"a b\"@far.example");
    cr_expect(ex.failures.empty());
    ex = expand_local("remote", &aliases, kDomains);
    cr_assert_eq(ex.remote.size(), 1u);
    cr_expect_eq(ex.remote[0], "someone@elsewhere.example");
    cr_expect(ex.deliveries.empty());
    ex = expand_local("local", &aliases, kDomains);
    cr_expect(ex.remote.empty(), "a local domain's address is delivered here");
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
    cr_assert_eq(ex.deliveries.size(), 1u);
    cr_expect_eq(ex.deliveries[0].user.name, "nobody", "aliases' programs run as default_user");
    ex = expand_local("err", &aliases, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].text, "mailbox full");
    cr_expect_eq(ex.failures[0].status, 5u);
    ex = expand_local("mylist", &aliases, kDomains);
    for (const auto& d : ex.deliveries)
        cr_expect_eq(d.sender, "owner-mylist@" + kDomains.hostname,
                     "list mail is sent as owner-LIST: %s", d.sender.c_str());
    ex = expand_local("bin+tag", &aliases, kDomains);
    cr_assert_eq(ex.deliveries.size(), 1u);
    cr_expect(ex.deliveries[0].direct, "user+detail is the recipient itself");
    ex = expand_local("root", nullptr, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].dsn, std::string("5.1.1"));
    cr_expect(ex.deliveries.empty());
    // No default user to run programs as: refused, never root.
    Config root_default = kDomains;
    root_default.default_user = "root";
    ex = expand_local("prog", &aliases, root_default);
    cr_expect(ex.deliveries.empty());
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].dsn, "5.3.0");
}

// :include: files: read when safe (the targets, programs as the owner or default_user),
// ignored with 4.3.0 when writable by others, missing, or naming themselves.
Test(expand, include_files) {
    char tmpl[] = "/tmp/tegami-expand-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    std::string list = dir + "/list", self = dir + "/self";
    std::ofstream(list) << "# members\nbin\n  daemon, \"|/bin/true x\"\n\nnobody\n";
    std::ofstream(self) << ":include:" << self << "\nbin\n";
    chmod(list.c_str(), 0644);
    chmod(self.c_str(), 0644);
    std::ofstream(dir + "/aliases") << "l: :include:" << list << "\ns: :include:" << self
                                    << "\nm: :include:" << dir << "/missing\n";
    AliasFile aliases(dir + "/aliases");
    cr_assert(aliases.refresh().ok());
    Expansion ex = expand_local("l", &aliases, kDomains);
    std::vector<std::string> got;
    for (const auto& d : ex.deliveries)
        got.push_back(d.kind == TargetKind::program ? "|" + d.target : d.user.name);
    cr_expect(got == (std::vector<std::string>{"bin", "daemon", "|/bin/true x", "nobody"}),
              "%zu deliveries from the include file", got.size());
    cr_expect(ex.failures.empty(), "%s", ex.failures.empty() ? "" : ex.failures[0].text.c_str());
    ex = expand_local("s", &aliases, kDomains);
    cr_expect(ex.failures.empty(), "the file naming itself is a duplicate, not a failure: %s",
              ex.failures.empty() ? "" : ex.failures[0].text.c_str());
    cr_expect_eq(ex.deliveries.size(), 1u, "bin once, the loop dropped");
    ex = expand_local("m", &aliases, kDomains);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].status, 4u);
    chmod(list.c_str(), 0666);
    ex = expand_local("l", &aliases, kDomains);
    cr_expect(ex.deliveries.empty(), "a world-writable include file is not read");
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect(ex.failures[0].text.find("writable") != std::string::npos, "%s",
              ex.failures[0].text.c_str());
    for (const char* f : {"/list", "/self", "/aliases"})
        unlink((dir + f).c_str());
    rmdir(tmpl);
}

Test(expand, error_targets) {
    struct E {
        const char* spec;
        uint32_t status;
        const char* dsn;
        const char* text;
    };
    const E cases[] = {
        {"5.1.1:550 gone", 5, "5.1.1", "gone"},         {"550 gone", 5, "5.0.0", "gone"},
        {"4.2.2:450 full", 4, "4.2.2", "full"},         {"4.2.2:550 mixed", 5, "5.0.0", "mixed"},
        {"", 5, "5.0.0", "refused by an error: alias"}, {"just text", 5, "5.0.0", "just text"},
        {"9.9.9 odd", 5, "5.0.0", "9.9.9 odd"},
    };
    for (const auto& c : cases) {
        TargetFailure f = parse_error_target(c.spec);
        cr_expect_eq(f.status, c.status, "%s", c.spec);
        cr_expect_eq(f.dsn, std::string(c.dsn), "%s: %s", c.spec, f.dsn.c_str());
        cr_expect_eq(f.text, std::string(c.text), "%s: %s", c.spec, f.text.c_str());
    }
}

// .forward through a reader standing in for the file system: its targets replace the
// mailbox, "\user" and the user's own name keep the mailbox, programs run as the user,
// "\user" at the top skips the .forward, a cycle of forwards ends in the mailboxes, a
// reader error defers.
Test(expand, forward_files) {
    std::map<std::string, std::string> files = {
        {"daemon", "\\daemon, \"|/usr/bin/procmail -a x\"\n"},
        {"bin", "# comment\nbin\n"},  // the .forward names its user: the mailbox
        {"sys", "nobody\n"},
        {"nobody", "sys\n"},  // a cycle sys -> nobody -> sys
    };
    bool fail_reads = false;
    ForwardReader reader = [&](const LocalUser& u) -> tegami::Result<std::optional<std::string>> {
        if (fail_reads) return tegami::make_error(tegami::Exit::temp_fail, "reader timed out");
        auto it = files.find(u.name);
        if (it == files.end()) return std::optional<std::string>();
        return std::optional<std::string>(it->second);
    };
    auto names = [](const Expansion& ex) {
        std::vector<std::string> out;
        for (const auto& d : ex.deliveries)
            out.push_back(d.kind == TargetKind::program ? "|" + d.target + " as " + d.user.name
                                                        : d.user.name);
        return out;
    };
    Expansion ex = expand_local("daemon", nullptr, kDomains, &reader);
    cr_expect(
        names(ex) == (std::vector<std::string>{"daemon", "|/usr/bin/procmail -a x as daemon"}),
        "daemon: %zu deliveries", ex.deliveries.size());
    ex = expand_local("bin", nullptr, kDomains, &reader);
    cr_expect(names(ex) == std::vector<std::string>{"bin"});
    ex = expand_local("sys", nullptr, kDomains, &reader);
    cr_expect(names(ex) == (std::vector<std::string>{"sys"}), "cycle: %zu deliveries",
              ex.deliveries.size());
    cr_expect(ex.failures.empty());
    ex = expand_local("\\daemon", nullptr, kDomains, &reader);
    ex = expand_local("daemon", nullptr, kDomains, nullptr);
    cr_expect(names(ex) == std::vector<std::string>{"daemon"}, "no reader: the mailbox");
    fail_reads = true;
    ex = expand_local("daemon", nullptr, kDomains, &reader);
    cr_expect(ex.deliveries.empty());
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].status, 4u);
}

// A UserReader (tegami-local's UserCache) answers every passwd question of the expansion:
// an unknown name and a uid 0 entry are refused as with getpwnam, a mixed-case name is
// tried as given and then lower-cased, and no name goes to NSS behind its back.
Test(expand, user_reader_answers_every_passwd_lookup) {
    std::vector<std::string> asked;
    UserReader users = [&asked](const std::string& name, LocalUser& out) {
        asked.push_back(name);
        if (name == "ghost")
            out = LocalUser{"ghost", 4242, 4242, "/nonexistent"};
        else if (name == "toor")
            out = LocalUser{"toor", 0, 0, "/root"};
        else
            return false;
        return true;
    };
    Expansion ex = expand_local("bin", nullptr, kDomains, nullptr, nullptr, &users);
    cr_expect(ex.deliveries.empty(), "bin exists in /etc/passwd but not for the reader");
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect_eq(ex.failures[0].dsn, "5.1.1");
    ex = expand_local("toor", nullptr, kDomains, nullptr, nullptr, &users);
    cr_assert_eq(ex.failures.size(), 1u);
    cr_expect(ex.failures[0].text.find("uid 0") != std::string::npos, "%s",
              ex.failures[0].text.c_str());
    asked.clear();
    ex = expand_local("Ghost", nullptr, kDomains, nullptr, nullptr, &users);
    cr_assert_eq(ex.deliveries.size(), 1u);
    cr_expect_eq(ex.deliveries[0].user.uid, 4242u);
    cr_assert_eq(asked.size(), 2u);
    cr_expect_eq(asked[0], "Ghost");
    cr_expect_eq(asked[1], "ghost");
}

// A list with an owner: its members elsewhere and the ones that fail here (unknown, uid 0)
// are not the sender's concern: each becomes a new message from owner-LIST, whose bounce
// goes to the owner. Without an owner they stay the recipient's failures and remotes.
Test(expand, owned_list_members_go_out_from_the_owner) {
    char tmpl[] = "/tmp/tegami-expand-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/aliases";
    std::ofstream(path) << kAliases;
    AliasFile aliases(path);
    cr_assert(aliases.refresh().ok());
    Expansion ex = expand_local("olist", &aliases, kDomains);
    const std::string owner = "owner-olist@" + kDomains.hostname;
    cr_assert_eq(ex.deliveries.size(), 1u);
    cr_expect_eq(ex.deliveries[0].user.name, "bin");
    cr_expect_eq(ex.deliveries[0].sender, owner);
    cr_expect(ex.failures.empty(), "%s", ex.failures.empty() ? "" : ex.failures[0].text.c_str());
    cr_expect(ex.remote.empty());
    std::vector<std::string> got;
    for (const auto& o : ex.owned) {
        got.push_back(o.address);
        cr_expect_eq(o.sender, owner, "%s", o.address.c_str());
    }
    cr_expect(
        got == (std::vector<std::string>{"no-such-user-tegami@" + kDomains.hostname,
                                         "Far@elsewhere.example", "root@" + kDomains.hostname}),
        "%zu owned targets", got.size());
    // The same members in a list without an owner.
    ex = expand_local("badremote", &aliases, kDomains);
    cr_expect(ex.owned.empty());
    ex = expand_local("ghost", &aliases, kDomains);
    cr_expect(ex.owned.empty());
    cr_assert_eq(ex.failures.size(), 1u);
    unlink(path.c_str());
    rmdir(tmpl);
}
