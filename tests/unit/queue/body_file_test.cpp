// body_file_test.cpp - the body files of the Berkeley DB store (queue/body_file.cpp and
// their use in queue/store_bdb.cpp): the marker parser and the file checks against bad
// input first (a truncated or missing file, a marker that does not parse), then a store
// whose body files were damaged, lost or left without an envelope, then the good paths
// (a delivery descriptor without a copy, a head too large for the head room, space
// reclaimed once a removal is durable) and a store killed with SIGKILL while it commits
// large bodies.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "queue/body_file.hpp"
#include "queue/store.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/tegami-body-test.XXXXXX";
    char* d = mkdtemp(tmpl);
    cr_assert(d != nullptr);
    return d;
}

std::unique_ptr<QueueStore> open_or_fail(const std::string& dir) {
    auto s = open_bdb_store(dir, 1024 * 1024);
    cr_assert(s.ok(), "open: %s", s.ok() ? "" : s.error().message.c_str());
    return std::move(s.value());
}

Envelope make_env(const std::string& qid) {
    Envelope e;
    e.queue_id = qid;
    e.sender = "from@example.org";
    e.arrival = 1700000000;
    e.protocol = "ESMTP";
    Recipient r;
    r.address = "r@x.test";
    e.recipients.push_back(r);
    return e;
}

// The content of chunk i of message qid: recognisable, so a mix-up shows.
std::string chunk_of(const std::string& qid, uint32_t i, size_t size) {
    std::string c = qid + ":" + std::to_string(i) + ":";
    c.resize(size, static_cast<char>('a' + i % 26));
    return c;
}

// Streams a message of `chunks` chunks of `size` octets and the head "H: qid\r\n".
std::string stream(QueueStore& s, const std::string& qid, uint32_t chunks, size_t size,
                   const std::string& head_in = "") {
    std::string err;
    std::string head = head_in.empty() ? "H: " + qid + "\r\n" : head_in;
    std::string whole = head;
    for (uint32_t i = 1; i <= chunks; ++i) {
        std::string c = chunk_of(qid, i, size);
        cr_assert_eq(s.put_chunk(qid, i, c, err), PutStatus::ok, "chunk %u: %s", i, err.c_str());
        whole += c;
    }
    cr_assert_eq(s.put_streamed(make_env(qid), head, chunks, err), PutStatus::ok, "%s",
                 err.c_str());
    return whole;
}

std::string file_of(const std::string& dir, const std::string& qid) {
    return dir + "/bodies/" + qid;
}

std::string read_range(int fd, uint64_t off, uint64_t size) {
    std::string out;
    auto r = pread_exact(fd, off, size, out);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    return out;
}

}  // namespace

// ---- the marker record: bad records first, then both kinds round trip

Test(body_file, marker_refuses_bad_records) {
    std::string good = encode_body_marker(BodyMarker{100, 5000, false});
    struct Bad {
        std::string rec;
        const char* why;
    };
    std::string wrong_tag = good;
    wrong_tag[0] = 'X';
    std::string bad_flags = good;
    bad_flags.back() = 2;
    const Bad bad[] = {
        {"", "empty"},
        {good.substr(0, good.size() - 1), "one octet short"},
        {good + "x", "one octet long"},
        {wrong_tag, "wrong tag"},
        {bad_flags, "unknown flags"},
        {encode_body_marker(BodyMarker{kBodyHeadRoom + 1, 1, false}), "offset past the head room"},
        {encode_body_marker(BodyMarker{10, UINT64_MAX - 5, false}), "range overflows"},
    };
    for (const Bad& b : bad) {
        auto m = parse_body_marker(b.rec);
        cr_expect(!m.ok(), "%s: accepted", b.why);
        if (!m.ok()) cr_expect_eq(m.error().exit, Exit::data_err, "%s", b.why);
    }
    const BodyMarker fine[] = {
        {0, 0, false}, {kBodyHeadRoom - 40, 123456, false}, {kBodyHeadRoom, 7, true}};
    for (const BodyMarker& f : fine) {
        auto m = parse_body_marker(encode_body_marker(f));
        cr_assert(m.ok());
        cr_expect(m->offset == f.offset && m->size == f.size && m->head_inline == f.head_inline);
    }
}

