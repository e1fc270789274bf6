// store.hpp - the queue store interface: where envelopes and bodies live. Two
// implementations: Berkeley DB (store_bdb.cpp, durable, for real use) and memory
// (store_memory.cpp, for unit tests and `queue_store = memory` benchmarks). Both keep a
// due index beside the envelopes, so the runner finds what is due without holding every
// envelope in memory.
//
// Called by the queue daemon's main thread for every operation, by the committer's
// flusher thread for flush() and checkpoint(), and by its reclaimer thread for
// reclaim(); those must be safe to run concurrently with the other operations.
//
// Durability contract: put/update/remove each commit one transaction that is atomic but
// not yet on stable storage; flush() makes every transaction committed before it started
// durable (group commit: one flush covers any number of commits). Committed transactions
// become durable in commit order, so a later durable write implies every earlier one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"
#include "queue/envelope.hpp"

namespace tegami::queue {

enum class PutStatus { ok, duplicate, failed };

// A body handed to a delivery agent without copying it per attempt: a read-only
// descriptor and the range [offset, offset + size) of it that is the message (header and
// body as queued). A body file of the store (offset past its head room), or a sealed memfd
// of exactly size octets at offset 0.
struct BodyFd {
    UniqueFd fd;
    uint64_t offset = 0;
    uint64_t size = 0;
};

// A sealed memfd holding bytes (written once; neither side can change it afterwards).
Result<BodyFd> sealed_body_memfd(std::string_view bytes);

class QueueStore {
  public:
    virtual ~QueueStore() = default;

