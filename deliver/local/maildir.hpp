// maildir.hpp - writes one message into a user's Maildir: tmp/<unique>, fsync, rename
// into new/, fsync new/. Called in the delivery child as the recipient; pure apart from
// the file system, so tests run it on a temporary directory.
#pragma once

#include <sys/time.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "deliver/local/message_format.hpp"
#include "lib/core/result.hpp"

namespace tegami::local {

// The configured maildir pattern for one user: a leading "~" is the home directory,
// "%u" the user name, and a relative result is taken relative to the home directory.
std::string expand_maildir_path(std::string_view pattern, std::string_view user,
                                std::string_view home);

// "<sec>.M<usec>P<pid>Q<seq>.<host>" with '/' and ':' in host written as \057 and \072.
std::string maildir_unique(const timeval& tv, pid_t pid, unsigned long seq, std::string_view host);

// Creates root and its tmp, new and cur (mode 0700) when missing, then delivers.
// Returns the path of the file in new/. Errors: EX_CANTCREAT (cannot create or open the
// tree), EX_TEMPFAIL (write, fsync or rename failed; nothing is left behind). The file is
// made and written piece octets at a time (MessagePieces).
Result<std::string> deliver_maildir(const std::string& root, std::string_view hostname,
                                    const MailMessage& msg, unsigned long seq,
                                    size_t piece = kWritePiece);

}  // namespace tegami::local