// A truncated file is refused by check_body_file and pread_exact, with both sizes named;
// a directory is no body file.
Test(body_file, truncated_file_and_wrong_kind_are_data_errors) {
    std::string dir = temp_dir();
    std::string path = dir + "/f";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    cr_assert(fd >= 0);
    cr_assert(pwrite_all(fd, std::string(1000, 'x'), 24).ok());
    BodyMarker m{24, 1000, false};
    cr_expect(check_body_file(fd, m).ok());
    cr_assert_eq(::ftruncate(fd, 500), 0);
    auto c = check_body_file(fd, m);
    cr_assert(!c.ok());
    cr_expect_eq(c.error().exit, Exit::data_err);
    cr_expect(c.error().message.find("500") != std::string::npos, "%s", c.error().message.c_str());
    std::string out = "keep";
    auto r = pread_exact(fd, 24, 1000, out);
    cr_assert(!r.ok());
    cr_expect_eq(r.error().exit, Exit::data_err);
    cr_expect_eq(out, "keep", "nothing half-read is left behind");
    ::close(fd);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    cr_assert(dfd >= 0);
    cr_expect(!check_body_file(dfd, BodyMarker{0, 0, false}).ok(), "a directory");
    ::close(dfd);
    std::filesystem::remove_all(dir);
}

// ---- the store: damaged, missing and unreferenced files

// A body file cut short (the file system lost what was not yet synced) or gone: the body
// cannot be loaded or handed out, and the next start removes the message, which was never
// acknowledged; a message whose file is whole is kept.
Test(body_file, store_removes_messages_whose_file_is_short_or_missing) {
    std::string dir = temp_dir();
    const std::string kShort = "0000000000000SH1", kGone = "0000000000000GN1",
                      kWhole = "0000000000000WH1";
    std::string whole;
    {
        auto s = open_or_fail(dir);
        stream(*s, kShort, 2, 70000);
        stream(*s, kGone, 1, 70000);
        whole = stream(*s, kWhole, 3, 70000);
        cr_assert(s->flush().ok());
    }
    cr_assert_eq(::truncate(file_of(dir, kShort).c_str(), kBodyHeadRoom + 1000), 0);
    cr_assert_eq(::unlink(file_of(dir, kGone).c_str()), 0);
    auto s = open_or_fail(dir);
    auto b = s->load_body(kShort);
    cr_assert(!b.ok(), "a short file is no body");
    cr_expect_eq(b.error().exit, Exit::data_err);
    cr_expect(b.error().message.find("short") != std::string::npos, "%s",
              b.error().message.c_str());
    cr_expect(!s->open_body(kShort).ok());
    auto g = s->load_body(kGone);
    cr_assert(!g.ok(), "a missing file is no body");
    cr_expect_eq(g.error().exit, Exit::data_err);
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok(), "%s", n.ok() ? "" : n.error().message.c_str());
    cr_expect_eq(n.value(), 2u);
    cr_expect(!s->load_envelope(kShort).ok() && !s->load_envelope(kGone).ok());
    cr_expect(!std::filesystem::exists(file_of(dir, kShort)));
    auto w = s->load_body(kWhole);
    cr_assert(w.ok());
    cr_expect(*w == whole);
    s.reset();
    std::filesystem::remove_all(dir);
}