    // Stores a new message (envelope and body) in one transaction. A queue ID already
    // present is refused (duplicate) and nothing is written.
    virtual PutStatus put(const Envelope& env, std::string_view body, std::string& err) = 0;
    // Streamed bodies (doc/QUEUE.md "Streamed bodies"): chunk `index` (1, 2, ...) of the
    // content of message queue_id, stored at once (the Berkeley DB store appends it to the
    // message's body file, outside the log), not durable until a later flush, and not a
    // message until put_streamed() adds its envelope. Chunks come in order; a body already
    // stored under that name is refused (duplicate).
    // (The defaults refuse: a store without streamed bodies, such as a test's fake.)
    virtual PutStatus put_chunk(std::string_view /*queue_id*/, uint32_t /*index*/,
                                std::string_view /*bytes*/, std::string& err) {
        err = "this store keeps no streamed bodies";
        return PutStatus::failed;
    }
    // Stores the envelope and the head (the header block smtpd puts before the content)
    // of a message whose chunks 1..chunks are stored already, in one transaction: from
    // then on the message is head + chunks, loaded, removed and recovered as one.
    virtual PutStatus put_streamed(const Envelope& /*env*/, std::string_view /*head*/,
                                   uint32_t /*chunks*/, std::string& err) {
        err = "this store keeps no streamed bodies";
        return PutStatus::failed;
    }
    // A body being streamed may also be written by smtpd itself (doc/QUEUE.md "Streamed
    // bodies"): after chunk 1, a descriptor of its body file open for writing whose file
    // offset is where the next content octet goes, borrowed (valid until put_streamed or
    // remove_chunks; the caller passes it on, never writes with it). From then on the
    // content is what was written through it after the chunks. -1: this store takes the
    // content in chunks only.
    virtual int body_writer(std::string_view /*queue_id*/) { return -1; }
    // The content octets a body being streamed holds so far (chunks and direct writes).
    virtual uint64_t streamed_bytes(std::string_view /*queue_id*/) { return 0; }
    // Removes chunks 1..chunks of a message that will never get its envelope.
    virtual Result<void> remove_chunks(std::string_view /*queue_id*/, uint32_t /*chunks*/) {
        return {};
    }
    // Removes every body record without an envelope (chunks of a message whose sender,
    // smtpd or queue died mid-body). Start-up only; returns the messages cleaned.
    virtual Result<size_t> remove_orphan_bodies() { return size_t{0}; }
    // Makes every earlier commit durable (fdatasync of the body files completed since the
    // last flush and of their directory, then fsync of the log). Thread-safe.
    virtual Result<void> flush() = 0;
    // Removes what the last successful flush made removable (the body files of messages
    // whose removal it made durable). Called by the committer's reclaimer thread after
    // the flush's completions are handed to the loop, so that neither a reply nor the
    // next flush waits for it. Thread-safe.
    virtual void reclaim() {}
    // Background upkeep that must not delay a flush (the Berkeley DB store prepares its
    // next log file). Called by the reclaimer thread after reclaim(), never at close.
    virtual void maintain() {}
    virtual Result<Envelope> load_envelope(std::string_view queue_id) = 0;
    virtual Result<std::string> load_body(std::string_view queue_id) = 0;
    // At most max leading octets of the body (all of it when shorter), reading no more
    // of it than that: what a report that quotes only the header section needs. The
    // default cuts load_body's copy.
    virtual Result<std::string> load_body_prefix(std::string_view queue_id, uint64_t max) {
        auto body = load_body(queue_id);
        if (body && body->size() > max) body->resize(static_cast<size_t>(max));
        return body;
    }
    // The body for a delivery agent (BodyFd above). The default copies load_body into a
    // sealed memfd; a store that keeps bodies in files hands out the file itself.
    virtual Result<BodyFd> open_body(std::string_view queue_id) {
        auto body = load_body(queue_id);
        if (!body) return body.error();
        return sealed_body_memfd(*body);
    }
    // Replaces an existing envelope (recipient states) in one transaction.
    virtual Result<void> update(const Envelope& env) = 0;
    // Removes envelope and body of a message in one transaction.
    virtual Result<void> remove(std::string_view queue_id) = 0;
    // Removes message queue_id and stores a new message (its bounce) in one transaction,
    // so a crash leaves either the original or the bounce, never both or neither.
    virtual PutStatus remove_and_put(std::string_view queue_id, const Envelope& env,
                                     std::string_view body, std::string& err) = 0;
    // Replaces envelope env (recipient states) and stores a new message (a success report)
    // in one transaction: a crash leaves the old state without the report, or both.
    virtual PutStatus update_and_put(const Envelope& env, const Envelope& new_env,
                                     std::string_view body, std::string& err) = 0;
    // Calls each() for every stored envelope (start-up: rebuild the schedule). A corrupt
    // record is reported through bad() and skipped, never deleted.
    virtual Result<void> scan(const std::function<void(Envelope&&)>& each,
                              const std::function<void(const Error&)>& bad) = 0;
    // The due index, kept by put/update/remove/remove_and_put in the same transaction as
    // the envelope (key: envelope_due; held messages are not in it). Calls each(qid, due)
    // for the messages due at or before `until`, earliest first, ties in queue-ID order,
    // while each returns true; next becomes the due time of the first message after
    // `until` (UINT64_MAX when there is none or each stopped the walk). each must not write
    // to the store (a cursor is open).
    virtual Result<void> scan_due(uint64_t until,
                                  const std::function<bool(std::string_view, uint64_t)>& each,
                                  uint64_t& next) = 0;
    // Calls each() for the stored envelopes whose queue ID sorts after `after`, in
    // queue-ID order, while it returns true (a corrupt record goes to bad()); each must
    // not write to the store.
    virtual Result<void> scan_after(std::string_view after,
                                    const std::function<bool(Envelope&&)>& each,
                                    const std::function<void(const Error&)>& bad) = 0;
    // The body's size in octets, without reading it.
    virtual Result<uint64_t> body_size(std::string_view queue_id) = 0;
    // Writes cached pages and lets old log files go (periodic, and before close).
    virtual Result<void> checkpoint() = 0;
    // Flushes, checkpoints and closes; further calls fail.
    virtual Result<void> close() = 0;
    // "bdb" or "memory", for logs.
    virtual const char* kind() const = 0;
};

std::unique_ptr<QueueStore> make_memory_store();
// What Berkeley DB said about a database page whose LSN is past the end of the log
// ("BDB2506 file envelopes.db has LSN 3/294818, past end of log at 2/1024"): the store
// cannot be recovered by normal recovery. found is false for any other line.
struct UnrecoverableStore {
    bool found = false;
    std::string file;  // "envelopes.db", or empty when the line does not say
    std::string lsn;   // "3/294818", or empty
};
UnrecoverableStore parse_unrecoverable(std::string_view line);
// The one fatal line for an unrecoverable store in dir: file, LSN, and the recovery
// steps (db_recover -c -h dir, or moving the environment aside).
std::string unrecoverable_message(const std::string& dir, const UnrecoverableStore& u);

// Log file size bounds (queue_log_file_size); values outside are clamped.
constexpr uint64_t kMinLogFileSize = 256u * 1024u;
constexpr uint64_t kMaxLogFileSize = 1024u * 1024u * 1024u;
constexpr uint64_t kDefaultLogFileSize = 64u * 1024u * 1024u;
// Opens (creating dir 0700 and running recovery) the Berkeley DB environment in dir; the
// due index (due.db) is built from envelopes.db when it is missing (a store made before it).
Result<std::unique_ptr<QueueStore>> open_bdb_store(const std::string& dir, uint64_t cache_bytes,
                                                   uint64_t log_file_bytes = kDefaultLogFileSize);

}  // namespace tegami::queue
