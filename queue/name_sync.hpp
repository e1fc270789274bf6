// name_sync.hpp - makes every name Berkeley DB creates, renames or removes durable
// before Berkeley DB uses it. Installed (once per process) through Berkeley DB's
// system-call replacement interface (db_env_set_func_open/rename/unlink): after an
// open with O_CREAT, a rename or an unlink succeeds, the directory holding the name is
// fsync'ed before the call returns to Berkeley DB. So a new log file's name is durable
// before the first record is written into it, hence before any commit in it is flushed
// and acknowledged, and before any database page that refers to it (checkpoint or
// cache eviction, whichever thread does it) can be written; a removed log file is gone
// for good before the checkpoint that removed it returns. Why this mechanism and not a
// check after each flush: doc/QUEUE.md, "Names".
//
// Called by open_bdb_store before it creates the environment. The hooks run in any
// thread that calls into Berkeley DB (loop thread or flusher thread).
#pragma once

#include <cstdint>

namespace tegami::queue {

// Installs the hooks (idempotent, thread-safe). Process-wide: every Berkeley DB handle
// of the process uses them.
void install_name_sync();

struct NameSyncStats {
    uint64_t dir_syncs = 0;    // directory fsyncs done by the hooks
    uint64_t unsupported = 0;  // directory fsyncs the file system refused as unsupported
};
NameSyncStats name_sync_stats();

}  // namespace tegami::queue
