// store_test.cpp - both queue stores (queue/store_memory.cpp, queue/store_bdb.cpp)
// against one table of steps, bad steps first; then BDB persistence across a clean
// close and across a crash (a child that exits without closing), in mkdtemp() dirs.
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "queue/store.hpp"

using namespace tegami::queue;

namespace {

const char* kA = "0000000000000AAA";
const char* kB = "0000000000000BBB";
const char* kC = "0000000000000CCC";
const char* kD = "0000000000000DDD";

Envelope make_env(const char* qid) {
    Envelope e;
    e.queue_id = qid;
    e.sender = std::string("from-") + qid + "@example.org";
    e.arrival = 1700000000;
    e.protocol = "ESMTP";
    for (int i = 0; i < 2; ++i) {
        Recipient r;
        r.address = "r" + std::to_string(i) + "@x.test";
        e.recipients.push_back(r);
    }
    return e;
}
std::string body_of(const char* qid) {
    return std::string("Subject: ") + qid + "\r\n\r\nhi\r\n";
}

enum class Op {
    put,
    load,
    load_missing,
    update_sent,
    update_missing,
    remove,
    remove_missing,
    flush,
    scan_count,
    retire,
    retire_missing,
    report,  // update_and_put: qid's first recipient sent, and kD (a success report) stored
};
struct Step {
    Op op;
    const char* qid;
    int expect;  // put: PutStatus; scan_count: count; others: 1 = ok
};

const Step kSteps[] = {
    {Op::load_missing, kA, 0},
    {Op::update_missing, kA, 0},
    {Op::remove_missing, kA, 0},
    {Op::scan_count, "", 0},
    {Op::put, kA, static_cast<int>(PutStatus::ok)},
    {Op::put, kA, static_cast<int>(PutStatus::duplicate)},
    {Op::load, kA, 1},
    {Op::put, kB, static_cast<int>(PutStatus::ok)},
    {Op::flush, "", 1},
    {Op::scan_count, "", 2},
    {Op::update_sent, kA, 1},
    {Op::remove, kB, 1},
    {Op::remove_missing, kB, 0},
    {Op::load_missing, kB, 0},
    {Op::scan_count, "", 1},
    {Op::put, kC, static_cast<int>(PutStatus::ok)},
    {Op::flush, "", 1},
    {Op::scan_count, "", 2},
    {Op::retire_missing, kB, static_cast<int>(PutStatus::failed)},
    {Op::retire, kA, static_cast<int>(PutStatus::duplicate)},  // kC exists: nothing changes
    {Op::load, kA, 1},
    {Op::retire, kC, static_cast<int>(PutStatus::ok)},  // kC goes, kB comes back
    {Op::load_missing, kC, 0},
    {Op::load, kB, 1},
    {Op::scan_count, "", 2},
    {Op::report, kC, static_cast<int>(PutStatus::failed)},  // kC is gone: no report either
    {Op::load_missing, kD, 0},
    {Op::report, kA, static_cast<int>(PutStatus::ok)},
    {Op::load, kD, 1},
    {Op::report, kB, static_cast<int>(PutStatus::duplicate)},  // kD exists: kB unchanged
    {Op::scan_count, "", 3},
};

void run_step(QueueStore& s, const Step& st, size_t i) {
    std::string err;
    switch (st.op) {
        case Op::put:
            cr_expect_eq(static_cast<int>(s.put(make_env(st.qid), body_of(st.qid), err)), st.expect,
                         "%s step %zu: %s", s.kind(), i, err.c_str());
            break;
        case Op::load: {
            auto e = s.load_envelope(st.qid);
            cr_assert(e.ok(), "%s step %zu", s.kind(), i);
            cr_expect_eq(e->sender, make_env(st.qid).sender);
            cr_expect_eq(e->recipients.size(), 2u);
            auto b = s.load_body(st.qid);
            cr_assert(b.ok(), "%s step %zu", s.kind(), i);
            cr_expect_eq(*b, body_of(st.qid));
            break;
        }
        case Op::load_missing:
            cr_expect(!s.load_envelope(st.qid).ok(), "%s step %zu", s.kind(), i);
            cr_expect(!s.load_body(st.qid).ok(), "%s step %zu", s.kind(), i);
            break;
        case Op::update_sent: {
            Envelope e = make_env(st.qid);
            e.recipients[0].state = RcptState::sent;
            e.recipients[0].dsn = "2.0.0";
            cr_expect(s.update(e).ok(), "%s step %zu", s.kind(), i);
            auto back = s.load_envelope(st.qid);
            cr_assert(back.ok());
            cr_expect_eq(back->recipients[0].state, RcptState::sent);
            cr_expect_eq(back->recipients[1].state, RcptState::pending);
            break;
        }
        case Op::update_missing:
            cr_expect(!s.update(make_env(st.qid)).ok(), "%s step %zu", s.kind(), i);
            break;
        case Op::remove:
            cr_expect(s.remove(st.qid).ok(), "%s step %zu", s.kind(), i);
            break;
        case Op::remove_missing:
            cr_expect(!s.remove(st.qid).ok(), "%s step %zu", s.kind(), i);
            break;
        case Op::flush:
            cr_expect(s.flush().ok(), "%s step %zu", s.kind(), i);
            break;
        case Op::retire:  // removes qid and stores kB (or kC when qid is kA)
        case Op::retire_missing: {
            const char* add = std::string(st.qid) == kA ? kC : kB;
            cr_expect_eq(
                static_cast<int>(s.remove_and_put(st.qid, make_env(add), body_of(add), err)),
                st.expect, "%s step %zu: %s", s.kind(), i, err.c_str());
            break;
        }
        case Op::report: {
            Envelope e = make_env(st.qid);
            e.recipients[0].state = RcptState::sent;
            int got = static_cast<int>(s.update_and_put(e, make_env(kD), body_of(kD), err));
            cr_expect_eq(got, st.expect, "%s step %zu: %s", s.kind(), i, err.c_str());
            auto back = s.load_envelope(st.qid);
            if (back.ok())
                cr_expect_eq(back->recipients[0].state == RcptState::sent,
                             st.expect == static_cast<int>(PutStatus::ok), "%s step %zu", s.kind(),
                             i);
            break;
        }
        case Op::scan_count: {
            int n = 0, bad = 0;
            auto r = s.scan([&](Envelope&&) { ++n; }, [&](const tegami::Error&) { ++bad; });
            cr_expect(r.ok());
            cr_expect_eq(n, st.expect, "%s step %zu: %d", s.kind(), i, n);
            cr_expect_eq(bad, 0);
            break;
        }
    }
}

void run_table(QueueStore& s) {
    for (size_t i = 0; i < std::size(kSteps); ++i)
        run_step(s, kSteps[i], i);
}

std::string temp_dir() {
    char tmpl[] = "/tmp/tegami-queue-test.XXXXXX";
    char* d = mkdtemp(tmpl);
    cr_assert(d != nullptr);
    return d;
}

std::unique_ptr<QueueStore> open_or_fail(const std::string& dir) {
    auto s = open_bdb_store(dir, 1024 * 1024);
    cr_assert(s.ok(), "open: %s", s.ok() ? "" : s.error().message.c_str());
    return std::move(s.value());
}

}  // namespace

