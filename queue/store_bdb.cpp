// store_bdb.cpp - the Berkeley DB queue store: one transactional environment in
// queue_dir, opened only by the queue process (DB_PRIVATE), recovered on every start
// (DB_RECOVER). Two btrees: envelopes.db (queue ID -> envelope record) and bodies.db
// (queue ID -> body bytes), and the due index due.db, a secondary of envelopes.db
// (8-byte big-endian envelope_due -> queue IDs, sorted duplicates) that Berkeley DB keeps
// in the envelope's own transaction (DB->associate; built from envelopes.db when empty). Every
// write is one transaction committed DB_TXN_NOSYNC; flush() (env->log_flush, from the committer
// thread) makes them durable in a group.
//
// Trusts the records it reads no more than any input: decode_envelope checks them.
// Invariants: envelope and body of a message are written and removed in one
// transaction; a put never overwrites (DB_NOOVERWRITE); every name in queue_dir (and
// queue_dir's own name) is durable before it is relied on: name_sync.hpp makes each
// name Berkeley DB creates, renames or removes durable before Berkeley DB goes on, and
// open_bdb_store fsyncs queue_dir (and its parent when it made it) once the environment
// and the databases are open.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/dir_sync.hpp"
#include "lib/core/log.hpp"
#include "queue/name_sync.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

// State changes (recipient results, removal) are written to the log file at commit but
// not fsynced: a killed queue process loses none of them, a power failure may lose the
// last ones, which only means a redelivery (at-least-once). New messages are different:
// they are committed without a write and made durable by the group flush before the
// 250 (committer.cpp).
constexpr u_int32_t kStateCommit = DB_TXN_WRITE_NOSYNC;

namespace {

// The in-memory log buffer: 8 MiB, or a quarter of a small log file (Berkeley DB
// wants the buffer well below the file size).
constexpr uint64_t kLogBufferMax = 8u * 1024u * 1024u;
constexpr u_int32_t kEnvFlags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
                                DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE | DB_THREAD;

Error db_error(const std::string& what, int ret) {
    return make_error(Exit::io_err, what + ": " + db_strerror(ret));
}

// Berkeley DB's messages while the store opens are held back: an unrecoverable store is
// explained by one fatal line built from them (they name the file and the LSN; the
// return code does not), not by the twenty lines they make five times over; any other
// outcome logs them as they were (KeepOpenMessages::release).
struct OpenMessages {
    std::mutex mu;
    bool keeping = false;
    std::vector<std::string> lines;
};

OpenMessages& open_messages() {
    static OpenMessages m;
    return m;
}

constexpr size_t kMaxKeptMessages = 64;

void errcall(const DB_ENV*, const char*, const char* msg) {
    OpenMessages& m = open_messages();
    {
        std::lock_guard lock(m.mu);
        if (m.keeping && m.lines.size() < kMaxKeptMessages) {
            m.lines.emplace_back(msg);
            return;
        }
    }
    log_error("queue store: %s", msg);
}

// Keeps Berkeley DB's messages from construction to release() (or destruction, which
// logs them as errors).
class KeepOpenMessages {
  public:
    KeepOpenMessages() {
        OpenMessages& m = open_messages();
        std::lock_guard lock(m.mu);
        m.keeping = true;
        m.lines.clear();
    }
    ~KeepOpenMessages() { release(false); }
    KeepOpenMessages(const KeepOpenMessages&) = delete;
    KeepOpenMessages& operator=(const KeepOpenMessages&) = delete;
    std::vector<std::string> lines() {
        OpenMessages& m = open_messages();
        std::lock_guard lock(m.mu);
        return m.lines;
    }
    // Stops keeping; logs what was kept as errors, or at debug level when quiet (the
    // caller's own message says it all).
    void release(bool quiet) {
        std::vector<std::string> kept;
        {
            OpenMessages& m = open_messages();
            std::lock_guard lock(m.mu);
            if (!m.keeping) return;
            m.keeping = false;
            kept.swap(m.lines);
        }
        for (const std::string& l : kept) {
            if (quiet) {
                log_debug("queue store: %s", l.c_str());
            } else {
                log_error("queue store: %s", l.c_str());
            }
        }
    }
};

}  // namespace

