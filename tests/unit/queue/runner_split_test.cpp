// runner_split_test.cpp - the per-transport recipient limit (queue/runner.cpp route_group)
// with a stand-in remote agent (test::FakeAgent) on a real Unix socket and event loop, both real
// stores: a message's recipients for one lmtp next hop (lmtp_recipient_limit) or one smtp next hop
// (smtp_recipient_limit) go out as requests of at most the limit, in envelope order, each
// recipient in exactly one request; 0 is no limit, 1 is one request per recipient, exactly
// the limit is one request; the two transports' limits are independent; each part is its
// own transaction: a part the agent defers stays deferred while the other parts are sent.
#include <criterion/criterion.h>
#include <event2/event.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/runner.hpp"
#include "tests/unit/queue/runner_fixture.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

constexpr const char* kQid = "00000000000000S1";

// One DeliverMsg as the stand-in saw it.
struct Request {
    std::string next_hop;
    std::vector<uint32_t> indices;
};

// Answers each DeliverMsg at once: every recipient sent, except that a request carrying
// recipient defer_index is deferred whole (4.2.0), as one transaction's failure would be.
struct FakeRemote {
    test::FakeAgent agent;
    std::vector<Request> requests;
    int64_t defer_index = -1;

    void answer(const ipc::DeliverMsg& m) {
        Request req{m.next_hop, {}};
        bool defer = false;
        for (const auto& r : m.recipients) {
            req.indices.push_back(r.index);
            defer = defer || static_cast<int64_t>(r.index) == defer_index;
        }
        ipc::DeliverResultMsg res;
        res.request_id = m.request_id;
        res.relay = m.next_hop;
        for (const auto& r : m.recipients)
            res.results.push_back(
                defer ? ipc::RcptResult{r.index, ipc::kStatusTemp, "4.2.0", "busy", 0}
                      : ipc::RcptResult{r.index, ipc::kStatusOk, "2.0.0", "ok", 0});
        requests.push_back(std::move(req));
        agent.chan->send(ipc::encode(res));
    }
};

struct Fixture : test::RunnerFixture {
    std::string sock;
    FakeRemote remote;

    explicit Fixture(bool bdb) : RunnerFixture(bdb) {
        sock = "/tmp/tegami-split-test." + std::to_string(getpid()) + ".sock";
        remote.agent.on_deliver = [this](const ipc::DeliverMsg& m) { remote.answer(m); };
        remote.agent.listen(base.get(), sock);
    }
    ~Fixture() { runner.reset(); }
    // One message: n_lmtp recipients at lmtp.test (routed to an LMTP server), then n_smtp at
    // smtp.test (an SMTP next hop).
    void put(size_t n_lmtp, size_t n_smtp) {
        Envelope e;
        e.queue_id = kQid;
        e.sender = "";  // no report to route
        e.protocol = "ESMTP";
        e.arrival = static_cast<uint64_t>(std::time(nullptr));
        for (size_t i = 0; i < n_lmtp + n_smtp; ++i) {
            Recipient r;
            r.address = "u" + std::to_string(i) + (i < n_lmtp ? "@lmtp.test" : "@smtp.test");
            e.recipients.push_back(r);
        }
        std::string err;
        cr_assert_eq(store->put(e, "Subject: t\r\n\r\nbody\r\n", err), PutStatus::ok, "%s",
                     err.c_str());
    }
    void run_once(size_t lmtp_limit, size_t smtp_limit) {
        RunnerSettings s;
        s.retry = RetryPolicy{3600, 3600, 5 * 86400};
        s.local_socket = "/nonexistent/tegami-test/local";
        s.remote_socket = sock;
        s.hostname = "mx.test";
        s.routing.local_domains = {"local.test"};
        s.routing.mailertable = [](const std::string& key,
                                   std::string&) -> std::optional<std::string> {
            if (key == "lmtp.test") return std::string("lmtp:inet:127.0.0.1:24");
            if (key == "smtp.test") return std::string("smtp:[mx.smtp.test]");
            return std::nullopt;
        };
        s.lmtp_recipient_limit = lmtp_limit;
        s.smtp_recipient_limit = smtp_limit;
        runner = std::make_unique<Runner>(base.get(), *store, *committer, s);
        cr_assert(runner->load().ok());
        timeval tv{0, 400 * 1000};
        event_base_loopexit(base.get(), &tv);
        event_base_dispatch(base.get());
    }
    // The sizes of the requests to next hops starting with prefix, in order.
    std::vector<size_t> sizes(const std::string& prefix) const {
        std::vector<size_t> out;
        for (const auto& r : remote.requests)
            if (r.next_hop.rfind(prefix, 0) == 0) out.push_back(r.indices.size());
        return out;
    }
    // Every recipient 0..n-1 handed over exactly once, in envelope order, each to the next
    // hop its domain routes to.
    void expect_each_once(size_t n_lmtp, size_t n_smtp) const {
        std::map<uint32_t, size_t> seen;
        std::vector<uint32_t> order;
        for (const auto& r : remote.requests)
            for (uint32_t i : r.indices) {
                ++seen[i];
                order.push_back(i);
                bool lmtp = r.next_hop.rfind("lmtp:", 0) == 0;
                cr_expect_eq(lmtp, i < n_lmtp, "%s: recipient %u went to %s", store->kind(), i,
                             r.next_hop.c_str());
            }
        cr_expect_eq(seen.size(), n_lmtp + n_smtp, "%s: %zu of %zu recipients handed over",
                     store->kind(), seen.size(), n_lmtp + n_smtp);
        for (const auto& [i, n] : seen)
            cr_expect_eq(n, 1u, "%s: recipient %u handed over %zu times", store->kind(), i, n);
        std::vector<uint32_t> lmtp_order, smtp_order;
        for (uint32_t i : order)
            (i < n_lmtp ? lmtp_order : smtp_order).push_back(i);
        cr_expect(std::is_sorted(lmtp_order.begin(), lmtp_order.end()), "%s: lmtp order",
                  store->kind());
        cr_expect(std::is_sorted(smtp_order.begin(), smtp_order.end()), "%s: smtp order",
                  store->kind());
    }
    bool stored() {
        size_t n = 0;
        cr_expect(
            store->scan([&](Envelope&& e) { n += e.queue_id == kQid; }, [](const Error&) {}).ok());
        return n > 0;
    }
};