Test(store, memory_table) {
    auto s = make_memory_store();
    run_table(*s);
    cr_expect(s->close().ok());
    std::string err;
    cr_expect_eq(s->put(make_env(kA), "x", err), PutStatus::failed);
}

Test(store, bdb_table) {
    std::string dir = temp_dir();
    {
        auto s = open_or_fail(dir);
        run_table(*s);
        cr_expect(s->checkpoint().ok());
        cr_expect(s->close().ok());
        std::string err;
        cr_expect_eq(s->put(make_env(kA), "x", err), PutStatus::failed);
        cr_expect(!s->flush().ok());
    }
    std::filesystem::remove_all(dir);
}

Test(store, bdb_refuses_a_file_as_dir) {
    cr_expect(!open_bdb_store("/etc/passwd", 1024 * 1024).ok());
    cr_expect(!open_bdb_store("/nonexistent-dir/queue", 1024 * 1024).ok());
}

Test(store, bdb_persists_across_close) {
    std::string dir = temp_dir() + "/q";  // created by the store
    {
        auto s = open_or_fail(dir);
        run_table(*s);
        cr_expect(s->close().ok());
    }
    auto s = open_or_fail(dir);
    int n = 0;
    (void)s->scan(
        [&](Envelope&& e) {
            ++n;
            if (e.queue_id == kA) cr_expect_eq(e.recipients[0].state, RcptState::sent);
        },
        [](const tegami::Error&) { cr_expect(false); });
    cr_expect_eq(n, 3);  // kA, kB and the report kD
    cr_expect(s->load_body(kD).ok());
    auto b = s->load_body(kB);
    cr_assert(b.ok());
    cr_expect_eq(*b, body_of(kB));
    cr_expect(!s->load_body(kC).ok());
    std::string err;
    cr_expect_eq(s->put(make_env(kB), "again", err), PutStatus::duplicate);
    s.reset();
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

Test(store, bdb_recovers_after_crash) {
    std::string dir = temp_dir();
    std::string big(300 * 1024, 'x');  // overflow pages
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        auto s = open_bdb_store(dir, 1024 * 1024);
        if (!s.ok()) _exit(2);
        std::string err;
        if ((*s)->put(make_env(kA), big, err) != PutStatus::ok) _exit(3);
        if ((*s)->put(make_env(kB), body_of(kB), err) != PutStatus::ok) _exit(3);
        if (!(*s)->remove(kB).ok()) _exit(4);
        if (!(*s)->flush().ok()) _exit(5);
        _exit(0);  // no close, no checkpoint: recovery must replay the log
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    auto s = open_or_fail(dir);
    auto b = s->load_body(kA);
    cr_assert(b.ok());
    cr_expect(*b == big);
    cr_expect(!s->load_envelope(kB).ok());
    s.reset();
    std::filesystem::remove_all(dir);
}

// ---- the due index (both stores): what scan_due, scan_after and body_size see after each
// kind of write, bad inputs (unknown IDs, a closed store) first.

namespace {

using DueList = std::vector<std::pair<std::string, uint64_t>>;

DueList due_until(QueueStore& s, uint64_t until, uint64_t& next) {
    DueList out;
    auto r = s.scan_due(
        until,
        [&](std::string_view q, uint64_t d) {
            out.emplace_back(std::string(q), d);
            return true;
        },
        next);
    cr_expect(r.ok(), "%s scan_due: %s", s.kind(), r.ok() ? "" : r.error().message.c_str());
    return out;
}

Envelope deferred_env(const char* qid, uint64_t t0, uint64_t t1) {
    Envelope e = make_env(qid);
    e.recipients[0].state = RcptState::deferred;
    e.recipients[0].next_try = t0;
    e.recipients[1].state = RcptState::deferred;
    e.recipients[1].next_try = t1;
    return e;
}

void run_due_index(QueueStore& s) {
    uint64_t next = 0;
    cr_expect(due_until(s, UINT64_MAX - 1, next).empty(), "%s: empty store", s.kind());
    cr_expect_eq(next, UINT64_MAX);
    cr_expect(!s.body_size(kA).ok(), "%s: no body", s.kind());
    std::string err;
    // A: pending (due 0); B: deferred, earliest recipient at 5000; C: held.
    cr_assert_eq(s.put(make_env(kA), body_of(kA), err), PutStatus::ok);
    cr_assert_eq(s.put(deferred_env(kB, 9000, 5000), body_of(kB), err), PutStatus::ok);
    Envelope held = deferred_env(kC, 1, 1);
    held.flags |= kEnvelopeHeld;
    cr_assert_eq(s.put(held, body_of(kC), err), PutStatus::ok);
    DueList d = due_until(s, 100, next);
    cr_assert_eq(d.size(), 1u, "%s: %zu due at 100", s.kind(), d.size());
    cr_expect_eq(d[0].first, kA);
    cr_expect_eq(d[0].second, 0u);
    cr_expect_eq(next, 5000u, "%s: next %llu", s.kind(), static_cast<unsigned long long>(next));
    d = due_until(s, 10000, next);
    cr_assert_eq(d.size(), 2u);
    cr_expect_eq(d[1].first, kB);
    cr_expect_eq(d[1].second, 5000u);
    cr_expect_eq(next, UINT64_MAX, "%s: the held message is not indexed", s.kind());
    // A deferred to 7000: now after B. Stopping the walk leaves next unknown.
    cr_expect(s.update(deferred_env(kA, 7000, 8000)).ok());
    d = due_until(s, 10000, next);
    cr_assert_eq(d.size(), 2u);
    cr_expect_eq(d[0].first, kB);
    cr_expect_eq(d[1].first, kA);
    cr_expect_eq(d[1].second, 7000u);
    size_t seen = 0;
    cr_expect(s.scan_due(
                   10000, [&](std::string_view, uint64_t) { return ++seen < 1; }, next)
                  .ok());
    cr_expect_eq(seen, 1u);
    cr_expect_eq(next, UINT64_MAX);
    // Released (the flag cleared): indexed at its recipients' time.
    held.flags &= ~kEnvelopeHeld;
    cr_expect(s.update(held).ok());
    d = due_until(s, 6000, next);
    cr_assert_eq(d.size(), 2u, "%s: %zu", s.kind(), d.size());
    cr_expect_eq(d[0].first, kC);
    cr_expect_eq(next, 7000u);
    // Every recipient final (a crash before removal): due now, so it is finished.
    Envelope done = make_env(kB);
    done.recipients[0].state = RcptState::sent;
    done.recipients[1].state = RcptState::failed;
    cr_expect(s.update(done).ok());
    d = due_until(s, 0, next);
    cr_assert_eq(d.size(), 1u);
    cr_expect_eq(d[0].first, kB);
    // Removal and remove_and_put take the entries along.
    cr_expect(s.remove(kB).ok());
    cr_expect(!s.remove(kB).ok());
    cr_expect(!s.update(make_env(kB)).ok(), "%s: update of a removed message", s.kind());
    cr_expect_eq(s.remove_and_put(kC, make_env(kB), body_of(kB), err), PutStatus::ok);
    d = due_until(s, 10000, next);
    cr_assert_eq(d.size(), 2u);
    cr_expect_eq(d[0].first, kB);
    cr_expect_eq(d[0].second, 0u);
    cr_expect_eq(d[1].first, kA);
    // scan_after: queue-ID order, strictly after the key, stoppable.
    std::vector<std::string> ids;
    auto collect = [&](Envelope&& e) {
        ids.push_back(e.queue_id);
        return true;
    };
    auto nobad = [](const tegami::Error&) { cr_expect(false); };
    cr_expect(s.scan_after("", collect, nobad).ok());
    cr_expect_eq(ids, (std::vector<std::string>{kA, kB}));
    ids.clear();
    cr_expect(s.scan_after(kA, collect, nobad).ok());
    cr_expect_eq(ids, (std::vector<std::string>{kB}));
    ids.clear();
    cr_expect(s.scan_after("0000000000000AAB", collect, nobad).ok());  // not a stored key
    cr_expect_eq(ids, (std::vector<std::string>{kB}));
    ids.clear();
    cr_expect(s.scan_after(kB, collect, nobad).ok());
    cr_expect(ids.empty());
    cr_expect(s.scan_after(
                   "",
                   [&](Envelope&& e) {
                       ids.push_back(e.queue_id);
                       return false;
                   },
                   nobad)
                  .ok());
    cr_expect_eq(ids.size(), 1u);
    auto sz = s.body_size(kB);
    cr_assert(sz.ok());
    cr_expect_eq(*sz, body_of(kB).size());
    cr_expect(s.close().ok());
    cr_expect(!s.scan_due(
                    0, [](std::string_view, uint64_t) { return true; }, next)
                   .ok());
    cr_expect(!s.scan_after("", collect, nobad).ok());
    cr_expect(!s.body_size(kB).ok());
}

}  // namespace

Test(store, memory_due_index) {
    auto s = make_memory_store();
    run_due_index(*s);
}

Test(store, bdb_due_index) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    run_due_index(*s);
    s.reset();
    std::filesystem::remove_all(dir);
}