UnrecoverableStore parse_unrecoverable(std::string_view line) {
    UnrecoverableStore u;
    size_t past = line.find("past end of log");
    if (past == std::string_view::npos) return u;
    u.found = true;
    size_t has = line.rfind("has LSN ", past);
    if (has == std::string_view::npos) return u;
    size_t file = line.rfind("file ", has);
    if (file != std::string_view::npos) {
        std::string_view name = line.substr(file + 5, has - file - 5);
        while (!name.empty() && name.back() == ' ')
            name.remove_suffix(1);
        u.file = std::string(name);
    }
    std::string_view lsn = line.substr(has + 8, past - has - 8);
    while (!lsn.empty() && (lsn.back() == ' ' || lsn.back() == ','))
        lsn.remove_suffix(1);
    u.lsn = std::string(lsn);
    return u;
}

std::string unrecoverable_message(const std::string& dir, const UnrecoverableStore& u) {
    std::string what = u.file.empty() ? std::string("a database") : u.file;
    std::string lsn = u.lsn.empty() ? std::string("an LSN") : "LSN " + u.lsn;
    return "store in " + dir + " is unrecoverable: " + what + " has " + lsn +
           ", past the end of the log (a log file it depends on is missing or short). Stop "
           "tegami, then run `db_recover -c -h " +
           dir +
           "` (catastrophic recovery from the log files still present; db_recover is in Debian's "
           "db-util package) and start again; if that "
           "fails, move the environment aside (mv " +
           dir + " " + dir +
           ".broken: the queue starts empty, and the old store can be salvaged with db_dump -r)";
}

