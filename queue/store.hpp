// store.hpp - the queue store interface: where envelopes and bodies live. Two
// implementations: Berkeley DB (store_bdb.cpp, durable, for real use) and memory
// (store_memory.cpp, for unit tests and `queue_store = memory` benchmarks).
//
// Called by the queue daemon's main thread for every operation, and by the committer's
// flusher thread for flush() only; flush() must be safe to run concurrently with the
// other operations.
//
// Durability contract: put/update/remove each commit one transaction that is atomic but
// not yet on stable storage; flush() makes every transaction committed before it started
// durable (group commit: one flush covers any number of commits). Committed transactions
// become durable in commit order, so a later durable write implies every earlier one.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"
#include "queue/envelope.hpp"

namespace tegami::queue {

enum class PutStatus { ok, duplicate, failed };

class QueueStore {
  public:
    virtual ~QueueStore() = default;

    // Stores a new message (envelope and body) in one transaction. A queue ID already
    // present is refused (duplicate) and nothing is written.
    virtual PutStatus put(const Envelope& env, std::string_view body, std::string& err) = 0;
    // Makes every earlier commit durable (fsync of the log). Thread-safe.
    virtual Result<void> flush() = 0;
    virtual Result<Envelope> load_envelope(std::string_view queue_id) = 0;
    virtual Result<std::string> load_body(std::string_view queue_id) = 0;
    // Replaces an existing envelope (recipient states) in one transaction.
    virtual Result<void> update(const Envelope& env) = 0;
    // Removes envelope and body of a message in one transaction.
    virtual Result<void> remove(std::string_view queue_id) = 0;
    // Removes message queue_id and stores a new message (its bounce) in one transaction,
    // so a crash leaves either the original or the bounce, never both or neither.
    virtual PutStatus remove_and_put(std::string_view queue_id, const Envelope& env,
                                     std::string_view body, std::string& err) = 0;
    // Calls each() for every stored envelope (start-up: rebuild the schedule). A corrupt
    // record is reported through bad() and skipped, never deleted.
    virtual Result<void> scan(const std::function<void(Envelope&&)>& each,
                              const std::function<void(const Error&)>& bad) = 0;
    // Writes cached pages and lets old log files go (periodic, and before close).
    virtual Result<void> checkpoint() = 0;
    // Flushes, checkpoints and closes; further calls fail.
    virtual Result<void> close() = 0;
    // "bdb" or "memory", for logs.
    virtual const char* kind() const = 0;
};

std::unique_ptr<QueueStore> make_memory_store();
// Opens (creating dir 0700 and running recovery) the Berkeley DB environment in dir.
Result<std::unique_ptr<QueueStore>> open_bdb_store(const std::string& dir, uint64_t cache_bytes);

}  // namespace tegami::queue