// The index is in the envelope's transaction: after a crash (no close) it agrees with the
// envelopes that recovery kept.
Test(store, bdb_due_index_survives_a_crash) {
    std::string dir = temp_dir();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        auto s = open_bdb_store(dir, 1024 * 1024);
        if (!s.ok()) _exit(2);
        std::string err;
        if ((*s)->put(make_env(kA), body_of(kA), err) != PutStatus::ok) _exit(3);
        if ((*s)->put(make_env(kB), body_of(kB), err) != PutStatus::ok) _exit(3);
        if (!(*s)->update(deferred_env(kA, 4000, 3000)).ok()) _exit(4);
        if (!(*s)->remove(kB).ok()) _exit(4);
        if (!(*s)->flush().ok()) _exit(5);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    auto s = open_or_fail(dir);
    uint64_t next = 0;
    DueList d = due_until(*s, 10000, next);
    cr_assert_eq(d.size(), 1u);
    cr_expect_eq(d[0].first, kA);
    cr_expect_eq(d[0].second, 3000u);
    s.reset();
    std::filesystem::remove_all(dir);
}

// ---- streamed bodies (put_chunk, put_streamed, remove_chunks, remove_orphan_bodies)
namespace {

// Bad steps first: a repeated chunk, a streamed put of an ID already queued; then a
// message of several chunks loaded whole, removed whole, and chunks given up.
void run_stream_steps(QueueStore& s) {
    std::string err;
    cr_expect_eq(s.put(make_env(kA), body_of(kA), err), PutStatus::ok);
    cr_expect_eq(s.put_chunk(kB, 1, "one,", err), PutStatus::ok);
    cr_expect_eq(s.put_chunk(kB, 1, "again", err), PutStatus::duplicate, "chunk 1 twice");
    cr_expect(!s.load_envelope(kB).ok(), "chunks alone are no message");
    cr_expect_eq(s.put_chunk(kA, 1, "x", err), PutStatus::ok);
    cr_expect_eq(s.put_streamed(make_env(kA), "head", 1, err), PutStatus::duplicate);
    cr_expect(s.remove_chunks(kA, 1).ok());
    auto a = s.load_body(kA);
    cr_assert(a.ok());
    cr_expect_eq(*a, body_of(kA), "a refused streamed put leaves the queued message alone");

    std::string big(200 * 1024, 'b');  // overflow pages in Berkeley DB
    cr_expect_eq(s.put_chunk(kB, 2, big, err), PutStatus::ok);
    cr_expect_eq(s.put_chunk(kB, 3, "three\r\n", err), PutStatus::ok);
    cr_expect_eq(s.put_streamed(make_env(kB), "Received: x\r\n", 3, err), PutStatus::ok);
    auto b = s.load_body(kB);
    cr_assert(b.ok(), "%s", b.ok() ? "" : b.error().message.c_str());
    cr_expect(*b == "Received: x\r\none," + big + "three\r\n");
    cr_expect(s.load_envelope(kB).ok());
    cr_expect(s.remove(kB).ok());
    cr_expect(!s.load_body(kB).ok(), "remove takes every chunk");
    cr_expect(s.flush().ok(), "the body file goes once the removal is durable");
    s.reclaim();
    cr_expect_eq(s.put_chunk(kB, 1, "reused", err), PutStatus::ok, "no chunk was left behind");
    cr_expect(s.remove_chunks(kB, 1).ok());

    // Given up: chunks of kC without an envelope.
    cr_expect_eq(s.put_chunk(kC, 1, "c1", err), PutStatus::ok);
    cr_expect(s.remove_chunks(kC, 1).ok());
    cr_expect_eq(s.put_chunk(kC, 1, "c1", err), PutStatus::ok, "the chunk is gone");
    cr_expect(s.flush().ok());
}

}  // namespace

