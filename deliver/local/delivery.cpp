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

void report_line(int fd, const MessageReport& r) {
    std::string line = std::to_string(r.code) + " " + r.text;
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    if (line.size() > kReportLineMax) line.resize(kReportLineMax);
    line += '\n';
    ssize_t w = ::write(fd, line.data(), line.size());
    (void)w;  // a missing line reads as a temporary failure in the parent
}

}  // namespace

std::vector<MessageReport> deliver_as_current_user(const ChildSpec& spec, uid_t owner) {
    const Config& cfg = *spec.config;
    umask(077);
    std::vector<MessageReport> out;
    out.reserve(spec.msgs.size());
    if (cfg.mailbox_format == MailboxFormat::maildir) {
        std::string root = expand_maildir_path(cfg.maildir, spec.user.name, spec.user.home);
        unsigned long seq = spec.seq;
        for (const MailMessage& m : spec.msgs) {
            auto r = deliver_maildir(root, cfg.hostname, m, seq++);
            out.push_back(r ? MessageReport{0, r.value()}
                            : MessageReport{code(r.error().exit), r.error().message});
        }
        return out;
    }
    MessageReport one;
    UniqueFd dir(::open(cfg.mail_spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        one = {EX_TEMPFAIL, sys_error("open " + cfg.mail_spool_dir, errno).message};
    } else {
        auto r = deliver_mbox_batch(dir.get(), cfg.mail_spool_dir, spec.user.name, owner, spec.msgs,
                                    time(nullptr));
        one = r ? MessageReport{0, r->path + (r->note.empty() ? "" : " (" + r->note + ")")}
                : MessageReport{code(r.error().exit), r.error().message};
    }
    out.assign(spec.msgs.size(), one);  // an mbox batch is delivered whole or not at all
    return out;
}

void run_delivery_child(const ChildSpec& spec, int report_fd) noexcept {
    reset_process(report_fd);
    uid_t owner = geteuid();
    if (spec.switch_user) {
        auto id = lookup_identity(spec.user.name, spec.config->mail_group);
        Result<void> became =
            id ? become_user(id->uid, id->gid, id->groups) : Result<void>(id.error());
        if (!became) {
            MessageReport r{EX_TEMPFAIL,
                            "cannot become " + spec.user.name + ": " + became.error().message};
            for (size_t i = 0; i < spec.msgs.size(); ++i)
                report_line(report_fd, r);
            _exit(EX_TEMPFAIL);
        }
        owner = id->uid;
    }
    int status = 0;
    for (const MessageReport& r : deliver_as_current_user(spec, owner)) {
        report_line(report_fd, r);
        if (r.code != 0 && status == 0) status = r.code;
    }
    _exit(status);
}

std::vector<MessageReport> parse_reports(const std::string& text) {
    std::vector<MessageReport> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;  // a cut line does not count
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        size_t sp = line.find(' ');
        std::string num = line.substr(0, sp);
        if (num.empty() || num.size() > 3 ||
            num.find_first_not_of("0123456789") != std::string::npos)
            break;
        out.push_back(
            MessageReport{std::stoi(num), sp == std::string::npos ? "" : line.substr(sp + 1)});
    }
    return out;
}

Outcome outcome_from_wait(int wait_status, const std::string& reason, bool maildir) {
    if (WIFSIGNALED(wait_status))
        return {4, "4.3.0",
                "delivery process killed by signal " + std::to_string(WTERMSIG(wait_status))};
    if (!WIFEXITED(wait_status)) return {4, "4.3.0", "delivery process ended oddly"};
    return outcome_from_code(WEXITSTATUS(wait_status), reason, maildir);
}

Outcome outcome_from_code(int st, const std::string& reason, bool maildir) {
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
