// runner_expand_test.cpp - the runner (queue/runner.cpp) with a stand-in local agent on a
// real Unix socket and event loop (test::FakeAgent), both real stores: a recipient local reports
// expanded (kResultExpanded) to addresses it hands back (DeliverRedirectMsg) gets Action: expanded
// for NOTIFY=SUCCESS, and its new recipients lose SUCCESS (RFC 3461 6.2.1(c)): NOTIFY=SUCCESS
// alone becomes NEVER (no failure report when they fail), SUCCESS,FAILURE becomes FAILURE.
// Bad input first: a redirect for a recipient not in the request is a protocol error.
#include <criterion/criterion.h>
#include <event2/event.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
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

// Answers each DeliverMsg as local would for an alias of two: the two addresses handed
// back (to fail.test, which the mailertable refuses), then "sent" with kResultExpanded.
// bad_index: the redirect names a recipient not asked. Reports (the null sender) are
// deferred, so they stay in the store to be read.
struct FakeLocal {
    test::FakeAgent agent;
    bool bad_index = false;
    bool owned = false;  // the targets are members of a list with the owner owner-l@local.test
    size_t requests = 0;

    void answer(const ipc::DeliverMsg& m) {
        ipc::DeliverResultMsg res;
        res.request_id = m.request_id;
        res.relay = "local";
        if (m.sender.empty()) {  // a report: kept in the queue for the test to read
            for (const auto& r : m.recipients)
                res.results.push_back(
                    ipc::RcptResult{r.index, ipc::kStatusTemp, "4.0.0", "later", 0});
            agent.chan->send(ipc::encode(res));
            return;
        }
        ++requests;
        for (const auto& r : m.recipients) {
            uint32_t idx = bad_index ? r.index + 100 : r.index;
            const std::string owner = owned ? "owner-l@local.test" : "";
            agent.chan->send(ipc::encode(
                ipc::DeliverRedirectMsg{m.request_id,
                                        idx,
                                        {{"x@fail.test", ipc::kRedirectAddress, owner},
                                         {"y@fail.test", ipc::kRedirectAddress, owner}}}));
            res.results.push_back(ipc::RcptResult{r.index, ipc::kStatusOk, "2.0.0",
                                                  "expanded to 2 address(es) routed by the queue",
                                                  ipc::kResultExpanded});
        }
        agent.chan->send(ipc::encode(res));
    }
};

struct Fixture : test::RunnerFixture {
    std::string sock;
    FakeLocal local;

    explicit Fixture(bool bdb) : RunnerFixture(bdb) {
        sock = "/tmp/tegami-expand-test." + std::to_string(getpid()) + ".sock";
        local.agent.on_deliver = [this](const ipc::DeliverMsg& m) { local.answer(m); };
        local.agent.listen(base.get(), sock);
    }
    ~Fixture() { runner.reset(); }
    void put(const std::string& qid, const std::string& sender, uint32_t notify) {
        Envelope e;
        e.queue_id = qid;
        e.sender = sender;
        e.protocol = "ESMTP";
        e.arrival = static_cast<uint64_t>(std::time(nullptr));
        Recipient r;
        r.address = "list@local.test";
        r.notify = notify;
        e.recipients.push_back(r);
        std::string err;
        cr_assert_eq(store->put(e, "Subject: t\r\n\r\nbody\r\n", err), PutStatus::ok, "%s",
                     err.c_str());
    }
    void run_once() {
        RunnerSettings s;
        s.retry = RetryPolicy{3600, 3600, 5 * 86400};
        s.local_socket = sock;
        s.hostname = "mx.test";
        s.routing.local_domains = {"local.test"};
        s.routing.mailertable = [](const std::string& key,
                                   std::string&) -> std::optional<std::string> {
            if (key == "fail.test") return std::string("error:5.1.1:550 no such user here");
            return std::nullopt;
        };
        runner = std::make_unique<Runner>(base.get(), *store, *committer, s);
        cr_assert(runner->load().ok());
        timeval tv{0, 600 * 1000};
        event_base_loopexit(base.get(), &tv);
        event_base_dispatch(base.get());
    }
    // The reports stored for sender: their bodies.
    std::vector<std::string> reports_to(const std::string& sender) {
        std::vector<std::string> ids, out;
        cr_expect(store
                      ->scan(
                          [&](Envelope&& e) {
                              if (e.sender.empty() && e.recipients.size() == 1 &&
                                  e.recipients[0].address == sender)
                                  ids.push_back(e.queue_id);
                          },
                          [](const Error&) {})
                      .ok());
        for (const auto& id : ids)
            if (auto b = store->load_body(id)) out.push_back(*b);
        return out;
    }
};