Test(store, memory_streamed_bodies) {
    auto s = make_memory_store();
    run_stream_steps(*s);
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok());
    cr_expect_eq(n.value(), 1u);
}

Test(store, bdb_streamed_bodies) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    run_stream_steps(*s);
    s.reset();
    std::filesystem::remove_all(dir);
}

// A queue killed mid-body leaves chunks without an envelope: the next start removes
// them, and keeps every complete message (whole or streamed).
Test(store, bdb_removes_orphan_chunks_after_a_crash) {
    std::string dir = temp_dir();
    std::string big(100 * 1024, 'o');
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        auto s = open_bdb_store(dir, 1024 * 1024);
        if (!s.ok()) _exit(2);
        std::string err;
        auto& st = **s;
        if (st.put(make_env(kA), body_of(kA), err) != PutStatus::ok) _exit(3);
        if (st.put_chunk(kB, 1, big, err) != PutStatus::ok) _exit(3);
        if (st.put_streamed(make_env(kB), "H\r\n", 1, err) != PutStatus::ok) _exit(3);
        if (st.put_chunk(kC, 1, big, err) != PutStatus::ok) _exit(3);
        if (st.put_chunk(kC, 2, big, err) != PutStatus::ok) _exit(3);
        if (!st.flush().ok()) _exit(5);
        _exit(0);  // killed mid-body of kC
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    auto s = open_or_fail(dir);
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok(), "%s", n.ok() ? "" : n.error().message.c_str());
    cr_expect_eq(n.value(), 1u, "kC only");
    auto b = s->load_body(kB);
    cr_assert(b.ok());
    cr_expect(*b == "H\r\n" + big);
    cr_expect(s->load_body(kA).ok());
    cr_expect(!s->load_body(kC).ok());
    std::string err;
    cr_expect_eq(s->put_chunk(kC, 1, "x", err), PutStatus::ok, "kC's chunks are gone");
    n = s->remove_orphan_bodies();
    cr_assert(n.ok());
    cr_expect_eq(n.value(), 1u);
    s.reset();
    std::filesystem::remove_all(dir);
}

