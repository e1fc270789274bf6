// server_test.cpp - unit tests for deliver/local/server.cpp on a real event loop and a
// Unix socket in a mkdtemp() directory, for the requests answered without a delivery
// child: frames that close the connection first (unknown type, bad payload), then the
// refusals (bad address, foreign domain, unknown user, root, alias loop, unsupported
// target). Deliveries through children are covered by the daemon runs (see the report).
#include "deliver/local/server.hpp"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "lib/ipc/frame.hpp"

using namespace tegami;
using tegami::local::LocalServer;

namespace {

struct Fixture {
    std::string dir;
    EventBasePtr base{event_base_new()};
    DaemonContext ctx;
    LocalServer server;
};

UniqueFd unix_socket(const std::string& path, bool listening) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    auto* addr = reinterpret_cast<sockaddr*>(&sa);
    if (listening) {
        cr_assert(bind(fd.get(), addr, sizeof sa) == 0 && listen(fd.get(), 8) == 0);
        evutil_make_socket_nonblocking(fd.get());
    } else {
        cr_assert(connect(fd.get(), addr, sizeof sa) == 0);
    }
    return fd;
}

void start(Fixture& f) {
    char tmpl[] = "/tmp/tegami-server-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    f.dir = tmpl;
    std::ofstream(f.dir + "/aliases") << "la: lb\nlb: la\nprog: \"|/bin/cat\"\n";
    Config cfg = default_config();
    cfg.aliases = f.dir + "/aliases";
    cfg.local_domains = {"localhost", "mx.example"};
    cfg.mail_spool_dir = f.dir;
    f.ctx.name = "local";
    f.ctx.base = f.base.get();
    f.ctx.config = std::make_shared<const Config>(cfg);
    f.ctx.listeners.push_back(Listener{"deliver", f.dir + "/s", unix_socket(f.dir + "/s", true)});
    f.server.init(f.ctx);
}

// Runs the loop until the client socket has something to read (or 2 seconds passed).
Result<ipc::ReceivedFrame> reply(Fixture& f, int client) {
    for (int i = 0; i < 200; ++i) {
        event_base_loop(f.base.get(), EVLOOP_NONBLOCK);
        pollfd p{client, POLLIN, 0};
        if (poll(&p, 1, 10) == 1) break;
    }
    return ipc::recv_frame_blocking(client);
}

