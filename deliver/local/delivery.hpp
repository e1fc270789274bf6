// delivery.hpp - one delivery to one local user, as run in the child process the
// server forks: become the recipient (when the daemon can switch users), then write the
// mbox or Maildir; and the mapping of the child's exit status to the result the queue
// receives. The child reports one line (the mailbox path, or why it failed) on a pipe.
#pragma once

#include <sysexits.h>
#include <cstdint>

#include <optional>
#include <string>
#include <vector>

#include "deliver/local/expand.hpp"
#include "deliver/local/message_format.hpp"
#include "lib/conf/config.hpp"
#include "lib/core/result.hpp"
#include "lib/priv/priv.hpp"

namespace tegami::local {

struct ChildSpec {
    const Config* config = nullptr;
    LocalUser user;
    std::vector<MailMessage> msgs;  // at least one; all for this user
    bool switch_user = false;  // become user (needs CAP_SETUID/CAP_SETGID); else stay as we are
    unsigned long seq = 0;     // for unique Maildir names (seq, seq+1, ... per message)
    TargetKind kind = TargetKind::mailbox;
    std::string target;  // program command line or file path (kind != mailbox)
    // Who the child becomes (switch_user): looked up by the server through its UserCache;
    // empty when that lookup failed, and the child looks up (and reports) itself.
    std::optional<Identity> identity;
    // The most octets of a message made before they are written (Maildir, program).
    size_t write_piece = kWritePiece;
    // run_delivery_child: stay for further batches after the first (a mailbox), until
    // the server closes its end; else exit after one batch (a program or a file).
    bool reuse = false;
};

// The most messages one batch holds, and the longest report line.
constexpr size_t kMaxBatch = 64;
constexpr size_t kReportLineMax = 400;

struct MessageReport {
    int code = EX_TEMPFAIL;  // sysexits
    std::string text;        // mailbox path, or why it failed
};

// Runs in the forked child: never returns. Becomes the user, then takes batches from
// sock (deliver/local/batch.hpp; spec.msgs is ignored), each message's body read from
// the descriptor that came with it, and answers each with one report line per message
// and the end marker. Exits 0 when the server closes its end; after one batch unless
// spec.reuse, with the first failure's sysexits code. sock is the only descriptor above
// 2 kept from the parent.
[[noreturn]] void run_delivery_child(const ChildSpec& spec, int sock) noexcept;

// The deliveries as run by the child, without the fork-specific set-up (identity, fds):
// one report per message of spec.msgs. Exposed for tests.
std::vector<MessageReport> deliver_as_current_user(const ChildSpec& spec, uid_t owner);

// Parses the child's report lines (as many as it wrote before it ended).
std::vector<MessageReport> parse_reports(const std::string& text);

struct Outcome {
    uint32_t status = 4;  // ipc::kStatusOk / kStatusTemp / kStatusPerm
    std::string dsn;
    std::string text;
};

// wait_status as from waitpid; reason: the child's report line. maildir picks the text of
// a success ("delivered to maildir" rather than "delivered to mailbox").
Outcome outcome_from_wait(int wait_status, const std::string& reason, bool maildir,
                          TargetKind kind = TargetKind::mailbox);
// The same for one message's sysexits code from the child's report. For a program, its
// exit status maps as sendmail's does: 0 delivered; EX_TEMPFAIL, EX_OSERR, EX_OSFILE,
// EX_IOERR, EX_CANTCREAT defer; EX_NOUSER 5.1.1, EX_NOHOST 5.1.2, EX_DATAERR 5.6.0,
// EX_NOPERM 5.7.1, EX_CONFIG 5.3.5, anything else (EX_UNAVAILABLE, 1, ...) 5.3.0.
Outcome outcome_from_code(int code, const std::string& reason, bool maildir,
                          TargetKind kind = TargetKind::mailbox);

// The command line of a |program target as it will run: argv split at white space;
// argv[0] replaced by smrsh_dir/basename when smrsh_dir is set (which must exist).
// Refuses shell metacharacters, a relative program without smrsh_dir, and a program not
// in smrsh_dir. The two shell forms smrsh(8) documents for .forward files are taken: a
// leading "exec" is skipped, and a trailing "|| exit N" (N at most 255) gives the status
// that replaces the program's failure (a non-zero exit or a signal). Pure apart from
// one lstat.
struct ProgramCommand {
    std::vector<std::string> argv;
    std::optional<int> or_exit;  // "|| exit N"
};
Result<ProgramCommand> program_command(std::string_view command, const std::string& smrsh_dir);
Result<std::vector<std::string>> program_argv(std::string_view command,
                                              const std::string& smrsh_dir);

}  // namespace tegami::local
