// dir_sync.hpp - making directory entries durable. A file's fsync makes its contents
// durable, not its name: POSIX (and some file systems and mount options in practice)
// need an fsync of the directory that holds the name after the name was created,
// renamed or removed. Used by the queue (names Berkeley DB makes in queue_dir), local
// delivery (new Maildirs) and master (the start-up check that the queue's file system
// can do it at all).
//
// Trusts the paths it is given; follows no policy of its own except this one: a file
// system that refuses a directory fsync as unsupported (EINVAL, ENOTSUP, EROFS: it has
// no way to make a name durable on request) is reported as `unsupported`, which callers
// log once and treat as done; every other failure is an error.
#pragma once

#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace tegami {

enum class DirSync { done, unsupported };

// fsync(2) of the directory dir (opened O_RDONLY|O_DIRECTORY).
Result<DirSync> fsync_dir(const std::string& dir);
// fsync of an open directory descriptor; `shown` names it in errors.
Result<DirSync> fsync_dir_fd(int dirfd, const std::string& shown);
// The directory that holds path's last component: "/a/b" -> "/a", "b" -> ".",
// "/b" -> "/". Trailing slashes are ignored.
std::string parent_dir(std::string_view path);
// fsync_dir(parent_dir(path)).
Result<DirSync> fsync_parent(std::string_view path);
// True for the errno values that mean "this file system cannot fsync a directory".
bool dir_sync_unsupported(int err);

}  // namespace tegami