// Files without an envelope (a body given up or killed before its envelope) are removed
// at start; a name that is no queue ID is left alone.
Test(body_file, store_removes_files_without_an_envelope) {
    std::string dir = temp_dir();
    {
        auto s = open_or_fail(dir);
        std::string err;
        cr_assert_eq(s->put_chunk("0000000000000XR1", 1, "half a body", err), PutStatus::ok);
        cr_assert(s->flush().ok());
    }
    {
        FILE* f = std::fopen((dir + "/bodies/0000000000000XR2").c_str(), "w");
        cr_assert(f);
        std::fputs("stray", f);
        std::fclose(f);
        f = std::fopen((dir + "/bodies/not-a-queue-id").c_str(), "w");
        cr_assert(f);
        std::fclose(f);
    }
    // close() removed OR1's file already (a body being streamed is never a message).
    cr_expect(!std::filesystem::exists(file_of(dir, "0000000000000XR1")));
    auto s = open_or_fail(dir);
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok(), "%s", n.ok() ? "" : n.error().message.c_str());
    cr_expect_eq(n.value(), 1u);
    cr_expect(!std::filesystem::exists(file_of(dir, "0000000000000XR2")));
    cr_expect(std::filesystem::exists(dir + "/bodies/not-a-queue-id"), "left alone");
    s.reset();
    std::filesystem::remove_all(dir);
}

// Bad streams: a queue ID that would leave the directory, chunks out of order, an
// envelope announcing more chunks than were stored, a body stored twice.
Test(body_file, store_refuses_bad_streams) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    std::string err;
    cr_expect_eq(s->put_chunk("../../etc/passwd", 1, "x", err), PutStatus::failed);
    cr_expect_eq(s->put_chunk("0000000000000BD1", 2, "x", err), PutStatus::failed, "chunk 2 first");
    cr_expect_eq(s->put_chunk("0000000000000BD1", 1, "x", err), PutStatus::ok);
    cr_expect_eq(s->put_chunk("0000000000000BD1", 3, "x", err), PutStatus::failed, "a gap");
    cr_expect_eq(s->put_streamed(make_env("0000000000000BD1"), "H\r\n", 2, err), PutStatus::failed,
                 "two chunks announced, one stored");
    cr_expect_eq(s->put_streamed(make_env("0000000000000BD2"), "H\r\n", 1, err), PutStatus::failed,
                 "no chunk at all");
    cr_expect(!s->load_envelope("0000000000000BD2").ok());
    cr_expect(s->remove_chunks("0000000000000BD1", 1).ok());
    cr_expect(!std::filesystem::exists(file_of(dir, "0000000000000BD1")));
    stream(*s, "0000000000000BD3", 1, 10);
    cr_expect_eq(s->put_chunk("0000000000000BD3", 1, "again", err), PutStatus::duplicate,
                 "a queued message's body is never overwritten");
    s.reset();
    std::filesystem::remove_all(dir);
}

// ---- good paths

