// store_test.cpp - both queue stores (queue/store_memory.cpp, queue/store_bdb.cpp)
// against one table of steps, bad steps first; then BDB persistence across a clean
// close and across a crash (a child that exits without closing), in mkdtemp() dirs.
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "queue/store.hpp"

using namespace tegami::queue;

namespace {

const char* kA = "0000000000000AAA";
const char* kB = "0000000000000BBB";
const char* kC = "0000000000000CCC";

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
    retire_missing
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
    cr_expect_eq(n, 2);
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
