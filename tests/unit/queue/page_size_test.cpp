// page_size_test.cpp - the page sizes of the queue's Berkeley DB files
// (queue/store_bdb.cpp, kRecordPageSize): a new store makes envelopes.db and bodies.db
// with 64 KiB pages; a store whose files were made with 4 KiB pages (every store before
// that) keeps them, opens, and round-trips messages across a reopen and a crash-free
// close. Real Berkeley DB files in mkdtemp() directories.
#include <criterion/criterion.h>
#include <db.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "queue/store.hpp"

using namespace tegami::queue;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/tegami-pagesize-test.XXXXXX";
    char* d = mkdtemp(tmpl);
    cr_assert(d != nullptr);
    return d;
}

// The page size recorded in a database file, read with Berkeley DB itself in a private
// environment of its own (the store is closed by then). 0 when the file cannot be opened.
u_int32_t file_page_size(const std::string& dir, const char* file) {
    DB_ENV* env = nullptr;
    if (db_env_create(&env, 0) != 0) return 0;
    u_int32_t size = 0;
    if (env->open(env, dir.c_str(), DB_CREATE | DB_INIT_MPOOL | DB_PRIVATE, 0600) == 0) {
        DB* db = nullptr;
        if (db_create(&db, env, 0) == 0) {
            if (db->open(db, nullptr, file, nullptr, DB_BTREE, DB_RDONLY, 0) == 0 &&
                db->get_pagesize(db, &size) != 0)
                size = 0;
            db->close(db, 0);
        }
    }
    env->close(env, 0);
    return size;
}

// Makes envelopes.db and bodies.db in dir with 4 KiB pages, in a transactional
// environment like the store's, as a store made before kRecordPageSize has them.
void make_old_layout(const std::string& dir) {
    DB_ENV* env = nullptr;
    cr_assert_eq(db_env_create(&env, 0), 0);
    int ret = env->open(env, dir.c_str(),
                        DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL |
                            DB_PRIVATE | DB_RECOVER,
                        0600);
    cr_assert_eq(ret, 0, "env open: %s", db_strerror(ret));
    for (const char* file : {"envelopes.db", "bodies.db"}) {
        DB* db = nullptr;
        cr_assert_eq(db_create(&db, env, 0), 0);
        cr_assert_eq(db->set_pagesize(db, 4096), 0);
        ret = db->open(db, nullptr, file, nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0600);
        cr_assert_eq(ret, 0, "open %s: %s", file, db_strerror(ret));
        db->close(db, 0);
    }
    cr_assert_eq(env->txn_checkpoint(env, 0, 0, DB_FORCE), 0);
    env->close(env, 0);
}

std::unique_ptr<QueueStore> open_or_fail(const std::string& dir) {
    auto s = open_bdb_store(dir, 1024 * 1024);
    cr_assert(s.ok(), "open: %s", s.ok() ? "" : s.error().message.c_str());
    return std::move(s.value());
}

Envelope make_env(const std::string& qid) {
    Envelope e;
    e.queue_id = qid;
    e.sender = "s@example.org";
    e.arrival = 1700000000;
    e.protocol = "ESMTP";
    Recipient r;
    r.address = "r@x.test";
    e.recipients.push_back(r);
    return e;
}

// A body over the old overflow threshold (about 1 KiB with 4 KiB pages) and one over the
// new one (16 KiB), each distinct per message.
std::string body_for(int i, size_t size) {
    std::string b = "Subject: " + std::to_string(i) + "\r\n\r\n";
    while (b.size() < size)
        b += "line " + std::to_string(i) + " of the body\r\n";
    return b;
}

// Puts n messages, flushes, checks each loads back whole, removes every second one.
void put_load_remove(QueueStore& s, int first, int n) {
    for (int i = first; i < first + n; ++i) {
        std::string err;
        auto qid = "00000000000P" + std::to_string(1000 + i);
        size_t size = i % 3 == 0 ? 20000 : 1300;
        cr_assert_eq(s.put(make_env(qid), body_for(i, size), err), PutStatus::ok, "%s",
                     err.c_str());
    }
    cr_assert(s.flush().ok());
    for (int i = first; i < first + n; ++i) {
        auto qid = "00000000000P" + std::to_string(1000 + i);
        auto body = s.load_body(qid);
        cr_assert(body.ok(), "load %s", qid.c_str());
        size_t size = i % 3 == 0 ? 20000 : 1300;
        cr_expect(*body == body_for(i, size), "body of %s", qid.c_str());
        if (i % 2 == 0) cr_expect(s.remove(qid).ok());
    }
    cr_assert(s.flush().ok());
}

}  // namespace

Test(page_size, a_new_store_makes_envelopes_and_bodies_with_64k_pages) {
    std::string dir = temp_dir();
    {
        auto s = open_or_fail(dir);
        put_load_remove(*s, 0, 30);
        cr_expect(s->close().ok());
    }
    cr_expect_eq(file_page_size(dir, "envelopes.db"), 65536u);
    cr_expect_eq(file_page_size(dir, "bodies.db"), 65536u);
    std::filesystem::remove_all(dir);
}

Test(page_size, a_store_with_4k_pages_keeps_them_and_its_messages) {
    std::string dir = temp_dir();
    make_old_layout(dir);
    cr_assert_eq(file_page_size(dir, "bodies.db"), 4096u);
    {
        auto s = open_or_fail(dir);
        put_load_remove(*s, 0, 30);
        cr_expect(s->close().ok());
    }
    {
        auto s = open_or_fail(dir);  // recovery and reopen over the old page size
        int n = 0;
        auto scanned = s->scan([&](Envelope&&) { ++n; }, [](const tegami::Error&) {});
        cr_expect(scanned.ok());
        cr_expect_eq(n, 15, "the 15 messages not removed are still there (%d)", n);
        put_load_remove(*s, 30, 30);
        cr_expect(s->close().ok());
    }
    cr_expect_eq(file_page_size(dir, "envelopes.db"), 4096u);
    cr_expect_eq(file_page_size(dir, "bodies.db"), 4096u);
    std::filesystem::remove_all(dir);
}