// A streamed message is handed out as its file: read-only, the message the exact range
// [offset, offset + size), equal to load_body; the file is head room + content long (the
// content written once). A message stored whole gets a sealed memfd at offset 0.
Test(body_file, open_body_hands_out_the_file_itself) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    const std::string q = "0000000000000FD1";
    std::string whole = stream(*s, q, 3, 65536);
    cr_assert(s->flush().ok());
    auto b = s->open_body(q);
    cr_assert(b.ok(), "%s", b.ok() ? "" : b.error().message.c_str());
    cr_expect_eq(b->size, whole.size());
    cr_expect_eq(b->offset + b->size, kBodyHeadRoom + 3 * 65536);
    cr_expect_eq(::fcntl(b->fd.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
    cr_expect(read_range(b->fd.get(), b->offset, b->size) == whole);
    struct stat st {};
    cr_assert_eq(::stat(file_of(dir, q).c_str(), &st), 0);
    cr_expect_eq(static_cast<uint64_t>(st.st_size), kBodyHeadRoom + 3 * 65536);
    auto size = s->body_size(q);
    cr_assert(size.ok());
    cr_expect_eq(*size, whole.size());
    auto loaded = s->load_body(q);
    cr_assert(loaded.ok());
    cr_expect(*loaded == whole);

    std::string err;
    cr_assert_eq(s->put(make_env("0000000000000FD2"), "small body\r\n", err), PutStatus::ok);
    auto m = s->open_body("0000000000000FD2");
    cr_assert(m.ok());
    cr_expect_eq(m->offset, 0u);
    cr_expect(read_range(m->fd.get(), 0, m->size) == "small body\r\n");
    cr_expect(::fcntl(m->fd.get(), F_GET_SEALS) & F_SEAL_WRITE, "sealed");
    s.reset();
    std::filesystem::remove_all(dir);
}

// The body file lent to smtpd (body_writer): open for writing at the content's start, it
// takes the content written through it, which the message then is (its size from the
// file); nothing is lent for a body not open, and nothing once it is queued or removed.
Test(body_file, a_lent_body_file_holds_what_was_written_through_it) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    std::string err;
    const std::string q = "0000000000000LW1";
    cr_expect_eq(s->body_writer(q), -1, "no body open");
    cr_assert_eq(s->put_chunk(q, 1, "", err), PutStatus::ok, "%s", err.c_str());
    int fd = s->body_writer(q);
    cr_assert(fd >= 0);
    cr_expect_eq(::fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
    cr_expect_eq(static_cast<uint64_t>(::lseek(fd, 0, SEEK_CUR)), kBodyHeadRoom);
    std::string content = chunk_of(q, 1, 100000) + chunk_of(q, 2, 5000);
    cr_assert_eq(::write(fd, content.data(), 100000), 100000);
    cr_assert_eq(::write(fd, content.data() + 100000, 5000), 5000);
    cr_expect_eq(s->streamed_bytes(q), content.size());
    cr_assert_eq(s->put_streamed(make_env(q), "H: lent\r\n", 1, err), PutStatus::ok, "%s",
                 err.c_str());
    cr_expect_eq(s->body_writer(q), -1, "queued: nothing lent any more");
    cr_assert(s->flush().ok());
    auto loaded = s->load_body(q);
    cr_assert(loaded.ok());
    cr_expect(*loaded == "H: lent\r\n" + content);

    // Given up before its envelope: the file goes, and nothing is lent for it.
    const std::string q2 = "0000000000000LW2";
    cr_assert_eq(s->put_chunk(q2, 1, "", err), PutStatus::ok);
    cr_assert(s->body_writer(q2) >= 0);
    cr_expect(s->remove_chunks(q2, 1).ok());
    cr_expect_eq(s->body_writer(q2), -1);
    cr_expect(!std::filesystem::exists(file_of(dir, q2)));
    s.reset();
    std::filesystem::remove_all(dir);
}

// A head larger than the head room stays in bodies.db: the message still loads whole and
// is handed out as a memfd.
Test(body_file, a_head_larger_than_the_head_room_stays_inline) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    const std::string q = "0000000000000HD1";
    std::string head = "X-Big: " + std::string(kBodyHeadRoom + 100, 'h') + "\r\n";
    std::string whole = stream(*s, q, 2, 1000, head);
    cr_assert(s->flush().ok());
    auto loaded = s->load_body(q);
    cr_assert(loaded.ok(), "%s", loaded.ok() ? "" : loaded.error().message.c_str());
    cr_expect(*loaded == whole);
    auto size = s->body_size(q);
    cr_assert(size.ok());
    cr_expect_eq(*size, whole.size());
    auto b = s->open_body(q);
    cr_assert(b.ok());
    cr_expect(read_range(b->fd.get(), b->offset, b->size) == whole);
    cr_expect(s->remove(q).ok());
    cr_assert(s->flush().ok());
    s->reclaim();
    cr_expect(!std::filesystem::exists(file_of(dir, q)));
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok());
    cr_expect_eq(n.value(), 0u, "the inline head went with the message");
    s.reset();
    std::filesystem::remove_all(dir);
}