namespace {

// The error for a failed open: unrecoverable (Exit::data_err) when Berkeley DB said a
// page is past the end of the log or asked for recovery, else an I/O error.
Error open_error(const std::string& dir, const Error& e, const std::vector<std::string>& lines) {
    UnrecoverableStore u;
    for (const std::string& l : lines) {
        u = parse_unrecoverable(l);
        if (u.found) break;
    }
    static const std::string run_recovery = db_strerror(DB_RUNRECOVERY);
    if (u.found || e.message.find(run_recovery) != std::string::npos)
        return make_error(Exit::data_err, unrecoverable_message(dir, u));
    return e;
}

DBT key_of(std::string_view qid) {
    DBT k{};
    k.data = const_cast<char*>(qid.data());
    k.size = static_cast<u_int32_t>(qid.size());
    return k;
}

// Reads the value of key into out (DB_DBT_USERMEM: the handles are free-threaded).
int get_into(DB* db, std::string_view qid, std::string& out) {
    DBT k = key_of(qid);
    out.resize(out.capacity() < 4096 ? 4096 : out.capacity());
    for (;;) {
        DBT d{};
        d.data = out.data();
        d.ulen = static_cast<u_int32_t>(out.size());
        d.flags = DB_DBT_USERMEM;
        int ret = db->get(db, nullptr, &k, &d, 0);
        if (ret == DB_BUFFER_SMALL) {
            out.resize(d.size);
            continue;
        }
        out.resize(ret == 0 ? d.size : 0);
        return ret;
    }
}

// The due index's key of an envelope record: envelope_due, big-endian so that the btree
// sorts by time; a held message is not indexed. A record that does not decode is due now
// (the runner reports it when it cannot load it). Called by Berkeley DB inside every write
// of envelopes.db (the old and the new record of an update).
int due_key(DB*, const DBT* pkey, const DBT* pdata, DBT* skey) noexcept {
    uint64_t due = 0;
    try {
        auto env =
            decode_envelope(std::string_view(static_cast<const char*>(pkey->data), pkey->size),
                            std::string_view(static_cast<const char*>(pdata->data), pdata->size));
        if (env) {
            auto d = envelope_due(*env);
            if (!d) return DB_DONOTINDEX;
            due = *d;
        }
    } catch (...) {
        return ENOMEM;
    }
    auto* buf = static_cast<unsigned char*>(std::malloc(8));
    if (!buf) return ENOMEM;
    for (int i = 7; i >= 0; --i, due >>= 8)
        buf[i] = static_cast<unsigned char>(due & 0xff);
    *skey = DBT{};
    skey->data = buf;
    skey->size = 8;
    skey->flags = DB_DBT_APPMALLOC;  // Berkeley DB frees it
    return 0;
}

uint64_t due_of(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

Result<DbPtr> open_db(DB_ENV* env, const char* file, u_int32_t db_flags = 0) {
    DB* raw = nullptr;
    int ret = db_create(&raw, env, 0);
    if (ret != 0) return db_error("db_create", ret);
    DbPtr db(raw);
    if (db_flags != 0 && (ret = db->set_flags(db.get(), db_flags)) != 0)
        return db_error(std::string("set_flags ") + file, ret);
    ret = db->open(db.get(), nullptr, file, nullptr, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0600);
    if (ret != 0) return db_error(std::string("open ") + file, ret);
    return db;
}

Result<DbEnvPtr> open_env(const std::string& dir, uint64_t cache_bytes, uint64_t log_file_bytes) {
    DB_ENV* raw = nullptr;
    int ret = db_env_create(&raw, 0);
    if (ret != 0) return db_error("db_env_create", ret);
    DbEnvPtr env(raw);
    env->set_errcall(env.get(), errcall);
    uint64_t cache = cache_bytes < 1024 * 1024 ? 1024 * 1024 : cache_bytes;
    ret = env->set_cachesize(env.get(), static_cast<u_int32_t>(cache >> 30),
                             static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
    uint64_t log_file = std::clamp<uint64_t>(log_file_bytes, kMinLogFileSize, kMaxLogFileSize);
    uint64_t log_buffer = std::min(kLogBufferMax, log_file / 4);
    if (ret == 0) ret = env->set_lg_bsize(env.get(), static_cast<u_int32_t>(log_buffer));
    if (ret == 0) ret = env->set_lg_max(env.get(), static_cast<u_int32_t>(log_file));
    // Log files are zero-filled when created, so appending a commit overwrites blocks
    // that are already allocated: the group flush's fdatasync then writes data only, with
    // no file-size change to journal (the cheap kind of durable write on ext4).
    if (ret == 0) ret = env->log_set_config(env.get(), DB_LOG_ZERO, 1);
    if (ret != 0) return db_error("configure environment", ret);
    ret = env->open(env.get(), dir.c_str(), kEnvFlags, 0600);
    if (ret != 0) return db_error("open environment " + dir, ret);
    ret = env->log_set_config(env.get(), DB_LOG_AUTO_REMOVE, 1);
    if (ret != 0) return db_error("log_set_config", ret);
    return env;
}

class BdbStore final : public QueueStore {
  public:
    BdbStore(DbEnvPtr env, DbPtr envelopes, DbPtr bodies, DbPtr due)
        : env_(std::move(env)),
          envelopes_(std::move(envelopes)),
          bodies_(std::move(bodies)),
          due_(std::move(due)) {}
    ~BdbStore() override { (void)close(); }

    PutStatus put(const Envelope& env, std::string_view body, std::string& err) override {
        if (!env_) return put_failed(err, "queue store closed");
        DbTxn txn;
        if (int ret = begin(txn); ret != 0) return put_failed(err, db_strerror(ret));
        int ret = put_in(txn, env, body);
        if (ret == DB_KEYEXIST) return PutStatus::duplicate;
        if (ret == 0) ret = txn.commit(DB_TXN_NOSYNC);
        if (ret != 0) return put_failed(err, db_strerror(ret));
        return PutStatus::ok;
    }
    Result<void> flush() override {
        DB_ENV* env = env_.get();
        if (!env) return closed_error();
        int ret = env->log_flush(env, nullptr);
        if (ret != 0) return db_error("log_flush", ret);
        return {};
    }
    Result<Envelope> load_envelope(std::string_view qid) override {
        std::string rec;
        if (!env_) return closed_error();
        int ret = get_into(envelopes_.get(), qid, rec);
        if (ret != 0) return lookup_error(qid, "envelope", ret);
        return decode_envelope(qid, rec);
    }
    Result<std::string> load_body(std::string_view qid) override {
        std::string body;
        if (!env_) return closed_error();
        int ret = get_into(bodies_.get(), qid, body);
        if (ret != 0) return lookup_error(qid, "body", ret);
        return body;
    }
    Result<void> update(const Envelope& env) override;
    Result<void> remove(std::string_view qid) override;
    PutStatus remove_and_put(std::string_view qid, const Envelope& env, std::string_view body,
                             std::string& err) override;
    PutStatus update_and_put(const Envelope& env, const Envelope& new_env, std::string_view body,
                             std::string& err) override;
    Result<void> scan(const std::function<void(Envelope&&)>& each,
                      const std::function<void(const Error&)>& bad) override;
    Result<void> scan_due(uint64_t until,
                          const std::function<bool(std::string_view, uint64_t)>& each,
                          uint64_t& next) override;
    Result<void> scan_after(std::string_view after, const std::function<bool(Envelope&&)>& each,
                            const std::function<void(const Error&)>& bad) override;
    Result<uint64_t> body_size(std::string_view qid) override {
        if (!env_) return closed_error();
        DBT k = key_of(qid);
        DBT d{};
        d.flags = DB_DBT_USERMEM;  // no room: Berkeley DB says how much it needs
        int ret = bodies_->get(bodies_.get(), nullptr, &k, &d, 0);
        if (ret == 0 || ret == DB_BUFFER_SMALL) return static_cast<uint64_t>(d.size);
        return lookup_error(qid, "body", ret);
    }
    Result<void> checkpoint() override {
        if (!env_) return closed_error();
        int ret = env_->txn_checkpoint(env_.get(), 0, 0, 0);
        if (ret != 0) return db_error("txn_checkpoint", ret);
        return {};
    }
    Result<void> close() override {
        if (!env_) return {};
        auto flushed = flush();
        auto checked = checkpoint();
        due_.reset();  // a secondary closes before its primary
        envelopes_.reset();
        bodies_.reset();
        env_.reset();
        if (!flushed) return flushed;
        return checked;
    }
    const char* kind() const override { return "bdb"; }

  private:
    // Writes a new message's envelope (never overwriting) and body inside txn.
    int put_in(DbTxn& txn, const Envelope& env, std::string_view body) {
        std::string rec = encode_envelope(env);
        DBT k = key_of(env.queue_id);
        DBT d = key_of(rec);
        int ret = envelopes_->put(envelopes_.get(), txn.get(), &k, &d, DB_NOOVERWRITE);
        if (ret != 0) return ret;
        DBT b = key_of(body);
        return bodies_->put(bodies_.get(), txn.get(), &k, &b, 0);
    }
    // Deletes a message's envelope and body inside txn.
    int del_in(DbTxn& txn, std::string_view qid) {
        DBT k = key_of(qid);
        int ret = envelopes_->del(envelopes_.get(), txn.get(), &k, 0);
        if (ret != 0) return ret;
        ret = bodies_->del(bodies_.get(), txn.get(), &k, 0);
        return ret == DB_NOTFOUND ? 0 : ret;  // a lost body must not keep its envelope alive
    }
    int begin(DbTxn& txn) {
        DB_TXN* t = nullptr;
        int ret = env_->txn_begin(env_.get(), nullptr, &t, 0);
        if (ret == 0) txn = DbTxn(t);
        return ret;
    }
    static PutStatus put_failed(std::string& err, const char* why) {
        err = why;
        return PutStatus::failed;
    }
    static Error closed_error() { return make_error(Exit::software, "queue store closed"); }
    static Error lookup_error(std::string_view qid, const char* what, int ret) {
        if (ret == DB_NOTFOUND)
            return make_error(Exit::no_input, std::string(qid) + ": no " + what + " in the queue");
        return db_error(std::string(qid) + ": read " + what, ret);
    }

    DbEnvPtr env_;
    DbPtr envelopes_;
    DbPtr bodies_;
    DbPtr due_;  // secondary of envelopes_
};

Result<void> BdbStore::update(const Envelope& env) {
    if (!env_) return closed_error();
    DbTxn txn;
    int ret = begin(txn);
    if (ret != 0) return db_error("txn_begin", ret);
    std::string rec = encode_envelope(env);
    DBT k = key_of(env.queue_id);
    DBT old{};
    old.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;  // existence check only, no bytes read
    ret = envelopes_->get(envelopes_.get(), txn.get(), &k, &old, DB_RMW);
    if (ret == DB_NOTFOUND) return lookup_error(env.queue_id, "envelope", ret);
    DBT d = key_of(rec);
    if (ret == 0) ret = envelopes_->put(envelopes_.get(), txn.get(), &k, &d, 0);
    if (ret == 0) ret = txn.commit(kStateCommit);
    if (ret != 0) return db_error(env.queue_id + ": update envelope", ret);
    return {};
}

Result<void> BdbStore::remove(std::string_view qid) {
    if (!env_) return closed_error();
    DbTxn txn;
    int ret = begin(txn);
    if (ret != 0) return db_error("txn_begin", ret);
    ret = del_in(txn, qid);
    if (ret == DB_NOTFOUND) return lookup_error(qid, "envelope", ret);
    if (ret == 0) ret = txn.commit(kStateCommit);
    if (ret != 0) return db_error(std::string(qid) + ": remove", ret);
    return {};
}

PutStatus BdbStore::remove_and_put(std::string_view qid, const Envelope& env, std::string_view body,
                                   std::string& err) {
    if (!env_) return put_failed(err, "queue store closed");
    DbTxn txn;
    int ret = begin(txn);
    if (ret == 0) ret = del_in(txn, qid);
    if (ret == 0) ret = put_in(txn, env, body);
    if (ret == DB_KEYEXIST) return PutStatus::duplicate;
    if (ret == 0) ret = txn.commit(kStateCommit);
    if (ret != 0) return put_failed(err, db_strerror(ret));
    return PutStatus::ok;
}

PutStatus BdbStore::update_and_put(const Envelope& env, const Envelope& new_env,
                                   std::string_view body, std::string& err) {
    if (!env_) return put_failed(err, "queue store closed");
    DbTxn txn;
    int ret = begin(txn);
    std::string rec = encode_envelope(env);
    DBT k = key_of(env.queue_id);
    DBT old{};
    old.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;  // existence check only, no bytes read
    if (ret == 0) ret = envelopes_->get(envelopes_.get(), txn.get(), &k, &old, DB_RMW);
    if (ret == DB_NOTFOUND) return put_failed(err, "message not in the queue");
    DBT d = key_of(rec);
    if (ret == 0) ret = envelopes_->put(envelopes_.get(), txn.get(), &k, &d, 0);
    if (ret == 0) ret = put_in(txn, new_env, body);
    if (ret == DB_KEYEXIST) return PutStatus::duplicate;
    if (ret == 0) ret = txn.commit(kStateCommit);
    if (ret != 0) return put_failed(err, db_strerror(ret));
    return PutStatus::ok;
}

Result<void> BdbStore::scan(const std::function<void(Envelope&&)>& each,
                            const std::function<void(const Error&)>& bad) {
    if (!env_) return closed_error();
    DBC* raw = nullptr;
    int ret = envelopes_->cursor(envelopes_.get(), nullptr, &raw, 0);
    if (ret != 0) return db_error("cursor", ret);
    DbcPtr cur(raw);
    std::string key(64, '\0'), rec(4096, '\0');
    for (;;) {
        DBT k{}, d{};
        k.data = key.data();
        k.ulen = static_cast<u_int32_t>(key.size());
        k.flags = DB_DBT_USERMEM;
        d.data = rec.data();
        d.ulen = static_cast<u_int32_t>(rec.size());
        d.flags = DB_DBT_USERMEM;
        ret = cur->get(cur.get(), &k, &d, DB_NEXT);
        if (ret == DB_BUFFER_SMALL) {
            key.resize(std::max<size_t>(key.size(), k.size));
            rec.resize(std::max<size_t>(rec.size(), d.size));
            continue;
        }
        if (ret == DB_NOTFOUND) break;
        if (ret != 0) return db_error("scan envelopes", ret);
        std::string_view qid(key.data(), k.size);
        auto env = decode_envelope(qid, std::string_view(rec.data(), d.size));
        if (env) {
            each(std::move(env.value()));
        } else {
            bad(env.error());
        }
    }
    return {};
}

Result<void> BdbStore::scan_due(uint64_t until,
                                const std::function<bool(std::string_view, uint64_t)>& each,
                                uint64_t& next) {
    next = UINT64_MAX;
    if (!env_) return closed_error();
    DBC* raw = nullptr;
    int ret = due_->cursor(due_.get(), nullptr, &raw, 0);
    if (ret != 0) return db_error("cursor due.db", ret);
    DbcPtr cur(raw);
    unsigned char skey[8];
    std::string pkey(64, '\0');
    for (;;) {
        DBT k{}, pk{}, d{};
        k.data = skey;
        k.ulen = sizeof skey;
        k.flags = DB_DBT_USERMEM;
        pk.data = pkey.data();
        pk.ulen = static_cast<u_int32_t>(pkey.size());
        pk.flags = DB_DBT_USERMEM;
        d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;  // the envelope itself is not read
        ret = cur->pget(cur.get(), &k, &pk, &d, DB_NEXT);
        if (ret == DB_BUFFER_SMALL && pk.size > pkey.size()) {
            pkey.resize(pk.size);
            continue;
        }
        if (ret == DB_NOTFOUND) break;
        if (ret != 0) return db_error("scan due.db", ret);
        if (k.size != 8) return make_error(Exit::data_err, "due.db: a key is not 8 bytes");
        uint64_t due = due_of(skey);
        if (due > until) {
            next = due;
            break;
        }
        if (!each(std::string_view(pkey.data(), pk.size), due)) break;
    }
    return {};
}

Result<void> BdbStore::scan_after(std::string_view after,
                                  const std::function<bool(Envelope&&)>& each,
                                  const std::function<void(const Error&)>& bad) {
    if (!env_) return closed_error();
    DBC* raw = nullptr;
    int ret = envelopes_->cursor(envelopes_.get(), nullptr, &raw, 0);
    if (ret != 0) return db_error("cursor", ret);
    DbcPtr cur(raw);
    std::string key(std::max<size_t>(64, after.size()), '\0'), rec(4096, '\0');
    std::copy(after.begin(), after.end(), key.begin());
    u_int32_t how = DB_SET_RANGE;  // the first key >= after
    for (;;) {
        DBT k{}, d{};
        k.data = key.data();
        k.size = static_cast<u_int32_t>(how == DB_SET_RANGE ? after.size() : 0);
        k.ulen = static_cast<u_int32_t>(key.size());
        k.flags = DB_DBT_USERMEM;
        d.data = rec.data();
        d.ulen = static_cast<u_int32_t>(rec.size());
        d.flags = DB_DBT_USERMEM;
        ret = cur->get(cur.get(), &k, &d, after.empty() && how == DB_SET_RANGE ? DB_FIRST : how);
        if (ret == DB_BUFFER_SMALL) {
            key.resize(std::max<size_t>(key.size(), k.size));
            rec.resize(std::max<size_t>(rec.size(), d.size));
            std::copy(after.begin(), after.end(), key.begin());
            continue;
        }
        if (ret == DB_NOTFOUND) break;
        if (ret != 0) return db_error("scan envelopes", ret);
        how = DB_NEXT;
        std::string_view qid(key.data(), k.size);
        if (qid == after) continue;
        auto env = decode_envelope(qid, std::string_view(rec.data(), d.size));
        if (!env) {
            bad(env.error());
        } else if (!each(std::move(env.value()))) {
            break;
        }
    }
    return {};
}

}  // namespace

Result<std::unique_ptr<QueueStore>> open_bdb_store(const std::string& dir, uint64_t cache_bytes,
                                                   uint64_t log_file_bytes) {
    install_name_sync();
    bool made = ::mkdir(dir.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return sys_error("mkdir " + dir, errno);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return sys_error("stat " + dir, errno);
    if (!S_ISDIR(st.st_mode)) return make_error(Exit::os_file, dir + ": not a directory");
    if (made) {
        if (auto r = fsync_parent(dir); !r) return r.error();
    }
    KeepOpenMessages messages;
    auto failed = [&](const Error& e) {
        Error out = open_error(dir, e, messages.lines());
        messages.release(out.exit == Exit::data_err);
        return out;
    };
    auto env = open_env(dir, cache_bytes, log_file_bytes);
    if (!env) return failed(env.error());
    auto envelopes = open_db(env->get(), "envelopes.db");
    if (!envelopes) return failed(envelopes.error());
    auto bodies = open_db(env->get(), "bodies.db");
    if (!bodies) return failed(bodies.error());
    auto due = open_db(env->get(), "due.db", DB_DUP | DB_DUPSORT);
    if (!due) return failed(due.error());
    // DB_CREATE: an empty index (a store from before it) is built from envelopes.db now.
    if (int ret =
            (*envelopes)->associate(envelopes->get(), nullptr, due->get(), due_key, DB_CREATE);
        ret != 0)
        return failed(db_error("associate due.db", ret));
    // Every name the environment and the databases have (the hooks made the new ones
    // durable already; this also covers names a killed earlier run made before its hook
    // could sync them, and queue_dir's own first entries).
    auto synced = fsync_dir(dir);
    if (!synced) return synced.error();
    if (synced.value() == DirSync::unsupported)
        log_warning(
            "queue store: the file system of %s cannot fsync a directory: new names in "
            "it may not survive a power failure",
            dir.c_str());
    std::unique_ptr<QueueStore> store =
        std::make_unique<BdbStore>(std::move(env.value()), std::move(envelopes.value()),
                                   std::move(bodies.value()), std::move(due.value()));
    return store;
}

}  // namespace tegami::queue