// ---- leading octets of a body (load_body_prefix)
namespace {

// For a body stored inline, one over Berkeley DB's overflow pages, a streamed body (the
// head in its file) and one whose head is larger than the file's head room (the head in
// bodies.db, the rest in the file): every cut is load_body's body cut there, lengths
// around the head's end and the body's end and beyond; an unknown ID is an error.
void run_prefixes(QueueStore& s) {
    std::string err;
    cr_assert_eq(s.put(make_env(kA), "Subject: a\r\n\r\nbody a", err), PutStatus::ok);
    std::string big(300 * 1024, 'o');
    cr_assert_eq(s.put(make_env(kB), big, err), PutStatus::ok);
    std::string chunk = std::string(70000, 'c') + "\r\n";
    cr_assert_eq(s.put_chunk(kC, 1, chunk, err), PutStatus::ok);
    cr_assert_eq(s.put_chunk(kC, 2, chunk, err), PutStatus::ok);
    cr_assert_eq(s.put_streamed(make_env(kC), "Received: c\r\n", 2, err), PutStatus::ok);
    std::string head = "X-Big: " + std::string(20 * 1024, 'h') + "\r\n";
    cr_assert_eq(s.put_chunk(kD, 1, chunk, err), PutStatus::ok);
    cr_assert_eq(s.put_streamed(make_env(kD), head, 1, err), PutStatus::ok);
    for (const char* qid : {kA, kB, kC, kD}) {
        auto whole = s.load_body(qid);
        cr_assert(whole.ok(), "%s: %s", qid, whole.ok() ? "" : whole.error().message.c_str());
        const uint64_t size = whole->size();
        for (uint64_t n :
             {uint64_t{0}, uint64_t{1}, uint64_t{12}, uint64_t{13}, uint64_t{14},
              uint64_t{head.size() - 1}, uint64_t{head.size()}, uint64_t{head.size() + 1},
              uint64_t{4096}, size - 1, size, size + 1, UINT64_MAX}) {
            auto part = s.load_body_prefix(qid, n);
            cr_assert(part.ok(), "%s, %llu: %s", qid, (unsigned long long)n,
                      part.ok() ? "" : part.error().message.c_str());
            cr_expect(*part == whole->substr(0, static_cast<size_t>(std::min(n, size))),
                      "%s (%s store): the first %llu octets", qid, s.kind(), (unsigned long long)n);
        }
    }
    cr_expect(!s.load_body_prefix("0000000000000EEE", 10).ok(), "no such message");
}

}  // namespace

Test(store, memory_body_prefix) {
    auto s = make_memory_store();
    run_prefixes(*s);
}

Test(store, bdb_body_prefix) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    run_prefixes(*s);
    s.reset();
    std::filesystem::remove_all(dir);
}
