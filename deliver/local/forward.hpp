// forward.hpp - reading a user's ~/.forward the way sendmail does: as the user (in a
// short-lived child that has become the user, when the daemon can switch users), and
// only when it is safe. Called by the local server for each mailbox an expansion
// reaches (deliver/local/expand.cpp asks through ForwardReader).
//
// Safe means: a regular file (not a symbolic link), owned by the user or root, not
// writable by group or others, in a home directory owned by the user or root and not
// writable by group or others. An unsafe .forward is ignored with a log line and the
// mail goes to the mailbox. Only a file that exists costs a child: the daemon first
// looks with stat(2) and skips users without one (ENOENT). :include: files reached from a
// .forward are read the same way, as the .forward's user.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "deliver/local/expand.hpp"
#include "lib/core/result.hpp"

namespace tegami::local {

constexpr size_t kMaxForwardFile = 64u * 1024u;

// The checks on an open .forward and its directory; false with why when unsafe. Pure
// apart from fstat/stat.
Result<void> forward_safe(int fd, const std::string& home, uid_t uid);

// The targets text of user's .forward, nullopt when there is none or it is unsafe (then
// logged). An error (cannot fork, the reader timed out) means try again later.
// switch_user: read in a child that becomes the user; else read here.
Result<std::optional<std::string>> read_forward(const LocalUser& user, bool switch_user);

// Runs reader in a short-lived child that has become user `name` (no capabilities, an
// alarm, only the pipe kept) and returns what it wrote, at most limit bytes. An error:
// try again later (no pipe, no fork).
Result<std::string> read_in_child_as(const std::string& name,
                                     const std::function<std::string()>& reader, size_t limit);

// An :include: file read for the controlling user `as` (expand.hpp IncludeReader): by
// this process for 0 (the aliases file) or when it cannot switch users, else in a child
// that has become that user, so a user's .forward can include only what the user can read
// (sendmail's rule); the safe-file checks run either way.
Result<IncludeText> read_include_as(const std::string& path, uid_t as, bool switch_user);

}  // namespace tegami::local
