// mbox_journal.hpp - the per-mailbox delivery journal that makes an mbox append
// recoverable and a retried delivery idempotent. It lives next to the mailbox as
// ".USER.tegami" (in mail_spool_dir; owned by the user, mode 0600) and is read and
// rewritten only by a delivery child holding the mailbox's locks:
//
//   tegami-mbox-journal 1
//   inode N                      the mailbox the entries are about
//   pending OLD NEW QID,QID,...  an append in progress: size before and after ("-": no IDs)
//   done QID END                 a message appended whole, ending at offset END
//
// Before an append the child writes the pending line and syncs the journal; after the
// append and the mailbox fsync the batch is complete. Recovery (the next child, before
// it writes anything) resolves a pending line: the mailbox at NEW means the append
// completed (its messages become done); between OLD and NEW means it was cut (the
// mailbox is truncated back to OLD); at OLD, nothing was written. A message listed as
// done is not appended again: a retry after a crash that lost the queue's record of
// the success costs no duplicate. The last kMaxDone entries are kept.
//
// parse/format are pure; recover_mbox and the writes run in the delivery child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::local {

constexpr size_t kMaxDone = 256;

struct MboxJournal {
    uint64_t inode = 0;
    struct Pending {
        uint64_t old_size = 0, new_size = 0;
        std::vector<std::string> qids;
    };
    std::optional<Pending> pending;
    struct Done {
        std::string qid;
        uint64_t end = 0;
    };
    std::vector<Done> done;  // oldest first

    bool delivered(std::string_view qid) const;
};

// A journal that does not parse is treated as empty (and rewritten): it can only hold
// what this user's own deliveries wrote.
std::optional<MboxJournal> parse_journal(std::string_view text);
std::string format_journal(const MboxJournal& j);

// What recovery decided for a pending append, for the log.
enum class Recovery { none, completed, cut_back, untouched, foreign };

// Resolves j.pending against the mailbox (fd, now of size `size`, inode `inode`):
// truncates and fsyncs a cut entry, moves completed qids to done. A journal about
// another inode is reset. Returns what it did; size is updated.
Result<Recovery> recover_mbox(MboxJournal& j, int mbox_fd, uint64_t inode, uint64_t& size);

// The journal file: opened (created 0600) without following links in the spool
// directory; read whole; rewritten whole and synced (fdatasync).
Result<int> open_journal(int dirfd, const std::string& user);
Result<MboxJournal> read_journal(int fd);
Result<void> write_journal(int fd, const MboxJournal& j, bool sync);

}  // namespace tegami::local
