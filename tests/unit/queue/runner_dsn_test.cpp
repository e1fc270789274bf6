// runner_dsn_test.cpp - the runner's reports (queue/runner.cpp with queue/bounce.cpp) on a
// real event loop and both real stores, for recipients an error: mailertable route fails
// at once: NOTIFY=NEVER and a NOTIFY list without FAILURE store no report, only remove the
// message; otherwise the report replaces the original in one store step, returning the
// headers for RET=HDRS and the whole message without RET; a null-sender message's failure
// goes to the postmaster. (Success reports need a delivery agent: tests/interop/dsn.sh.)
#include <criterion/criterion.h>
#include <event2/event.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/ipc/messages.hpp"
#include "queue/committer.hpp"
#include "queue/runner.hpp"
#include "queue/store.hpp"
#include "tests/unit/queue/runner_fixture.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

const char* kBody = "Subject: t\r\n\r\nthe secret body\r\n";

RunnerSettings settings() {
    RunnerSettings s;
    s.retry = RetryPolicy{3600, 3600, 5 * 86400};
    s.local_socket = "/nonexistent/tegami-test/local";  // down: reports wait, stored
    s.hostname = "mx.test";
    s.routing.local_domains = {"local.test"};
    s.routing.mailertable = [](const std::string& key, std::string&) -> std::optional<std::string> {
        if (key == "fail.test") return std::string("error:5.1.1:550 no such user here");
        return std::nullopt;
    };
    return s;
}

struct Fixture : test::RunnerFixture {
    using RunnerFixture::RunnerFixture;
    void put(const std::string& qid, const std::string& sender, uint32_t notify, uint32_t flags) {
        Envelope e;
        e.queue_id = qid;
        e.sender = sender;
        e.protocol = "ESMTP";
        e.flags = flags;
        e.arrival = static_cast<uint64_t>(std::time(nullptr));
        Recipient r;
        r.address = "u@fail.test";
        r.notify = notify;
        e.recipients.push_back(r);
        std::string err;
        cr_assert_eq(store->put(e, kBody, err), PutStatus::ok, "%s", err.c_str());
    }
    void run_once() {
        runner = std::make_unique<Runner>(base.get(), *store, *committer, settings());
        cr_assert(runner->load().ok());
        timeval tv{0, 300 * 1000};
        event_base_loopexit(base.get(), &tv);
        event_base_dispatch(base.get());
    }
    // Every stored message: (envelope, body).
    std::vector<std::pair<Envelope, std::string>> stored() {
        std::vector<std::pair<Envelope, std::string>> out;
        cr_expect(store
                      ->scan([&](Envelope&& e) { out.emplace_back(std::move(e), ""); },
                             [](const Error&) {})
                      .ok());
        for (auto& [e, b] : out)
            if (auto body = store->load_body(e.queue_id)) b = *body;
        return out;
    }
};

bool has(const std::string& s, const char* what) {
    return s.find(what) != std::string::npos;
}

void reports(bool bdb) {
    Fixture f(bdb);
    f.put("00000000000000N1", "never@local.test", ipc::kNotifyNever, 0);
    f.put("00000000000000N2", "succ@local.test", ipc::kNotifySuccess | ipc::kNotifyDelay, 0);
    f.put("00000000000000H1", "hdrs@local.test", ipc::kNotifyFailure, ipc::kFlagRetHdrs);
    f.put("00000000000000F1", "full@local.test", 0, 0);
    f.put("00000000000000Z1", "", ipc::kNotifyFailure, 0);
    f.run_once();
    auto all = f.stored();
    std::vector<std::string> to;
    for (const auto& [e, b] : all) {
        cr_expect_eq(e.sender, "", "%s: a report has the null sender", f.store->kind());
        cr_assert_eq(e.recipients.size(), 1u);
        to.push_back(e.recipients[0].address);
        const std::string& rcpt = e.recipients[0].address;
        if (rcpt == "hdrs@local.test") {
            cr_expect(has(b, "Content-Type: text/rfc822-headers\r\n"), "%s", b.c_str());
            cr_expect(!has(b, "the secret body"), "RET=HDRS returned the body");
        } else if (rcpt == "full@local.test") {
            cr_expect(has(b, "Content-Type: message/rfc822\r\n"), "%s", b.c_str());
            cr_expect(has(b, "the secret body"), "no RET: the whole message");
        } else if (rcpt == "postmaster@mx.test") {
            cr_expect(has(b, "double bounce"));
        }
        cr_expect(has(b, "Action: failed\r\nStatus: 5.1.1\r\n"), "%s", b.c_str());
    }
    std::sort(to.begin(), to.end());
    cr_expect_eq(
        to, (std::vector<std::string>{"full@local.test", "hdrs@local.test", "postmaster@mx.test"}),
        "%s: originals removed; no report for NEVER or a NOTIFY without FAILURE", f.store->kind());
}

}  // namespace

Test(runner_dsn, reports_follow_notify_and_ret_memory) {
    reports(false);
}

Test(runner_dsn, reports_follow_notify_and_ret_bdb) {
    reports(true);
}
