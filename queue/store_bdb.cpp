// store_bdb.cpp - the Berkeley DB queue store: one transactional environment in
// queue_dir, opened only by the queue process (DB_PRIVATE), recovered on every start
// (DB_RECOVER). Two btrees: envelopes.db (queue ID -> envelope record) and bodies.db
// (queue ID -> body bytes of a message stored whole; queue ID + FF FF FF FF -> the marker
// of a streamed message's body file, queue_dir/bodies/<queue ID>: body_file.hpp), and the
// due index due.db, a secondary of envelopes.db
// (8-byte big-endian envelope_due -> queue IDs, sorted duplicates) that Berkeley DB keeps
// in the envelope's own transaction (DB->associate; built from envelopes.db when empty). Every
// write is one transaction committed DB_TXN_NOSYNC; flush() (from the committer thread) makes
// them durable in a group: the body files completed since the last flush (fdatasync, several
// at once), their directory and the log (env->log_flush), all before flush() returns.
//
// Body files: a streamed body is appended to its own file as its chunks arrive (once, never
// through the log), and the envelope's transaction stores the file's marker. A marker can
// reach the disk before the file's data only when the flush covering it did not finish (the
// log may be written early when its buffer fills), so no 250 went out for that message:
// start-up (remove_orphan_bodies) removes such a message, and every file without an
// envelope. A removed message's file is unlinked only after the flush that makes the removal
// durable, so a power failure never brings back an envelope without its body.
//
// Trusts the records it reads no more than any input: decode_envelope checks them.
// Invariants: envelope and body of a message are written and removed in one
// transaction; a put never overwrites (DB_NOOVERWRITE); every name in queue_dir (and
// queue_dir's own name) is durable before it is relied on: name_sync.hpp makes each
// name Berkeley DB creates, renames or removes durable before Berkeley DB goes on, and
// open_bdb_store fsyncs queue_dir (and its parent when it made it) once the environment
// and the databases are open.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/clock.hpp"
#include "lib/core/dir_sync.hpp"
#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "queue/body_file.hpp"
#include "queue/name_sync.hpp"
#include "queue/store.hpp"
#include "queue/sync_pool.hpp"