bool has(const std::string& s, const char* what) {
    return s.find(what) != std::string::npos;
}

size_t count_with(const std::vector<std::string>& v, const char* what) {
    return static_cast<size_t>(
        std::count_if(v.begin(), v.end(), [&](const std::string& b) { return has(b, what); }));
}

void expanded(bool bdb) {
    Fixture f(bdb);
    f.put("00000000000000E1", "only@local.test", ipc::kNotifySuccess);
    f.put("00000000000000E2", "both@local.test", ipc::kNotifySuccess | ipc::kNotifyFailure);
    f.run_once();
    cr_expect_eq(f.local.requests, 2u, "%s", f.store->kind());
    // NOTIFY=SUCCESS: "expanded", and the new recipients' failures are not reported.
    auto only = f.reports_to("only@local.test");
    cr_expect_eq(only.size(), 1u, "%s: %zu reports", f.store->kind(), only.size());
    cr_expect_eq(count_with(only, "Action: expanded\r\n"), 1u, "%s", f.store->kind());
    cr_expect_eq(count_with(only, "Action: failed"), 0u, "%s: SUCCESS was passed on as default",
                 f.store->kind());
    // NOTIFY=SUCCESS,FAILURE: "expanded", then the new recipients' failure report only.
    auto both = f.reports_to("both@local.test");
    cr_expect_eq(count_with(both, "Action: expanded\r\n"), 1u, "%s", f.store->kind());
    cr_expect_eq(count_with(both, "Final-Recipient: rfc822; x@fail.test\r\nAction: failed\r\n"), 1u,
                 "%s", f.store->kind());
    cr_expect_eq(count_with(both, "Action: delivered"), 0u, "%s", f.store->kind());
    for (const auto& b : both)
        if (has(b, "Action: failed"))
            cr_expect(!has(b, "Action: expanded"), "%s: SUCCESS inherited", f.store->kind());
}

}  // namespace

Test(runner_expand, redirect_for_a_recipient_not_asked_is_refused) {
    Fixture f(false);
    f.local.bad_index = true;
    f.put("00000000000000E3", "only@local.test", ipc::kNotifySuccess);
    f.run_once();
    cr_expect_geq(f.local.requests, 1u);
    cr_expect(f.reports_to("only@local.test").empty(), "nothing reported from a bad redirect");
    size_t n = 0;
    cr_expect(f.store
                  ->scan([&](Envelope&& e) { n += e.queue_id == "00000000000000E3"; },
                         [](const Error&) {})
                  .ok());
    cr_expect_eq(n, 1u, "the message is kept, unchanged");
}

Test(runner_expand, expanded_reported_and_success_not_passed_on_memory) {
    expanded(false);
}

Test(runner_expand, expanded_reported_and_success_not_passed_on_bdb) {
    expanded(true);
}

// Members of a list with an owner go out in a new message from the owner: their failure
// report goes to owner-l@local.test, and the sender hears nothing of them.
Test(runner_expand, owned_list_members_bounce_to_the_owner) {
    for (bool bdb : {false, true}) {
        Fixture f(bdb);
        f.local.owned = true;
        f.put("00000000000000E4", "sender@local.test", ipc::kNotifyFailure);
        f.run_once();
        cr_expect_eq(f.local.requests, 1u, "%s", f.store->kind());
        auto to_sender = f.reports_to("sender@local.test");
        cr_expect(to_sender.empty(), "%s: %zu reports to the sender", f.store->kind(),
                  to_sender.size());
        auto to_owner = f.reports_to("owner-l@local.test");
        cr_expect_eq(to_owner.size(), 1u, "%s: %zu reports to the owner", f.store->kind(),
                     to_owner.size());
        cr_expect_eq(
            count_with(to_owner, "Final-Recipient: rfc822; x@fail.test\r\nAction: failed\r\n"), 1u,
            "%s", f.store->kind());
        cr_expect_eq(
            count_with(to_owner, "Final-Recipient: rfc822; y@fail.test\r\nAction: failed\r\n"), 1u,
            "%s", f.store->kind());
        cr_expect_eq(count_with(to_owner, "Subject: t"), 1u, "%s: the message is returned",
                     f.store->kind());
    }
}
