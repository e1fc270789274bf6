// delivery.cpp - see delivery.hpp. run_delivery_child is the only code of tegami-local
// that runs as a mail recipient: it keeps no descriptor but stdin/stdout/stderr and the
// report pipe, drops every capability (become_user) before touching the mailbox, and
// reports by exit status. Trusts the ChildSpec built by the server from the passwd entry
// and the configuration; the message content is only ever copied into the mailbox.
#include "deliver/local/delivery.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "deliver/local/maildir.hpp"
#include "deliver/local/mbox.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/priv/priv.hpp"

namespace tegami::local {

namespace {

// The fork-time set-up: no inherited descriptors (the queue channel, the listener,
// libevent's internals) beyond 0-2 and the report pipe; SIGCHLD back to the default;
// SIGTERM, SIGINT and SIGHUP ignored, so that a signal sent to the whole process group
// cannot cut a message in half (the parent decides when to stop; lock waits are bounded).
void reset_process(int keep_fd) {
    signal(SIGCHLD, SIG_DFL);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        signal(sig, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // close_range, not UniqueFd: these descriptors belong to the parent's objects, whose
    // destructors never run in this process (it ends with _exit).
    if (keep_fd > 3) close_range(3, static_cast<unsigned>(keep_fd) - 1, 0);
    close_range(static_cast<unsigned>(keep_fd) + 1, ~0U, 0);
}

void report_line(int fd, std::string line) {
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    if (line.size() > 1000) line.resize(1000);
    line += '\n';
    ssize_t w = ::write(fd, line.data(), line.size());
    (void)w;  // the report is for the log only; the exit status carries the result
}

}  // namespace

int deliver_as_current_user(const ChildSpec& spec, uid_t owner, std::string& report) {
    const Config& cfg = *spec.config;
    umask(077);
    if (cfg.mailbox_format == MailboxFormat::maildir) {
        std::string root = expand_maildir_path(cfg.maildir, spec.user.name, spec.user.home);
        auto r = deliver_maildir(root, cfg.hostname, spec.msg, spec.seq);
        report = r ? r.value() : r.error().message;
        return r ? 0 : code(r.error().exit);
    }
    UniqueFd dir(::open(cfg.mail_spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        report = sys_error("open " + cfg.mail_spool_dir, errno).message;
        return EX_TEMPFAIL;
    }
    auto r =
        deliver_mbox(dir.get(), cfg.mail_spool_dir, spec.user.name, owner, spec.msg, time(nullptr));
    if (!r) {
        report = r.error().message;
        return code(r.error().exit);
    }
    report = r->path + (r->note.empty() ? "" : " (" + r->note + ")");
    return 0;
}

void run_delivery_child(const ChildSpec& spec, int report_fd) noexcept {
    reset_process(report_fd);
    std::string report;
    int status = EX_TEMPFAIL;
    uid_t owner = geteuid();
    if (spec.switch_user) {
        auto id = lookup_identity(spec.user.name, spec.config->mail_group);
        Result<void> became =
            id ? become_user(id->uid, id->gid, id->groups) : Result<void>(id.error());
        if (!became) {
            report_line(report_fd,
                        "cannot become " + spec.user.name + ": " + became.error().message);
            _exit(EX_TEMPFAIL);
        }
        owner = id->uid;
    }
    status = deliver_as_current_user(spec, owner, report);
    report_line(report_fd, report);
    _exit(status);
}

Outcome outcome_from_wait(int wait_status, const std::string& reason, bool maildir) {
    if (WIFSIGNALED(wait_status))
        return {4, "4.3.0",
                "delivery process killed by signal " + std::to_string(WTERMSIG(wait_status))};
    if (!WIFEXITED(wait_status)) return {4, "4.3.0", "delivery process ended oddly"};
    int st = WEXITSTATUS(wait_status);
    std::string why = reason.empty() ? "delivery failed (exit " + std::to_string(st) + ")" : reason;
    switch (st) {
        case EX_OK:
            return {2, "2.0.0", maildir ? "delivered to maildir" : "delivered to mailbox"};
        case EX_TEMPFAIL:
        case EX_CANTCREAT:
            return {4, "4.2.0", why};
        case EX_IOERR:
        case EX_OSERR:
            return {4, "4.3.0", why};
        case EX_NOUSER:
            return {5, "5.1.1", why};
        case EX_NOPERM:
            return {5, "5.2.0", why};
        case EX_DATAERR:
            return {5, "5.6.0", why};
        default:
            return {4, "4.3.0", why};
    }
}

}  // namespace tegami::local