namespace tegami::queue {

// State changes (recipient results, removal) are written to the log file at commit but
// not fsynced: a killed queue process loses none of them, a power failure may lose the
// last ones, which only means a redelivery (at-least-once). New messages are different:
// they are committed without a write and made durable by the group flush before the
// 250 (committer.cpp).
constexpr u_int32_t kStateCommit = DB_TXN_WRITE_NOSYNC;
// At most this many threads fdatasync the body files of one flush at once.
constexpr size_t kSyncThreads = 8;
// Page size of envelopes.db and bodies.db when they are created (an existing file keeps
// its own). With the file system's 4 KiB, every inline body over about 1 KiB was an
// overflow item on pages of its own, and so was a full leaf of envelopes: removing a
// message freed pages, and freeing the last page of a file makes Berkeley DB flush its
// log synchronously before it truncates the file, stalling the event loop for a whole
// fdatasync (about one removal in 13 at the accept benchmark's rate). 64 KiB pages keep
// bodies up to 16 KiB on leaf pages, hold some 300 envelopes per leaf, and pack small
// bodies without a page each (300,000 queued 1 KiB messages: 498 MB instead of 1.4 GB).
constexpr u_int32_t kRecordPageSize = 64 * 1024;

namespace {

// The in-memory log buffer: 8 MiB, or a quarter of a small log file (Berkeley DB
// wants the buffer well below the file size).
constexpr uint64_t kLogBufferMax = 8u * 1024u * 1024u;
constexpr u_int32_t kEnvFlags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
                                DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE | DB_THREAD;

Error db_error(const std::string& what, int ret) {
    return make_error(Exit::io_err, what + ": " + db_strerror(ret));
}

// checkpoint.lsn holds the end of the log as it was after the last checkpoint, which
// wrote every page changed before it. Berkeley DB notices a lost log file at open only
// by a database's metadata page having an LSN past the end of the log, and with 64 KiB
// pages a small queue's metadata pages hardly ever change: the mark says the same of
// the pages a checkpoint wrote. Written in place (one sector, fdatasync'ed).
constexpr const char* kCheckpointMark = "checkpoint.lsn";

// The LSN of the log's last record (0/0 for an empty log).
int log_end(DB_ENV* env, DB_LSN* end) {
    *end = DB_LSN{0, 0};
    DB_LOGC* raw = nullptr;
    int ret = env->log_cursor(env, &raw, 0);
    if (ret != 0) return ret;
    DBT d{};
    ret = raw->get(raw, end, &d, DB_LAST);
    int closed = raw->close(raw, 0);
    if (ret == DB_NOTFOUND) {
        *end = DB_LSN{0, 0};
        ret = 0;
    }
    return ret != 0 ? ret : closed;
}

std::string lsn_text(const DB_LSN& l) {
    return std::to_string(l.file) + "/" + std::to_string(l.offset);
}

Result<void> write_checkpoint_mark(const std::string& dir, const DB_LSN& end) {
    std::string path = dir + "/" + kCheckpointMark;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    bool made = false;
    if (fd < 0 && errno == ENOENT) {
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        made = true;
    }
    if (fd < 0) return sys_error("open " + path, errno, Exit::io_err);
    char line[32];
    int n = std::snprintf(line, sizeof line, "%010u/%010u\n", static_cast<unsigned>(end.file),
                          static_cast<unsigned>(end.offset));
    int err = 0;
    if (::pwrite(fd, line, static_cast<size_t>(n), 0) != n) err = errno != 0 ? errno : EIO;
    if (err == 0 && ::fdatasync(fd) != 0) err = errno;
    ::close(fd);
    if (err != 0) return sys_error("write " + path, err, Exit::io_err);
    if (made) {
        if (auto r = fsync_dir(dir); !r) return r.error();
    }
    return {};
}

// The mark's LSN, if there is a readable one (a missing or torn mark proves nothing).
std::optional<DB_LSN> read_checkpoint_mark(const std::string& dir) {
    std::string path = dir + "/" + kCheckpointMark;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    char line[32] = {};
    ssize_t n = ::pread(fd, line, sizeof line - 1, 0);
    ::close(fd);
    unsigned file = 0, offset = 0;
    char nl = 0;
    if (n != 22 || std::sscanf(line, "%10u/%10u%c", &file, &offset, &nl) != 3 || nl != '\n') {
        log_warning("queue store: %s is not a checkpoint mark; ignored", path.c_str());
        return std::nullopt;
    }
    return DB_LSN{file, offset};
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

// A streamed body's records: the queue ID followed by the chunk number in 4 octets, big
// endian, so a message's chunks sort right after its ID and in order (chunk 0 is the
// head, written with the envelope). A body stored whole has the bare ID as its key.
std::string chunk_key(std::string_view qid, uint32_t index) {
    std::string k(qid);
    for (int shift = 24; shift >= 0; shift -= 8)
        k += static_cast<char>((index >> shift) & 0xff);
    return k;
}

bool is_chunk_of(std::string_view key, std::string_view qid) {
    return key.size() == qid.size() + 4 && key.substr(0, qid.size()) == qid;
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

// Reads at most max leading octets of the value of key into out (DB_DBT_PARTIAL: Berkeley
// DB copies only that range of the record).
int get_prefix(DB* db, std::string_view qid, uint64_t max, std::string& out) {
    DBT k = key_of(qid);
    const auto want = static_cast<u_int32_t>(std::min<uint64_t>(max, UINT32_MAX));
    out.resize(want);
    DBT d{};
    d.data = out.data();
    d.ulen = want;
    d.dlen = want;
    d.doff = 0;
    d.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
    int ret = db->get(db, nullptr, &k, &d, 0);
    out.resize(ret == 0 ? std::min(d.size, want) : 0);
    return ret;
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

Result<DbPtr> open_db(DB_ENV* env, const char* file, u_int32_t db_flags = 0,
                      u_int32_t page_size = 0) {
    DB* raw = nullptr;
    int ret = db_create(&raw, env, 0);
    if (ret != 0) return db_error("db_create", ret);
    DbPtr db(raw);
    if (db_flags != 0 && (ret = db->set_flags(db.get(), db_flags)) != 0)
        return db_error(std::string("set_flags ") + file, ret);
    if (page_size != 0 && (ret = db->set_pagesize(db.get(), page_size)) != 0)
        return db_error(std::string("set_pagesize ") + file, ret);
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
    BdbStore(std::string dir, DbEnvPtr env, DbPtr envelopes, DbPtr bodies, DbPtr due)
        : env_(std::move(env)),
          envelopes_(std::move(envelopes)),
          bodies_(std::move(bodies)),
          due_(std::move(due)),
          dir_(std::move(dir)) {}
    BdbStore(const BdbStore&) = delete;
    BdbStore& operator=(const BdbStore&) = delete;
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
    Result<void> flush() override;
    void reclaim() override;
    void maintain() override { prepare_next_log(); }
    PutStatus put_chunk(std::string_view qid, uint32_t index, std::string_view bytes,
                        std::string& err) override;
    PutStatus put_streamed(const Envelope& env, std::string_view head, uint32_t chunks,
                           std::string& err) override;
    int body_writer(std::string_view qid) override;
    uint64_t streamed_bytes(std::string_view qid) override;
    Result<void> remove_chunks(std::string_view qid, uint32_t chunks) override;
    Result<size_t> remove_orphan_bodies() override;
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
        if (ret == DB_NOTFOUND) {
            auto marker = marker_of(qid);
            if (!marker) return marker.error();
            if (*marker) {
                auto read = load_file(qid, **marker, body);
                if (!read) return read.error();
                return body;
            }
            ret = load_chunks(qid, body);  // a streamed body of a store before body files
        }
        if (ret != 0) return lookup_error(qid, "body", ret);
        return body;
    }
    Result<std::string> load_body_prefix(std::string_view qid, uint64_t max) override {
        std::string body;
        if (!env_) return closed_error();
        int ret = get_prefix(bodies_.get(), qid, max, body);
        if (ret == DB_NOTFOUND) {
            auto marker = marker_of(qid);
            if (!marker) return marker.error();
            if (*marker) {
                auto read = load_file(qid, **marker, body, max);
                if (!read) return read.error();
                return body;
            }
            ret = load_chunks(qid, body, max);  // a streamed body of a store before body files
        }
        if (ret != 0) return lookup_error(qid, "body", ret);
        return body;
    }
    Result<BodyFd> open_body(std::string_view qid) override;
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
        if (ret == DB_NOTFOUND) {  // a body file
            auto marker = marker_of(qid);
            if (!marker) return marker.error();
            if (*marker && !(*marker)->head_inline) return (*marker)->size;
            if (*marker) {  // the head in chunk 0, the rest in the file
                std::string hkey = chunk_key(qid, 0);
                DBT hk = key_of(hkey);
                DBT h{};
                h.flags = DB_DBT_USERMEM;
                ret = bodies_->get(bodies_.get(), nullptr, &hk, &h, 0);
                if (ret == 0 || ret == DB_BUFFER_SMALL) return h.size + (*marker)->size;
                return lookup_error(qid, "head", ret);
            }
        }
        if (ret == DB_NOTFOUND) {  // a large head, or a streamed body of an older store
            std::string body;
            ret = load_chunks(qid, body);
            if (ret == 0) return static_cast<uint64_t>(body.size());
        }
        return lookup_error(qid, "body", ret);
    }
    Result<void> checkpoint() override {
        if (!env_) return closed_error();
        int ret = env_->txn_checkpoint(env_.get(), 0, 0, 0);
        if (ret != 0) return db_error("txn_checkpoint", ret);
        DB_LSN end{};
        if ((ret = log_end(env_.get(), &end)) != 0) return db_error("log_cursor", ret);
        return write_checkpoint_mark(dir_, end);
    }
    Result<void> close() override {
        if (!env_) return {};
        for (auto& [qid, f] : open_files_)
            (void)::unlink(body_file_path(dir_, qid).c_str());  // never a message
        open_files_.clear();
        auto flushed = flush();
        reclaim();
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
    // Deletes a message's envelope and body (whole, or its marker and chunks) inside txn;
    // had_file_ says whether it had a body file (for the caller to retire once committed).
    int del_in(DbTxn& txn, std::string_view qid) {
        had_file_ = false;
        DBT k = key_of(qid);
        int ret = envelopes_->del(envelopes_.get(), txn.get(), &k, 0);
        if (ret != 0) return ret;
        ret = bodies_->del(bodies_.get(), txn.get(), &k, 0);
        if (ret == DB_NOTFOUND) ret = del_chunks_in(txn, qid, &had_file_);
        return ret == DB_NOTFOUND ? 0 : ret;  // a lost body must not keep its envelope alive
    }
    // Deletes every chunk record of qid (the marker too) inside txn.
    int del_chunks_in(DbTxn& txn, std::string_view qid, bool* had_marker = nullptr) {
        DBC* raw = nullptr;
        int ret = bodies_->cursor(bodies_.get(), txn.get(), &raw, 0);
        if (ret != 0) return ret;
        DbcPtr cur(raw);
        std::string first = chunk_key(qid, 0);
        char kbuf[64];
        first.copy(kbuf, first.size());
        DBT k{};
        k.data = kbuf;
        k.size = static_cast<u_int32_t>(first.size());
        k.ulen = sizeof kbuf;
        k.flags = DB_DBT_USERMEM;
        DBT d{};
        d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;  // keys only
        for (u_int32_t op = DB_SET_RANGE;; op = DB_NEXT) {
            ret = cur->get(cur.get(), &k, &d, op);
            if (ret != 0) break;
            if (!is_chunk_of(std::string_view(kbuf, k.size), qid)) break;
            if (had_marker && std::string_view(kbuf, k.size) == chunk_key(qid, kBodyMarkerIndex))
                *had_marker = true;
            ret = cur->del(cur.get(), 0);
            if (ret != 0) return ret;
        }
        return ret == DB_NOTFOUND || ret == 0 || ret == DB_BUFFER_SMALL ? 0 : ret;
    }
    // Reads a streamed body: chunks 0 (the head), 1, 2, ... in key order.
    // Stops once out holds max octets (and cuts it there).
    int load_chunks(std::string_view qid, std::string& out, uint64_t max = UINT64_MAX) {
        out.clear();
        DBC* raw = nullptr;
        int ret = bodies_->cursor(bodies_.get(), nullptr, &raw, 0);
        if (ret != 0) return ret;
        DbcPtr cur(raw);
        std::string first = chunk_key(qid, 0);
        char kbuf[64];
        first.copy(kbuf, first.size());
        std::string buf(64 * 1024, '\0');
        bool any = false;
        for (u_int32_t op = DB_SET_RANGE;;) {
            if (op == DB_SET_RANGE) first.copy(kbuf, first.size());
            DBT k{};
            k.data = kbuf;
            k.size = static_cast<u_int32_t>(first.size());
            k.ulen = sizeof kbuf;
            k.flags = DB_DBT_USERMEM;
            DBT d{};
            d.data = buf.data();
            d.ulen = static_cast<u_int32_t>(buf.size());
            d.flags = DB_DBT_USERMEM;
            ret = cur->get(cur.get(), &k, &d, op);
            if (ret == DB_BUFFER_SMALL && d.size > buf.size()) {
                buf.resize(d.size);
                continue;  // same op again: the cursor did not move
            }
            if (ret != 0) break;
            if (!is_chunk_of(std::string_view(kbuf, k.size), qid)) break;
            out.append(buf.data(), d.size);
            any = true;
            if (out.size() >= max) {
                out.resize(static_cast<size_t>(max));
                ret = 0;
                break;
            }
            op = DB_NEXT;
        }
        if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL) return ret;
        return any ? 0 : DB_NOTFOUND;
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

    // Body files. The marker of qid: none (nullopt) when the message has no body file.
    Result<std::optional<BodyMarker>> marker_of(std::string_view qid) {
        std::string key = chunk_key(qid, kBodyMarkerIndex), rec;
        int ret = get_into(bodies_.get(), key, rec);
        if (ret == DB_NOTFOUND) return std::optional<BodyMarker>();
        if (ret != 0) return lookup_error(qid, "body marker", ret);
        auto m = parse_body_marker(rec);
        if (!m) return make_error(m.error().exit, std::string(qid) + ": " + m.error().message);
        return std::optional<BodyMarker>(*m);
    }
    // Opens qid's body file and checks that it holds the whole range of m.
    Result<UniqueFd> open_file(std::string_view qid, const BodyMarker& m) {
        std::string path = body_file_path(dir_, qid);
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd) {
            int e = errno;
            return sys_error(path, e, e == ENOENT ? Exit::data_err : Exit::io_err);
        }
        if (auto ok = check_body_file(fd.get(), m); !ok)
            return make_error(ok.error().exit, path + ": " + ok.error().message);
        return fd;
    }
    // Puts the message of marker m in out (the head from chunk 0 first when inline), or
    // its first max octets.
    Result<void> load_file(std::string_view qid, const BodyMarker& m, std::string& out,
                           uint64_t max = UINT64_MAX) {
        out.clear();
        if (m.head_inline) {
            int ret = get_prefix(bodies_.get(), chunk_key(qid, 0), max, out);
            if (ret != 0) return lookup_error(qid, "head", ret);
        }
        auto fd = open_file(qid, m);
        if (!fd) return fd.error();
        auto r =
            pread_exact(fd->get(), m.offset, std::min<uint64_t>(m.size, max - out.size()), out);
        if (!r) return make_error(r.error().exit, std::string(qid) + ": " + r.error().message);
        return {};
    }
    // The file of a message whose removal was just committed: unlinked by the flush that
    // makes the removal durable.
    void retire_file(std::string_view qid) {
        std::lock_guard lock(sync_mu_);
        to_unlink_.push_back(body_file_path(dir_, qid));
    }
    Result<size_t> remove_unreferenced_files(std::set<std::string>& counted);
    Result<size_t> remove_broken_files(const std::vector<std::string>& filed);

    struct OpenFile {
        UniqueFd fd;
        uint32_t chunks = 0;           // written so far
        uint64_t end = kBodyHeadRoom;  // where the next chunk goes
        bool lent = false;             // body_writer gave it out: writes may follow end
    };
    // A lent file's end is where its writer has got to: the file's size.
    static Result<void> catch_up(OpenFile& f);
    std::string dir_;
    std::unordered_map<std::string, OpenFile> open_files_;  // bodies being streamed (loop thread)
    bool had_file_ = false;                                 // set by del_in
    // The reclaimer thread's: the next log file made ready, and when to look again.
    void prepare_next_log();
    uint32_t prepared_log_ = 0;
    int64_t next_log_check_ms_ = 0;
    std::mutex sync_mu_;                    // the two lists below, shared with flush()
    std::vector<UniqueFd> to_sync_;         // body files complete since the last flush
    std::vector<std::string> to_unlink_;    // files of removed messages (paths)
    std::vector<std::string> reclaimable_;  // ... whose removal a flush made durable
    std::mutex flush_mu_;                   // held by flush()
    SyncPool syncs_{kSyncThreads};          // flush() only
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
    if (had_file_) retire_file(qid);
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
    if (had_file_) retire_file(qid);
    return PutStatus::ok;
}

Result<size_t> BdbStore::remove_orphan_bodies() {
    if (!env_) return closed_error();
    // First the IDs (a key-only walk), then one transaction per orphan.
    open_files_.clear();  // start-up only: nothing is being streamed (its files go below)
    std::vector<std::pair<std::string, bool>> orphans;  // id, stored whole
    std::vector<std::string> filed;                     // messages with a body file
    {
        DBC* raw = nullptr;
        int ret = bodies_->cursor(bodies_.get(), nullptr, &raw, 0);
        if (ret != 0) return db_error("cursor", ret);
        DbcPtr cur(raw);
        char kbuf[64];
        std::string last;
        for (;;) {
            DBT k{};
            k.data = kbuf;
            k.ulen = sizeof kbuf;
            k.flags = DB_DBT_USERMEM;
            DBT d{};
            d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
            ret = cur->get(cur.get(), &k, &d, DB_NEXT);
            if (ret == DB_NOTFOUND) break;
            if (ret == DB_BUFFER_SMALL) continue;  // a key no store of ours writes: skip it
            if (ret != 0) return db_error("scan bodies", ret);
            std::string_view key(kbuf, k.size);
            bool whole = key.size() <= 16;
            std::string qid(whole ? key : key.substr(0, key.size() - 4));
            bool marker = !whole && key == chunk_key(qid, kBodyMarkerIndex);
            if (qid == last) {
                if (marker && !filed.empty() && filed.back() == qid) continue;
                if (marker && (orphans.empty() || orphans.back().first != qid))
                    filed.push_back(qid);
                continue;
            }
            last = qid;
            DBT ek = key_of(qid);
            DBT ed{};
            ed.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
            int got = envelopes_->get(envelopes_.get(), nullptr, &ek, &ed, 0);
            if (got == DB_NOTFOUND) {
                orphans.emplace_back(qid, whole);
            } else if (marker) {
                filed.push_back(qid);
            }
        }
    }
    for (const auto& [qid, whole] : orphans) {
        DbTxn txn;
        int ret = begin(txn);
        if (ret == 0 && whole) {
            DBT k = key_of(qid);
            ret = bodies_->del(bodies_.get(), txn.get(), &k, 0);
            if (ret == DB_NOTFOUND) ret = 0;
        }
        if (ret == 0) ret = del_chunks_in(txn, qid);
        if (ret == 0) ret = txn.commit(kStateCommit);
        if (ret != 0) return db_error(qid + ": remove orphan body", ret);
    }
    std::set<std::string> counted;
    for (const auto& o : orphans)
        counted.insert(o.first);
    auto broken = remove_broken_files(filed);
    if (!broken) return broken.error();
    auto files = remove_unreferenced_files(counted);
    if (!files) return files.error();
    return counted.size() + *broken;
}

// Messages whose body file is missing or shorter than their marker says: their flush did
// not finish (body_file.hpp), so none was acknowledged. Each is removed and logged.
Result<size_t> BdbStore::remove_broken_files(const std::vector<std::string>& filed) {
    size_t n = 0;
    for (const std::string& qid : filed) {
        auto marker = marker_of(qid);
        Error why;
        if (!marker) {
            why = marker.error();
        } else if (!*marker) {
            continue;  // an inline body
        } else {
            auto fd = open_file(qid, **marker);
            if (fd) continue;
            why = fd.error();
        }
        if (why.exit != Exit::data_err) return why;  // an I/O error: keep it, fail the start
        log_error(
            "%s: %s: the message was never acknowledged (its flush did not finish); "
            "removed",
            qid.c_str(), why.message.c_str());
        DbTxn txn;
        int ret = begin(txn);
        if (ret == 0) ret = del_in(txn, qid);
        if (ret == DB_NOTFOUND) ret = 0;
        if (ret == 0) ret = txn.commit(kStateCommit);
        if (ret != 0) return db_error(qid + ": remove a message without its body", ret);
        (void)::unlink(body_file_path(dir_, qid).c_str());
        ++n;
    }
    return n;
}

// Body files without an envelope (a message given up, or killed before its envelope, or
// whose removal was durable before its unlink): removed. counted holds the messages
// already removed, so that none is counted twice.
Result<size_t> BdbStore::remove_unreferenced_files(std::set<std::string>& counted) {
    std::string bodies = dir_ + "/bodies";
    DIR* d = ::opendir(bodies.c_str());
    if (!d) return sys_error("opendir " + bodies, errno, Exit::io_err);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string_view name(e->d_name);
        if (name == "." || name == "..") continue;
        if (!valid_queue_id(name)) {
            log_warning("queue store: %s/%s is not a body file; left alone", bodies.c_str(),
                        e->d_name);
            continue;
        }
        names.emplace_back(name);
    }
    ::closedir(d);
    size_t before = counted.size();
    for (const std::string& qid : names) {
        DBT ek = key_of(qid);
        DBT ed{};
        ed.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
        int got = envelopes_->get(envelopes_.get(), nullptr, &ek, &ed, 0);
        if (got == 0) continue;
        if (got != DB_NOTFOUND) return db_error(qid + ": look up envelope", got);
        if (::unlink(body_file_path(dir_, qid).c_str()) != 0 && errno != ENOENT)
            return sys_error("unlink " + body_file_path(dir_, qid), errno, Exit::io_err);
        counted.insert(qid);
    }
    return counted.size() - before;
}

PutStatus BdbStore::put_chunk(std::string_view qid, uint32_t index, std::string_view bytes,
                              std::string& err) {
    if (!env_) return put_failed(err, "queue store closed");
    if (!valid_queue_id(qid)) return put_failed(err, "invalid queue ID");
    auto it = open_files_.find(std::string(qid));
    if (index == 1) {
        if (it != open_files_.end()) return PutStatus::duplicate;
        std::string path = body_file_path(dir_, qid);
        UniqueFd fd(
            ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) {
            if (errno == EEXIST) return PutStatus::duplicate;
            err = sys_error("create " + path, errno).message;
            return PutStatus::failed;
        }
        it = open_files_.emplace(std::string(qid), OpenFile{std::move(fd)}).first;
    } else if (it == open_files_.end() || index != it->second.chunks + 1) {
        err = "body chunk " + std::to_string(index) + " out of order";
        return PutStatus::failed;
    }
    OpenFile& f = it->second;
    if (auto c = catch_up(f); !c) {
        err = c.error().message;
        return PutStatus::failed;
    }
    if (auto w = pwrite_all(f.fd.get(), bytes, f.end); !w) {
        err = w.error().message;
        return PutStatus::failed;
    }
    f.end += bytes.size();
    f.chunks = index;
    return PutStatus::ok;
}

PutStatus BdbStore::put_streamed(const Envelope& env, std::string_view head, uint32_t chunks,
                                 std::string& err) {
    if (!env_) return put_failed(err, "queue store closed");
    auto it = open_files_.find(env.queue_id);
    if (it == open_files_.end() || it->second.chunks != chunks) {
        err = env.queue_id + ": the body's chunks are not all stored";
        return PutStatus::failed;
    }
    OpenFile& f = it->second;
    if (auto c = catch_up(f); !c) {
        err = c.error().message;
        return PutStatus::failed;
    }
    BodyMarker m;
    m.head_inline = head.size() > kBodyHeadRoom;
    m.offset = m.head_inline ? kBodyHeadRoom : kBodyHeadRoom - head.size();
    m.size = f.end - m.offset;
    if (!m.head_inline) {
        if (auto w = pwrite_all(f.fd.get(), head, m.offset); !w) {
            err = w.error().message;
            return PutStatus::failed;
        }
    }
    DbTxn txn;
    if (int ret = begin(txn); ret != 0) return put_failed(err, db_strerror(ret));
    std::string rec = encode_envelope(env);
    DBT k = key_of(env.queue_id);
    DBT d = key_of(rec);
    int ret = envelopes_->put(envelopes_.get(), txn.get(), &k, &d, DB_NOOVERWRITE);
    std::string mkey = chunk_key(env.queue_id, kBodyMarkerIndex);
    std::string mrec = encode_body_marker(m);
    if (ret == 0) {
        DBT mk = key_of(mkey);
        DBT mv = key_of(mrec);
        ret = bodies_->put(bodies_.get(), txn.get(), &mk, &mv, DB_NOOVERWRITE);
    }
    if (ret == 0 && m.head_inline) {
        std::string hkey = chunk_key(env.queue_id, 0);
        DBT hk = key_of(hkey);
        DBT h = key_of(head);
        ret = bodies_->put(bodies_.get(), txn.get(), &hk, &h, DB_NOOVERWRITE);
    }
    if (ret == DB_KEYEXIST) return PutStatus::duplicate;
    if (ret == 0) ret = txn.commit(DB_TXN_NOSYNC);
    if (ret != 0) return put_failed(err, db_strerror(ret));
    // The next flush makes the file durable with the log that now refers to it.
    {
        std::lock_guard lock(sync_mu_);
        to_sync_.push_back(std::move(f.fd));
    }
    open_files_.erase(it);
    return PutStatus::ok;
}

Result<void> BdbStore::catch_up(OpenFile& f) {
    if (!f.lent) return {};
    struct stat st {};
    if (::fstat(f.fd.get(), &st) != 0) return sys_error("fstat body file", errno, Exit::io_err);
    f.end = std::max<uint64_t>(f.end, static_cast<uint64_t>(st.st_size));
    return {};
}

// The file's own description (its offset is used by no one here: every write of the
// store is a pwrite), set where the content continues.
int BdbStore::body_writer(std::string_view qid) {
    auto it = open_files_.find(std::string(qid));
    if (!env_ || it == open_files_.end()) return -1;
    OpenFile& f = it->second;
    if (!catch_up(f) ||
        ::lseek(f.fd.get(), static_cast<off_t>(f.end), SEEK_SET) != static_cast<off_t>(f.end))
        return -1;
    f.lent = true;
    return f.fd.get();
}

uint64_t BdbStore::streamed_bytes(std::string_view qid) {
    auto it = open_files_.find(std::string(qid));
    if (it == open_files_.end()) return 0;
    (void)catch_up(it->second);
    return it->second.end - kBodyHeadRoom;
}

Result<void> BdbStore::remove_chunks(std::string_view qid, uint32_t chunks) {
    if (!env_) return closed_error();
    if (chunks == 0) return {};
    if (auto it = open_files_.find(std::string(qid)); it != open_files_.end()) {
        open_files_.erase(it);
        std::string path = body_file_path(dir_, qid);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            return sys_error("unlink " + path, errno, Exit::io_err);
        return {};
    }
    // Chunk records written by a store before body files.
    DbTxn txn;
    int ret = begin(txn);
    for (uint32_t i = 1; ret == 0 && i <= chunks; ++i) {
        std::string key = chunk_key(qid, i);
        DBT k = key_of(key);
        ret = bodies_->del(bodies_.get(), txn.get(), &k, 0);
        if (ret == DB_NOTFOUND) ret = 0;
    }
    if (ret == 0) ret = txn.commit(kStateCommit);
    if (ret != 0) return db_error(std::string(qid) + ": remove chunks", ret);
    return {};
}

// The body files completed since the last flush, their directory and the log, all made
// durable before flush() returns. The body files' fdatasyncs run concurrently (up to
// kSyncThreads threads, beside the directory fsync and the log flush on this one), so the
// file system commits their metadata in one journal transaction instead of one each. The
// order among them does not matter for the promise: nothing is acknowledged before all
// of them returned, and a marker that reached the disk without its file's data (a power
// failure mid-flush) belongs to a message never acknowledged, which start-up removes.
Result<void> BdbStore::flush() {
    DB_ENV* env = env_.get();
    if (!env) return closed_error();
    std::lock_guard one_at_a_time(flush_mu_);  // syncs_ serves one flush at a time
    std::vector<UniqueFd> files;
    std::vector<std::string> unlinks;
    {
        std::lock_guard lock(sync_mu_);
        files.swap(to_sync_);
        unlinks.swap(to_unlink_);
    }
    auto keep_unlinks = [&] {
        std::lock_guard lock(sync_mu_);
        to_unlink_.insert(to_unlink_.end(), unlinks.begin(), unlinks.end());
    };
    for (const UniqueFd& f : files)
        (void)::sync_file_range(f.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    std::vector<int> errs(files.size(), 0);
    syncs_.start(files, errs);
    Result<DirSync> dir_synced = DirSync::done;
    if (!files.empty()) dir_synced = fsync_dir(dir_ + "/bodies");
    int ret = env->log_flush(env, nullptr);
    syncs_.wait();
    for (int e : errs) {
        if (e != 0) {
            keep_unlinks();
            return sys_error("fdatasync body file", e, Exit::io_err);
        }
    }
    if (!dir_synced) {
        keep_unlinks();
        return dir_synced.error();
    }
    if (ret != 0) {
        keep_unlinks();
        return db_error("log_flush", ret);
    }
    std::lock_guard lock(sync_mu_);
    reclaimable_.insert(reclaimable_.end(), unlinks.begin(), unlinks.end());
    return {};
}

// Log files: Berkeley DB zero-fills a new log file (DB_LOG_ZERO) so that appending a
// commit overwrites allocated blocks, and fdatasync has no file size to journal. But it
// fills the file in the thread that switches to it, holding the log: with 64 MiB files
// every commit then waits about a quarter of a second once per 64 MiB of log. So the
// reclaimer thread writes the next file's zeros ahead of time, under a temporary name,
// makes them durable and links the file into place (never over a file Berkeley DB made
// first), and only then turns DB_LOG_ZERO off; after each switch it is turned on again
// until the following file is ready. Either way a switch is correct: at worst it zeroes
// a file that was ready, or, if the flag was off when it should not be, writes into a
// sparse file whose flushes cost more. A ready file left unused by a stop is an empty
// last log file, which is what a crash in the middle of Berkeley DB's own zero-filling
// leaves: recovery starts writing into it.
constexpr const char* kLogPrepareName = "log-prepare.tmp";
constexpr int64_t kLogCheckMs = 200;
constexpr size_t kZeroChunk = 1u << 20;
constexpr size_t kZeroPace = 8u << 20;  // written back a piece at a time, not all at once

std::string log_file_name(uint32_t n) {
    char name[32];
    std::snprintf(name, sizeof name, "log.%010u", static_cast<unsigned>(n));
    return name;
}

// Writes `size` zero bytes into dir/<kLogPrepareName>, syncs them and links the file
// into place as log file `number`. False (and errno kept in *err) on a failure.
bool write_ready_log(const std::string& dir, uint32_t number, uint64_t size, int* err) {
    std::string tmp = dir + "/" + kLogPrepareName;
    std::string final_path = dir + "/" + log_file_name(number);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = errno;
        return false;
    }
    static const std::vector<char> zeros(kZeroChunk, 0);
    int e = 0;
    uint64_t paced = 0;
    for (uint64_t off = 0; off < size && e == 0;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, size - off));
        ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        off += static_cast<uint64_t>(w);
        if (off - paced >= kZeroPace) {
            (void)::sync_file_range(
                fd, static_cast<off_t>(paced), static_cast<off_t>(off - paced),
                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
            paced = off;
        }
    }
    if (e == 0 && ::fdatasync(fd) != 0) e = errno;
    ::close(fd);
    if (e == 0 && ::link(tmp.c_str(), final_path.c_str()) != 0 && errno != EEXIST) e = errno;
    (void)::unlink(tmp.c_str());
    if (e == 0) {
        if (auto r = fsync_dir(dir); !r) e = EIO;
    }
    *err = e;
    return e == 0;
}

void BdbStore::prepare_next_log() {
    int64_t now = monotonic_ms();
    if (now < next_log_check_ms_ || !env_) return;
    next_log_check_ms_ = now + kLogCheckMs;
    DB_LOG_STAT* st = nullptr;
    if (env_->log_stat(env_.get(), &st, 0) != 0 || !st) return;
    uint32_t next = st->st_cur_file + 1;
    uint64_t size = st->st_lg_size;
    std::free(st);
    if (next == prepared_log_) return;
    // A new current file: the one after it is not ready yet.
    (void)env_->log_set_config(env_.get(), DB_LOG_ZERO, 1);
    int err = 0;
    if (size == 0 || !write_ready_log(dir_, next, size, &err)) {
        log_warning(
            "queue store: could not prepare log file %s (%s); Berkeley DB zero-fills "
            "it when it switches",
            log_file_name(next).c_str(), std::strerror(err ? err : EINVAL));
    } else {
        (void)env_->log_set_config(env_.get(), DB_LOG_ZERO, 0);
    }
    prepared_log_ = next;  // one attempt per file
}

void BdbStore::reclaim() {
    std::vector<std::string> paths;
    {
        std::lock_guard lock(sync_mu_);
        paths.swap(reclaimable_);
    }
    for (const std::string& path : paths)
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            log_error("queue store: unlink %s: %s", path.c_str(), std::strerror(errno));
}

Result<BodyFd> BdbStore::open_body(std::string_view qid) {
    if (!env_) return closed_error();
    auto marker = marker_of(qid);
    if (!marker) return marker.error();
    if (!*marker || (*marker)->head_inline) return QueueStore::open_body(qid);
    auto fd = open_file(qid, **marker);
    if (!fd) return fd.error();
    BodyFd b;
    b.fd = std::move(*fd);
    b.offset = (*marker)->offset;
    b.size = (*marker)->size;
    return b;
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
    std::string bodies_dir = dir + "/bodies";
    if (::mkdir(bodies_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return sys_error("mkdir " + bodies_dir, errno);
    if (::stat(bodies_dir.c_str(), &st) != 0) return sys_error("stat " + bodies_dir, errno);
    if (!S_ISDIR(st.st_mode)) return make_error(Exit::os_file, bodies_dir + ": not a directory");
    KeepOpenMessages messages;
    auto failed = [&](const Error& e) {
        Error out = open_error(dir, e, messages.lines());
        messages.release(out.exit == Exit::data_err);
        return out;
    };
    // A log file being prepared when the queue stopped: never linked, never used.
    (void)::unlink((dir + "/" + kLogPrepareName).c_str());
    auto env = open_env(dir, cache_bytes, log_file_bytes);
    if (!env) return failed(env.error());
    auto envelopes = open_db(env->get(), "envelopes.db", 0, kRecordPageSize);
    if (!envelopes) return failed(envelopes.error());
    auto bodies = open_db(env->get(), "bodies.db", 0, kRecordPageSize);
    if (!bodies) return failed(bodies.error());
    auto due = open_db(env->get(), "due.db", DB_DUP | DB_DUPSORT);
    if (!due) return failed(due.error());
    if (auto mark = read_checkpoint_mark(dir)) {
        DB_LSN end{};
        if (int ret = log_end(env->get(), &end); ret != 0)
            return failed(db_error("log_cursor", ret));
        if (log_compare(&*mark, &end) > 0) {
            Error e = make_error(
                Exit::data_err, unrecoverable_message(dir, UnrecoverableStore{true, kCheckpointMark,
                                                                              lsn_text(*mark)}) +
                                    "; the log ends at " + lsn_text(end));
            messages.release(true);
            return e;
        }
    }
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
        std::make_unique<BdbStore>(dir, std::move(env.value()), std::move(envelopes.value()),
                                   std::move(bodies.value()), std::move(due.value()));
    return store;
}

}  // namespace tegami::queue
