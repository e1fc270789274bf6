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
#include "tests/unit/queue/forwarding_store.hpp"
#include "tests/unit/queue/runner_fixture.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

const char* kBody = "Subject: t\r\n\r\nthe secret body\r\n";
const std::string kSmall = "Subject: small\r\n\r\nthe secret body\r\n";

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

// ---- what a report reads of the original body
namespace {

// Counts the body octets the runner reads. whole: every read of leading octets gets the
// whole body instead, which is what the runner read before it read only what it quotes.
class CountingStore final : public test::ForwardingStore {
  public:
    CountingStore(std::unique_ptr<QueueStore> inner, bool whole)
        : ForwardingStore(std::move(inner)), whole_(whole) {}
    Result<std::string> load_body(std::string_view q) override {
        auto b = inner_->load_body(q);
        if (b) octets += b->size();
        return b;
    }
    Result<std::string> load_body_prefix(std::string_view q, uint64_t max) override {
        auto b = whole_ ? inner_->load_body(q) : inner_->load_body_prefix(q, max);
        if (b) octets += b->size();
        return b;
    }
    uint64_t octets = 0;

  private:
    bool whole_;
};

// The report's bytes without the two fields that differ from run to run.
std::string without_date_and_id(const std::string& b) {
    std::string out;
    size_t pos = 0;
    while (pos < b.size()) {
        size_t nl = b.find('\n', pos);
        size_t end = nl == std::string::npos ? b.size() : nl + 1;
        std::string_view line(b.data() + pos, end - pos);
        if (!line.starts_with("Date: ") && !line.starts_with("Message-ID: ")) out += line;
        pos = end;
    }
    return out;
}

// The one report the runner stores for a failed 10 MB message, and the octets it read.
std::pair<std::string, uint64_t> bounce_of(bool bdb, bool whole, const std::string& body,
                                           uint32_t flags, uint64_t arrival) {
    CountingStore* counting = nullptr;
    Fixture f(bdb, [&](std::unique_ptr<QueueStore> inner) {
        auto c = std::make_unique<CountingStore>(std::move(inner), whole);
        counting = c.get();
        return std::unique_ptr<QueueStore>(std::move(c));
    });
    Envelope e;
    e.queue_id = "00000000000000B1";
    e.sender = "big@local.test";
    e.protocol = "ESMTP";
    e.flags = flags;
    e.arrival = arrival;
    Recipient r;
    r.address = "u@fail.test";
    e.recipients.push_back(r);
    std::string err;
    cr_assert_eq(f.store->put(e, body, err), PutStatus::ok, "%s", err.c_str());
    counting->octets = 0;
    f.run_once();
    uint64_t read = counting->octets;  // before stored() reads the report
    auto all = f.stored();
    cr_assert_eq(all.size(), 1u, "%s: the report alone", f.store->kind());
    cr_expect_eq(all[0].first.recipients[0].address, "big@local.test");
    return {without_date_and_id(all[0].second), read};
}

void big_bounces(bool bdb) {
    const auto arrival = static_cast<uint64_t>(std::time(nullptr));
    const std::string head = "Subject: big\r\nX-Long: " + std::string(6000, 'l') + "\r\n";
    std::string with_sep = head + "\r\n", without_sep = head;
    while (with_sep.size() < (10u << 20))
        with_sep += "the secret body " + std::string(60, 's') + "\r\n";
    for (int i = 0; without_sep.size() < (10u << 20); ++i)
        without_sep += "X-H" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
    struct Case {
        const char* label;
        const std::string* body;
        uint32_t flags;
        uint64_t most;  // octets the report may read
        bool same;      // byte for byte the report made from the whole body
    };
    const Case cases[] = {
        {"RET=HDRS", &with_sep, ipc::kFlagRetHdrs, 4096 + 16384, true},
        {"RET=FULL, over the limit", &with_sep, ipc::kFlagRetFull, 50000 + 16384, true},
        {"no RET, over the limit", &with_sep, 0, 50000 + 16384, true},
        {"no separator", &without_sep, ipc::kFlagRetHdrs, kMaxHeaderRead * 4 / 3 + 4096, false},
        {"small", &kSmall, ipc::kFlagRetFull, kSmall.size(), true},
        {"small RET=HDRS", &kSmall, ipc::kFlagRetHdrs, kSmall.size(), true},
    };
    for (const Case& c : cases) {
        auto [now, read] = bounce_of(bdb, false, *c.body, c.flags, arrival);
        auto [before, read_whole] = bounce_of(bdb, true, *c.body, c.flags, arrival);
        cr_expect_leq(read, c.most, "%s: read %llu octets", c.label, (unsigned long long)read);
        cr_expect_geq(read_whole, c.body->size(), "%s: the whole body, before", c.label);
        if (c.same) {
            cr_expect(now == before, "%s (%s): the report is what it was", c.label,
                      bdb ? "bdb" : "memory");
        } else {
            cr_expect_lt(now.size(), kMaxHeaderRead + 10000, "%s: the quote is capped", c.label);
            cr_expect_gt(before.size(), 10u << 20, "%s: it was not", c.label);
        }
        cr_expect(now.find("the secret body") == std::string::npos || c.body == &kSmall,
                  "%s: no body quoted", c.label);
    }
}

}  // namespace

// A failed 10 MB message: its report reads only the header section (RET=HDRS, RET=FULL
// or no RET over bounce_size_limit), found in 4 KiB and 16 KiB reads, and is the report the
// whole body made; a body with no empty line reads and quotes at most about
// kMaxHeaderRead; a small one is returned whole, as before.
Test(runner_dsn, large_message_report_reads_the_header_only_memory) {
    big_bounces(false);
}

Test(runner_dsn, large_message_report_reads_the_header_only_bdb) {
    big_bounces(true);
}
