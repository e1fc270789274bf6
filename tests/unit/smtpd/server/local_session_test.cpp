// local_session_test.cpp - scripted tests of smtpd's "local" (MSP) sessions in
// smtpd/server/verbs.cpp: XUID refused on the network and from untrusted peers, any
// domain accepted from a local submitter (and still refused on the network), and the
// Received header naming the submitter from the peer uid (through the real policy
// chain). Bad inputs first.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "smtpd/server/policy.hpp"
#include "smtpd/server/session.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {

struct Host : SessionHost {
    std::string out;
    std::vector<ipc::SubmitMsg> submitted;
    void write(std::string_view b) override { out.append(b); }
    LocalKind classify_local(std::string_view l) override {
        return l == "alice" ? LocalKind::user : LocalKind::unknown;
    }
    std::string new_queue_id() override { return "QID1"; }
    std::string date() override { return "Thu, 1 Jan 1970 00:00:00 +0000"; }
    void submit(ipc::SubmitMsg m) override { submitted.push_back(std::move(m)); }
    PolicyChain chain;  // the real stages: relay control included
    PolicyVerdict policy(const SessionState& st, const VerbSpec& v, const CommandArgs& a) override {
        return chain.run(st, v, a);
    }
};

std::shared_ptr<const Config> config() {
    Config c = default_config();
    c.hostname = "mx.test";
    c.local_domains = {"mx.test"};
    c.smtpd_banner = "mx.test ESMTP Tegami";
    return std::make_shared<const Config>(c);
}

std::string run(Session& s, Host& h, std::string_view in) {
    size_t used = 0;
    while (used < in.size()) {
        size_t n = s.feed(in.substr(used));
        if (n == 0) break;
        used += n;
    }
    return std::exchange(h.out, std::string());
}

ClientInfo local_client(long uid, bool trusted) {
    ClientInfo c{"local", "localhost"};
    c.local = true;
    c.uid = uid;
    c.trusted = trusted;
    return c;
}

}  // namespace

Test(local_session, xuid_is_refused_on_the_network_and_from_users) {
    Host h;
    Session net(h, config(), ClientInfo{"192.0.2.1", "unknown"});
    net.start();
    h.out.clear();
    cr_expect_eq(run(net, h, "EHLO c\r\n").substr(0, 4), "250-");
    cr_expect_eq(run(net, h, "XUID 0\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    Host h2;
    Session user(h2, config(), local_client(1000, false));
    user.start();
    h2.out.clear();
    run(user, h2, "EHLO c\r\n");
    cr_expect_eq(run(user, h2, "XUID 0\r\n"), "550 5.7.1 Error: XUID is for the queue runner\r\n");
    Host h3;
    Session runner(h3, config(), local_client(0, true));
    runner.start();
    h3.out.clear();
    run(runner, h3, "EHLO c\r\n");
    cr_expect_eq(run(runner, h3, "XUID x1\r\n"), "501 5.5.4 Syntax: XUID uid\r\n");
    cr_expect_eq(run(runner, h3, "XUID 12345678901\r\n"), "501 5.5.4 Syntax: XUID uid\r\n");
    run(runner, h3, "MAIL FROM:<a@b>\r\n");
    cr_expect_eq(run(runner, h3, "XUID 5\r\n"), "503 5.5.1 Error: XUID inside a transaction\r\n");
}

Test(local_session, relay_only_for_local_submitters) {
    Host h;
    Session net(h, config(), ClientInfo{"127.0.0.1", "localhost"});
    net.start();
    h.out.clear();
    run(net, h, "EHLO c\r\nMAIL FROM:<a@b>\r\n");
    cr_expect_eq(run(net, h, "RCPT TO:<x@far.example>\r\n"),
                 "550 5.7.1 <x@far.example>: Relaying denied\r\n");
    Host h2;
    Session local(h2, config(), local_client(1000, false));
    local.start();
    h2.out.clear();
    run(local, h2, "EHLO c\r\nMAIL FROM:<a@b>\r\n");
    cr_expect_eq(run(local, h2, "RCPT TO:<x@far.example>\r\n"), "250 2.1.5 Ok\r\n");
    cr_expect_eq(run(local, h2, "RCPT TO:<nobody@mx.test>\r\n").substr(0, 10), "550 5.1.1 ");
}

Test(local_session, received_names_the_peer_uid) {
    Host h;
    Session s(h, config(), local_client(0, true));
    s.start();
    h.out.clear();
    run(s, h, "EHLO c\r\nXUID 4242424\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\n");
    run(s, h, "Subject: x\r\n\r\nbody\r\n.\r\n");
    cr_assert_eq(h.submitted.size(), 1u);
    const std::string& body = h.submitted[0].body;
    cr_expect_eq(body.rfind("Received: (from uid 4242424)\r\n\tby mx.test (Tegami) id QID1\r\n"
                            "\tfor <alice@mx.test>; ",
                            0),
                 0u, "%s", body.c_str());
    Host h2;
    Session r(h2, config(), local_client(0, true));
    r.start();
    h2.out.clear();
    run(r, h2, "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@mx.test>\r\nDATA\r\nx\r\n.\r\n");
    cr_assert_eq(h2.submitted.size(), 1u);
    cr_expect_eq(h2.submitted[0].body.rfind("Received: (from root@localhost)\r\n", 0), 0u);
}