// The body as the queue sends it: a memfd, sealed unless told otherwise.
UniqueFd body_fd(const std::string& body, bool seal = true) {
    UniqueFd fd(memfd_create("body", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    cr_assert(fd.valid());
    cr_assert(write(fd.get(), body.data(), body.size()) == static_cast<ssize_t>(body.size()));
    if (seal)
        cr_assert(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0);
    return fd;
}

ipc::DeliverResultMsg ask_many(Fixture& f, int client, uint64_t id,
                               const std::vector<std::string>& rcpts, bool seal = true,
                               uint64_t size_delta = 0) {
    ipc::DeliverMsg m;
    m.request_id = id;
    m.queue_id = "Q" + std::to_string(id);
    m.sender = "a@b";
    for (size_t i = 0; i < rcpts.size(); ++i)
        m.recipients.push_back(ipc::DeliverRcpt{static_cast<uint32_t>(i * 2), rcpts[i], "", 0});
    std::string body = "x\r\n";
    m.body_size = body.size() + size_delta;
    UniqueFd fd = body_fd(body, seal);
    cr_assert(ipc::send_frame_blocking(client, ipc::encode(m), {fd.get()}).ok());
    auto r = reply(f, client);
    cr_assert(r.ok(), "request %llu: no reply", static_cast<unsigned long long>(id));
    cr_assert(r->type == ipc::MsgType::deliver_result);
    ipc::DeliverResultMsg res;
    cr_assert(ipc::decode(r->payload, res));
    cr_assert_eq(res.request_id, id);
    cr_assert_eq(res.results.size(), rcpts.size(), "one result per recipient");
    return res;
}

ipc::RcptResult ask(Fixture& f, int client, uint64_t id, const std::string& rcpt) {
    ipc::DeliverResultMsg res = ask_many(f, client, id, {rcpt});
    cr_expect_eq(res.relay, std::string("local"));
    cr_expect_eq(res.results[0].index, 0u);
    return res.results[0];
}

struct Case {
    const char* rcpt;
    uint32_t status;
    const char* dsn;
};

const Case kCases[] = {
    {"", 5, "5.1.3"},
    {"@mx.example", 5, "5.1.3"},
    {"user@", 5, "5.1.3"},
    {"daemon@elsewhere.example", 5, "5.1.2"},
    {"no-such-user-tegami@localhost", 5, "5.1.1"},
    {"root@localhost", 5, "5.1.1"},
    {"la@MX.example", 5, "5.4.6"},
    {"prog@localhost", 5, "5.3.0"},
};

}  // namespace

Test(server, closes_on_unknown_frame_and_bad_payload) {
    Fixture f;
    start(f);
    UniqueFd c1 = unix_socket(f.dir + "/s", false);
    cr_assert(ipc::send_frame_blocking(c1.get(), ipc::encode_empty(ipc::MsgType::ready)).ok());
    cr_expect(!reply(f, c1.get()).ok(), "closed after an unknown frame");

    UniqueFd c2 = unix_socket(f.dir + "/s", false);
    ipc::FrameWriter w(ipc::MsgType::deliver);
    w.u64(7);
    cr_assert(ipc::send_frame_blocking(c2.get(), w.finish()).ok());
    cr_expect(!reply(f, c2.get()).ok(), "closed after a short deliver frame");

    // A well-formed request without its body descriptor.
    UniqueFd c3 = unix_socket(f.dir + "/s", false);
    ipc::DeliverMsg m{1, "Q1", "a@b", {{0, "daemon@localhost", "", 0}}, "", "", 0, 1, 3};
    std::string frame = ipc::encode(m);
    reinterpret_cast<ipc::FrameHeader*>(frame.data())->nfds = 0;
    cr_assert(ipc::send_frame_blocking(c3.get(), frame).ok());
    cr_expect(!reply(f, c3.get()).ok(), "closed after a deliver frame without a body");
}

// A body that is not sealed, or not of the announced size, defers every recipient.
Test(server, unsealed_or_short_body_deferred) {
    Fixture f;
    start(f);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    auto r1 = ask_many(f, c.get(), 1, {"daemon@localhost", "bin@localhost"}, false);
    for (const auto& r : r1.results) {
        cr_expect_eq(r.status, 4u);
        cr_expect_eq(r.dsn, "4.3.0", "%s", r.text.c_str());
    }
    auto r2 = ask_many(f, c.get(), 2, {"daemon@localhost"}, true, 10);
    cr_expect_eq(r2.results[0].status, 4u);
    cr_expect(r2.results[0].text.find("size") != std::string::npos, "%s",
              r2.results[0].text.c_str());
}

// The queue's body file: a read-only descriptor whose range [offset, offset + size) is the
// message and ends the file. A writable file, or a range that does not end the file, is
// refused like an unsealed memfd; the right range reaches the recipient checks.
Test(server, body_file_range_read_only_or_refused) {
    Fixture f;
    start(f);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    std::string path = f.dir + "/bodyfile";
    {
        UniqueFd w(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
        cr_assert(w.valid());
        std::string body = "Subject: x\r\n\r\nx\r\n";
        cr_assert(pwrite(w.get(), body.data(), body.size(), 9000) ==
                  static_cast<ssize_t>(body.size()));
    }
    struct Try {
        int flags;
        uint64_t offset, size;
        bool body_refused;
        const char* what;
    };
    const Try tries[] = {
        {O_RDWR, 9000, 17, true, "a writable file"},
        {O_RDONLY, 9000, 16, true, "a range short of the end"},
        {O_RDONLY, 9000, 18, true, "a range past the end"},
        {O_RDONLY, UINT64_MAX - 5, 17, true, "a range that overflows"},
        {O_RDONLY, 9000, 17, false, "the message range"},
    };
    uint64_t id = 40;
    for (const Try& t : tries) {
        UniqueFd fd(::open(path.c_str(), t.flags));
        cr_assert(fd.valid());
        ipc::DeliverMsg m;
        m.request_id = ++id;
        m.queue_id = "Q" + std::to_string(id);
        m.sender = "a@b";
        m.recipients.push_back(ipc::DeliverRcpt{0, "no-such-user-tegami@localhost", "", 0});
        m.body_offset = t.offset;
        m.body_size = t.size;
        cr_assert(ipc::send_frame_blocking(c.get(), ipc::encode(m), {fd.get()}).ok());
        auto r = reply(f, c.get());
        cr_assert(r.ok(), "%s: no reply", t.what);
        ipc::DeliverResultMsg res;
        cr_assert(ipc::decode(r->payload, res));
        cr_assert_eq(res.results.size(), 1u);
        const ipc::RcptResult& rr = res.results[0];
        if (t.body_refused) {
            cr_expect(rr.status == 4 && rr.dsn == "4.3.0", "%s: %u %s %s", t.what, rr.status,
                      rr.dsn.c_str(), rr.text.c_str());
        } else {
            cr_expect(rr.status == 5 && rr.dsn == "5.1.1", "%s: %u %s %s", t.what, rr.status,
                      rr.dsn.c_str(), rr.text.c_str());
        }
    }
}

// Every refusal at once: one request, one result per recipient, each under its own index.
Test(server, one_result_per_recipient) {
    Fixture f;
    start(f);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    std::vector<std::string> rcpts;
    for (const auto& k : kCases)
        rcpts.push_back(k.rcpt);
    auto res = ask_many(f, c.get(), 9, rcpts);
    for (size_t i = 0; i < rcpts.size(); ++i) {
        const ipc::RcptResult* r = nullptr;
        for (const auto& x : res.results)
            if (x.index == i * 2) r = &x;
        cr_assert(r != nullptr, "no result for %s", kCases[i].rcpt);
        cr_expect_eq(r->status, kCases[i].status, "%s", kCases[i].rcpt);
        cr_expect_eq(r->dsn, std::string(kCases[i].dsn), "%s: %s", kCases[i].rcpt, r->text.c_str());
    }
}

Test(server, refusals) {
    Fixture f;
    start(f);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    uint64_t id = 100;
    for (const auto& k : kCases) {
        ipc::RcptResult res = ask(f, c.get(), ++id, k.rcpt);
        cr_expect_eq(res.status, k.status, "%s", k.rcpt);
        cr_expect_eq(res.dsn, std::string(k.dsn), "%s: %s %s", k.rcpt, res.dsn.c_str(),
                     res.text.c_str());
    }
}

// A |program an alias names gets the alias's address as RECIPIENT (and Delivered-To),
// as Postfix's local(8) gives it, not the default_user the program runs as: a ticket
// system or list manager behind "tickets: |..." must see tickets@..., never nobody@.
// printenv exits 1 for the variable that is not set, so its first line of output (the
// RECIPIENT it was given) comes back in the result's text.
Test(server, alias_program_gets_the_alias_address_as_recipient) {
    Fixture f;
    char tmpl[] = "/tmp/tegami-server-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    f.dir = tmpl;
    std::ofstream(f.dir + "/aliases")
        << "tickets: \"|/usr/bin/printenv RECIPIENT TEGAMI_NO_SUCH_VARIABLE\"\n";
    Config cfg = default_config();
    cfg.aliases = f.dir + "/aliases";
    cfg.local_domains = {"localhost", "mx.example"};
    cfg.mail_spool_dir = f.dir;
    cfg.smrsh_dir = "";
    f.ctx.name = "local";
    f.ctx.base = f.base.get();
    f.ctx.config = std::make_shared<const Config>(cfg);
    f.ctx.listeners.push_back(Listener{"deliver", f.dir + "/s", unix_socket(f.dir + "/s", true)});
    f.server.init(f.ctx);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    ipc::RcptResult res = ask(f, c.get(), 1, "tickets@mx.example");
    cr_expect_eq(res.status, 5u, "%s", res.text.c_str());
    cr_expect(res.text.find("exited 1: tickets@mx.example") != std::string::npos, "%s",
              res.text.c_str());
}

// An alias (or .forward) that sends the recipient on to one other address hands that
// address back with the recipient's NOTIFY (RFC 3461 6.2.1(b)): the success is reported
// where the mail finally arrives, so the result says the DSN request was passed on
// (kResultDsnPassed), never "delivered here". An expansion to several is "expanded".
Test(server, single_forward_passes_the_dsn_request_on) {
    Fixture f;
    char tmpl[] = "/tmp/tegami-server-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    f.dir = tmpl;
    std::ofstream(f.dir + "/aliases") << "fwd: someone@elsewhere.example\n"
                                      << "two: someone@elsewhere.example, other@far.example\n";
    Config cfg = default_config();
    cfg.aliases = f.dir + "/aliases";
    cfg.local_domains = {"localhost", "mx.example"};
    cfg.mail_spool_dir = f.dir;
    f.ctx.name = "local";
    f.ctx.base = f.base.get();
    f.ctx.config = std::make_shared<const Config>(cfg);
    f.ctx.listeners.push_back(Listener{"deliver", f.dir + "/s", unix_socket(f.dir + "/s", true)});
    f.server.init(f.ctx);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    struct Want {
        const char* rcpt;
        uint32_t flags;
        size_t redirects;
    };
    const Want wants[] = {{"fwd@localhost", ipc::kResultDsnPassed, 1},
                          {"two@localhost", ipc::kResultExpanded, 2}};
    uint64_t id = 0;
    for (const auto& w : wants) {
        ipc::DeliverMsg m;
        m.request_id = ++id;
        m.queue_id = "Q" + std::to_string(id);
        m.sender = "a@b";
        m.recipients.push_back(ipc::DeliverRcpt{0, w.rcpt, "", 0});
        std::string body = "x\r\n";
        m.body_size = body.size();
        UniqueFd fd = body_fd(body);
        cr_assert(ipc::send_frame_blocking(c.get(), ipc::encode(m), {fd.get()}).ok());
        size_t redirects = 0;
        for (;;) {
            auto r = reply(f, c.get());
            cr_assert(r.ok(), "%s: no reply", w.rcpt);
            if (r->type == ipc::MsgType::deliver_redirect) {
                ipc::DeliverRedirectMsg rd;
                cr_assert(ipc::decode(r->payload, rd));
                redirects += rd.targets.size();
                continue;
            }
            cr_assert(r->type == ipc::MsgType::deliver_result);
            ipc::DeliverResultMsg res;
            cr_assert(ipc::decode(r->payload, res));
            cr_assert_eq(res.results.size(), 1u);
            cr_expect_eq(res.results[0].status, ipc::kStatusOk, "%s: %s", w.rcpt,
                         res.results[0].text.c_str());
            cr_expect_eq(res.results[0].flags, w.flags, "%s: flags %u", w.rcpt,
                         res.results[0].flags);
            break;
        }
        cr_expect_eq(redirects, w.redirects, "%s", w.rcpt);
    }
}

// The result of a recipient delivered only to a program or a file says so (the queue
// logs it and a success report quotes it), not "delivered to mailbox".
Test(server, program_or_file_result_names_what_it_was) {
    Fixture f;
    char tmpl[] = "/tmp/tegami-server-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    f.dir = tmpl;
    std::ofstream(f.dir + "/aliases") << "ok: \"|/bin/true\"\nnull: /dev/null\n";
    Config cfg = default_config();
    cfg.aliases = f.dir + "/aliases";
    cfg.local_domains = {"localhost"};
    cfg.mail_spool_dir = f.dir;
    cfg.smrsh_dir = "";
    f.ctx.name = "local";
    f.ctx.base = f.base.get();
    f.ctx.config = std::make_shared<const Config>(cfg);
    f.ctx.listeners.push_back(Listener{"deliver", f.dir + "/s", unix_socket(f.dir + "/s", true)});
    f.server.init(f.ctx);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    ipc::RcptResult res = ask(f, c.get(), 1, "ok@localhost");
    cr_expect_eq(res.status, ipc::kStatusOk, "%s", res.text.c_str());
    cr_expect_eq(res.text, "delivered to program");
    res = ask(f, c.get(), 2, "null@localhost");
    cr_expect_eq(res.status, ipc::kStatusOk, "%s", res.text.c_str());
    cr_expect_eq(res.text, "delivered to file");
}

// A list with an owner hands its members elsewhere and its unknown members back as a new
// message from the owner; for a report (the null sender) it does not, so that an owner
// whose alias leads back to the list cannot send reports round for ever: the unknown
// member fails the report (to the postmaster), the remote one joins it as before.
Test(server, owned_list_members_from_the_owner_but_not_for_a_report) {
    Fixture f;
    char tmpl[] = "/tmp/tegami-server-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    f.dir = tmpl;
    std::ofstream(f.dir + "/aliases")
        << "ol: no-such-user-tegami, far@elsewhere.example\nowner-ol: nobody\n";
    Config cfg = default_config();
    cfg.aliases = f.dir + "/aliases";
    cfg.local_domains = {"localhost", cfg.hostname};
    cfg.mail_spool_dir = f.dir;
    f.ctx.name = "local";
    f.ctx.base = f.base.get();
    f.ctx.config = std::make_shared<const Config>(cfg);
    f.ctx.listeners.push_back(Listener{"deliver", f.dir + "/s", unix_socket(f.dir + "/s", true)});
    f.server.init(f.ctx);
    UniqueFd c = unix_socket(f.dir + "/s", false);
    const std::string owner = "owner-ol@" + cfg.hostname;
    for (const char* sender : {"a@b", ""}) {
        ipc::DeliverMsg m;
        m.request_id = *sender ? 1 : 2;
        m.queue_id = "Q" + std::to_string(m.request_id);
        m.sender = sender;
        m.recipients.push_back(ipc::DeliverRcpt{0, "ol@localhost", "", 0});
        std::string body = "x\r\n";
        m.body_size = body.size();
        UniqueFd fd = body_fd(body);
        cr_assert(ipc::send_frame_blocking(c.get(), ipc::encode(m), {fd.get()}).ok());
        std::vector<ipc::RedirectTarget> got;
        ipc::RcptResult res;
        for (;;) {
            auto r = reply(f, c.get());
            cr_assert(r.ok(), "<%s>: no reply", sender);
            if (r->type == ipc::MsgType::deliver_redirect) {
                ipc::DeliverRedirectMsg rd;
                cr_assert(ipc::decode(r->payload, rd));
                got.insert(got.end(), rd.targets.begin(), rd.targets.end());
                continue;
            }
            ipc::DeliverResultMsg out;
            cr_assert(ipc::decode(r->payload, out));
            cr_assert_eq(out.results.size(), 1u);
            res = out.results[0];
            break;
        }
        if (*sender) {
            cr_expect_eq(res.status, ipc::kStatusOk, "%s", res.text.c_str());
            cr_expect_eq(res.flags, ipc::kResultExpanded);
            cr_assert_eq(got.size(), 2u);
            cr_expect_eq(got[0].address, "no-such-user-tegami@" + cfg.hostname);
            cr_expect_eq(got[1].address, "far@elsewhere.example");
            for (const auto& t : got)
                cr_expect_eq(t.sender, owner, "%s", t.address.c_str());
        } else {
            cr_expect_eq(res.status, ipc::kStatusPerm, "%s", res.text.c_str());
            cr_expect_eq(res.dsn, "5.1.1");
            cr_assert_eq(got.size(), 1u);
            cr_expect_eq(got[0].address, "far@elsewhere.example");
            cr_expect_eq(got[0].sender, "");
        }
    }
}
