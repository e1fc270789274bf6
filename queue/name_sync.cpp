// name_sync.cpp - see name_sync.hpp. The replacement calls do exactly what the system
// call does, then the directory fsync. When that fsync fails (other than "not supported
// by this file system", logged once) the call reports the fsync's errno: the name change
// itself has happened but is not known to be durable, so Berkeley DB fails what it was
// doing (a log write: the commit fails and smtpd answers 4.3.0, never 250; an open at
// start-up: the queue does not start) rather than build on it.
#include "queue/name_sync.hpp"

#include <db.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "lib/core/dir_sync.hpp"
#include "lib/core/log.hpp"

namespace tegami::queue {

namespace {

std::atomic<uint64_t> g_syncs{0};
std::atomic<uint64_t> g_unsupported{0};

// 0 after the directory holding path is fsync'ed; else the errno of the failure.
int sync_parent_of(const char* path) {
    std::string dir = parent_dir(path);
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        log_error("queue store: open %s: %s", dir.c_str(), std::strerror(err));
        return err;
    }
    int rc = ::fsync(fd);
    int err = rc == 0 ? 0 : errno;
    ::close(fd);
    g_syncs.fetch_add(1, std::memory_order_relaxed);
    if (err == 0) return 0;
    if (!dir_sync_unsupported(err)) {
        log_error("queue store: fsync %s: %s", dir.c_str(), std::strerror(err));
        return err;
    }
    if (g_unsupported.fetch_add(1, std::memory_order_relaxed) == 0)
        log_warning(
            "queue store: the file system of %s cannot fsync a directory (%s): new "
            "log file names may not survive a power failure",
            dir.c_str(), std::strerror(err));
    return 0;
}

int open_synced(const char* path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) != 0) {
        va_list ap;
        va_start(ap, flags);
        mode = static_cast<mode_t>(va_arg(ap, int));
        va_end(ap);
    }
    int fd = ::open(path, flags, mode);
    if (fd < 0 || (flags & O_CREAT) == 0) return fd;
    if (int err = sync_parent_of(path); err != 0) {
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int rename_synced(const char* from, const char* to) {
    if (::rename(from, to) != 0) return -1;
    int err = sync_parent_of(to);
    if (err == 0 && parent_dir(from) != parent_dir(to)) err = sync_parent_of(from);
    if (err != 0) errno = err;
    return err == 0 ? 0 : -1;
}

int unlink_synced(const char* path) {
    if (::unlink(path) != 0) return -1;
    int err = sync_parent_of(path);
    if (err != 0) errno = err;
    return err == 0 ? 0 : -1;
}

}  // namespace

void install_name_sync() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (db_env_set_func_open(open_synced) != 0 || db_env_set_func_rename(rename_synced) != 0 ||
            db_env_set_func_unlink(unlink_synced) != 0)
            log_panic("queue store: cannot install Berkeley DB's file name hooks");
    });
}

NameSyncStats name_sync_stats() {
    return NameSyncStats{g_syncs.load(), g_unsupported.load()};
}

}  // namespace tegami::queue