struct SplitCase {
    size_t n_lmtp, n_smtp, lmtp_limit, smtp_limit;
    std::vector<size_t> lmtp_sizes, smtp_sizes;
};

void split(bool bdb, const SplitCase& c) {
    Fixture f(bdb);
    f.put(c.n_lmtp, c.n_smtp);
    f.run_once(c.lmtp_limit, c.smtp_limit);
    auto l = f.sizes("lmtp:");
    auto s = f.sizes("[mx.smtp.test]");
    cr_expect(l == c.lmtp_sizes, "%s: %zu lmtp recipients, limit %zu: %zu requests",
              f.store->kind(), c.n_lmtp, c.lmtp_limit, l.size());
    cr_expect(s == c.smtp_sizes, "%s: %zu smtp recipients, limit %zu: %zu requests",
              f.store->kind(), c.n_smtp, c.smtp_limit, s.size());
    f.expect_each_once(c.n_lmtp, c.n_smtp);
    cr_expect(!f.stored(), "%s: every part sent, the message is removed", f.store->kind());
}

const SplitCase kCases[] = {
    {7, 0, 0, 50, {7}, {}},        // 0: no limit, one transaction
    {3, 0, 1, 50, {1, 1, 1}, {}},  // 1: one transaction per recipient
    {3, 0, 3, 50, {3}, {}},        // exactly the limit: not split
    {4, 0, 3, 50, {3, 1}, {}},     // one past it
    {7, 0, 3, 50, {3, 3, 1}, {}},  // several parts and a remainder
    {1, 0, 1, 50, {1}, {}},        // one recipient, limit 1
    {4, 5, 2, 0, {2, 2}, {5}},     // lmtp split, smtp unlimited: independent
    {3, 5, 0, 2, {3}, {2, 2, 1}},  // smtp split, lmtp unlimited
    {5, 5, 5, 4, {5}, {4, 1}},     // the two limits differ
};

void all_cases(bool bdb) {
    for (const auto& c : kCases)
        split(bdb, c);
}

// Each part is its own transaction: deferring the part that carries recipient 3 (the
// second of three parts of 3) leaves those three deferred and the other four sent.
void part_deferred(bool bdb) {
    Fixture f(bdb);
    f.remote.defer_index = 3;
    f.put(7, 0);
    f.run_once(3, 50);
    cr_expect(f.sizes("lmtp:") == (std::vector<size_t>{3, 3, 1}), "%s", f.store->kind());
    auto e = f.store->load_envelope(kQid);
    cr_assert(e.ok(), "%s: the message is kept for its deferred part", f.store->kind());
    for (size_t i = 0; i < e->recipients.size(); ++i) {
        RcptState want = i >= 3 && i < 6 ? RcptState::deferred : RcptState::sent;
        cr_expect(e->recipients[i].state == want, "%s: recipient %zu is %s", f.store->kind(), i,
                  rcpt_state_name(e->recipients[i].state));
    }
    cr_expect_eq(e->recipients[3].dsn, "4.2.0", "%s: the deferred part's own reply",
                 f.store->kind());
}

}  // namespace

Test(runner_split, lmtp_and_smtp_limits_each_recipient_once_memory) {
    all_cases(false);
}

Test(runner_split, lmtp_and_smtp_limits_each_recipient_once_bdb) {
    all_cases(true);
}

Test(runner_split, a_deferred_part_leaves_the_others_sent_memory) {
    part_deferred(false);
}

Test(runner_split, a_deferred_part_leaves_the_others_sent_bdb) {
    part_deferred(true);
}