// Space is reclaimed when a message finishes: its file stays until the flush that makes
// the removal durable (a power failure must not bring back an envelope without its body),
// and goes with the reclaim() after it (the committer calls it once that flush's replies
// are signalled); a bounce replacing the message (remove_and_put) does the same.
Test(body_file, a_removed_message_file_goes_with_the_next_flush) {
    std::string dir = temp_dir();
    auto s = open_or_fail(dir);
    stream(*s, "0000000000000RM1", 2, 4096);
    stream(*s, "0000000000000RM2", 2, 4096);
    cr_assert(s->flush().ok());
    cr_expect(s->remove("0000000000000RM1").ok());
    std::string err;
    cr_expect_eq(
        s->remove_and_put("0000000000000RM2", make_env("0000000000000BNC"), "dsn\r\n", err),
        PutStatus::ok);
    cr_expect(std::filesystem::exists(file_of(dir, "0000000000000RM1")), "not yet durable");
    cr_expect(std::filesystem::exists(file_of(dir, "0000000000000RM2")), "not yet durable");
    s->reclaim();
    cr_expect(std::filesystem::exists(file_of(dir, "0000000000000RM1")), "nothing to reclaim yet");
    cr_assert(s->flush().ok());
    cr_expect(std::filesystem::exists(file_of(dir, "0000000000000RM1")), "durable, not reclaimed");
    s->reclaim();
    cr_expect(!std::filesystem::exists(file_of(dir, "0000000000000RM1")));
    cr_expect(!std::filesystem::exists(file_of(dir, "0000000000000RM2")));
    cr_expect(s->load_body("0000000000000BNC").ok());
    s.reset();
    std::filesystem::remove_all(dir);
}

// SIGKILL while large bodies are committed: a child streams 300 KiB messages and flushes
// each, telling the parent every queue ID whose flush returned (an acknowledged message);
// the parent kills it mid-stream. After recovery every acknowledged message, and every
// message the store still has, loads whole and exactly; no body file is left without an
// envelope.
Test(body_file, sigkill_during_large_body_commits_keeps_only_whole_messages) {
    std::string dir = temp_dir();
    int p[2];
    cr_assert_eq(::pipe(p), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        ::close(p[0]);
        auto o = open_bdb_store(dir, 1024 * 1024);
        if (!o.ok()) _exit(2);
        auto& st = **o;
        std::string err;
        for (int i = 0; i < 2000; ++i) {
            char qid[24];  // room for any int, though i stays below 10,000
            std::snprintf(qid, sizeof qid, "00000000000K%04d", i);
            for (uint32_t c = 1; c <= 5; ++c)
                if (st.put_chunk(qid, c, chunk_of(qid, c, 60000), err) != PutStatus::ok) _exit(3);
            if (st.put_streamed(make_env(qid), std::string("H: ") + qid + "\r\n", 5, err) !=
                PutStatus::ok)
                _exit(4);
            if (!st.flush().ok()) _exit(5);
            if (::write(p[1], qid, 16) != 16) _exit(6);
        }
        _exit(0);
    }
    ::close(p[1]);
    std::set<std::string> acked;
    char buf[16];
    while (acked.size() < 5 && ::read(p[0], buf, 16) == 16)
        acked.emplace(buf, 16);
    usleep(30 * 1000);  // somewhere inside the next message's chunks or flush
    ::kill(pid, SIGKILL);
    while (::read(p[0], buf, 16) == 16)
        acked.emplace(buf, 16);
    ::close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the child was killed, not done (status %d)", status);
    cr_assert_geq(acked.size(), 5u);

    auto s = open_or_fail(dir);
    auto n = s->remove_orphan_bodies();
    cr_assert(n.ok(), "%s", n.ok() ? "" : n.error().message.c_str());
    std::vector<std::string> have;
    cr_assert(s->scan([&](Envelope&& e) { have.push_back(e.queue_id); },
                      [](const Error& e) { cr_expect(false, "bad record: %s", e.message.c_str()); })
                  .ok());
    for (const std::string& q : acked)
        cr_expect(std::find(have.begin(), have.end(), q) != have.end(), "%s acked but lost",
                  q.c_str());
    for (const std::string& q : have) {
        std::string want = "H: " + q + "\r\n";
        for (uint32_t c = 1; c <= 5; ++c)
            want += chunk_of(q, c, 60000);
        auto b = s->load_body(q);
        cr_assert(b.ok(), "%s: %s", q.c_str(), b.ok() ? "" : b.error().message.c_str());
        cr_expect(*b == want, "%s: body differs", q.c_str());
    }
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir + "/bodies")) {
        (void)e;
        ++files;
    }
    cr_expect_eq(files, have.size(), "one body file per message, none stray");
    s.reset();
    std::filesystem::remove_all(dir);
}
