// mbox.hpp - appends one message to a user's mbox file (mail_spool_dir/USER), the way
// mail.local does: dotlock USER.lock and an fcntl write lock, From_ line and mboxrd
// quoting, fsync, and on any failure the file cut back to its old size; the journal
// .USER.tegami beside it (deliver/local/mbox_journal.hpp) lets the next delivery cut back
// an append a crash interrupted and skip messages already appended. Called in the
// delivery child, already running as the recipient (or as the daemon's own user in an
// unprivileged sandbox); takes an open directory so tests need no fork or privilege.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>
#include <vector>

#include "deliver/local/message_format.hpp"
#include "lib/core/result.hpp"

namespace tegami::local {

struct MboxOptions {
    int lock_wait_ms = 30000;  // how long to retry the dotlock and the fcntl lock
    int retry_ms = 100;        // pause between attempts
    int stale_lock_sec = 300;  // a dotlock older than this is removed
};

struct MboxDelivered {
    std::string path;  // dir_path/user
    std::string note;  // for the log, e.g. that the dotlock was skipped
};

// spool_dirfd: the open mail spool directory (dir_path names it in messages).
// user: the mailbox name (a passwd name: no '/'); owner: the uid the file must have.
// Errors carry sysexits codes: EX_TEMPFAIL (locks, write, fsync: file restored),
// EX_CANTCREAT (cannot open or create; symlink, not a regular file, wrong owner, links),
// EX_NOUSER (a name that cannot be a mailbox).
Result<MboxDelivered> deliver_mbox(int spool_dirfd, const std::string& dir_path,
                                   const std::string& user, uid_t owner, const MailMessage& msg,
                                   time_t when, const MboxOptions& opt = {});

// Several messages for the same mailbox under one lock, appended and fsynced together:
// either all are delivered or the file is cut back and none is. The entries are sized
// first (for the journal), then made and written 256 KiB at a time, so memory stays
// bounded whatever the batch's size; bodies marked MailMessage::mapped give back their
// pages as they are read.
Result<MboxDelivered> deliver_mbox_batch(int spool_dirfd, const std::string& dir_path,
                                         const std::string& user, uid_t owner,
                                         const std::vector<MailMessage>& msgs, time_t when,
                                         const MboxOptions& opt = {});

}  // namespace tegami::local
