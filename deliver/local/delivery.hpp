// delivery.hpp - one delivery to one local user, as run in the child process the
// server forks: become the recipient (when the daemon can switch users), then write the
// mbox or Maildir; and the mapping of the child's exit status to the result the queue
// receives. The child reports one line (the mailbox path, or why it failed) on a pipe.
#pragma once

#include <cstdint>
#include <string>

#include "deliver/local/expand.hpp"
#include "deliver/local/message_format.hpp"
#include "lib/conf/config.hpp"

namespace tegami::local {

struct ChildSpec {
    const Config* config = nullptr;
    LocalUser user;
    MailMessage msg;
    bool switch_user = false;  // become user (needs CAP_SETUID/CAP_SETGID); else stay as we are
    unsigned long seq = 0;     // for unique Maildir names
};

// Runs in the forked child: never returns; exits with a sysexits code after writing one
// report line to report_fd. keep_fd (report_fd) is the only descriptor above 2 kept.
[[noreturn]] void run_delivery_child(const ChildSpec& spec, int report_fd) noexcept;

// The delivery as run by the child, without the fork-specific set-up (identity, fds):
// returns the sysexits code and sets report. Exposed for tests.
int deliver_as_current_user(const ChildSpec& spec, uid_t owner, std::string& report);

struct Outcome {
    uint32_t status = 4;  // ipc::kStatusOk / kStatusTemp / kStatusPerm
    std::string dsn;
    std::string text;
};

// wait_status as from waitpid; reason: the child's report line. maildir picks the text of
// a success ("delivered to maildir" rather than "delivered to mailbox").
Outcome outcome_from_wait(int wait_status, const std::string& reason, bool maildir);

}  // namespace tegami::local
