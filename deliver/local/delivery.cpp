// delivery.cpp - see delivery.hpp. run_delivery_child is the only code of tegami-local
// that runs as a mail recipient: it keeps no descriptor but stdin/stdout/stderr and the
// socket it takes its batches from, drops every capability (become_user) before touching
// a mailbox, and reports a line per message. Trusts the ChildSpec built by the server from the
// passwd entry and the configuration; the message content is only ever copied into the mailbox.
#include "deliver/local/delivery.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "deliver/local/batch.hpp"
#include "deliver/local/maildir.hpp"
#include "deliver/local/mbox.hpp"
#include "lib/core/clock.hpp"
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
    ssize_t w = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    (void)w;  // a missing line reads as a temporary failure in the parent
}

// Bodies up to this size are read into memory; larger ones are mapped (a mapping costs
// more system calls and page faults than one read of a small body).
constexpr uint64_t kReadBodyMax = 64 * 1024;

// The messages of a batch as MailMessages: views of copies or mappings kept in copies
// and maps. An error names the body that could not be read.
Result<void> load_bodies(Batch& b, std::vector<std::string>& copies,
                         std::vector<UniqueMapping>& maps, std::vector<MailMessage>& out) {
    copies.assign(b.items.size(), std::string());
    maps.clear();
    maps.resize(b.items.size());
    out.clear();
    for (size_t i = 0; i < b.items.size(); ++i) {
        const BatchItem& it = b.items[i];
        std::string_view body;
        bool mapped = false;
        if (it.size <= kReadBodyMax) {
            copies[i].resize(it.size);
            size_t got = 0;
            while (got < it.size) {
                ssize_t n = ::pread(b.fds[i].get(), copies[i].data() + got, it.size - got,
                                    static_cast<off_t>(it.offset + got));
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return sys_error("read body of " + it.queue_id, errno, Exit::temp_fail);
                if (n == 0)
                    return make_error(Exit::temp_fail, "body of " + it.queue_id + " is short");
                got += static_cast<size_t>(n);
            }
            body = copies[i];
        } else {
            if (!maps[i].map(b.fds[i].get(), it.size, it.offset))
                return sys_error("mmap body of " + it.queue_id, errno, Exit::temp_fail);
            body = maps[i].view();
            mapped = true;
        }
        out.push_back(MailMessage{it.sender, it.recipient, body, it.queue_id, mapped});
    }
    return {};
}

// Runs one |program with the message on its standard input, as the current user, in a
// clean environment, with a deadline. Returns the report: the program's exit status (a
// sysexits code) and the first line of its output as the reason.
MessageReport run_program(const ChildSpec& spec, const MailMessage& m) {
    const Config& cfg = *spec.config;
    auto cmd = program_command(spec.target, cfg.smrsh_dir);
    if (!cmd) return {EX_UNAVAILABLE, cmd.error().message};
    std::vector<std::string>* argv = &cmd->argv;
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return {EX_OSERR, sys_error("pipe", errno).message};
    UniqueFd in_r(in[0]), in_w(in[1]);
    if (::pipe2(out, O_CLOEXEC) != 0) return {EX_OSERR, sys_error("pipe", errno).message};
    UniqueFd out_r(out[0]), out_w(out[1]);
    std::string home = spec.user.home.empty() ? "/" : spec.user.home;
    std::vector<std::string> env = {"PATH=/usr/bin:/bin",
                                    "SHELL=/bin/sh",
                                    "HOME=" + home,
                                    "USER=" + spec.user.name,
                                    "LOGNAME=" + spec.user.name,
                                    "SENDER=" + std::string(m.sender),
                                    "RECIPIENT=" + std::string(m.recipient)};
    std::vector<char*> cargv, cenv;
    for (auto& a : *argv)
        cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env)
        cenv.push_back(e.data());
    cenv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return {EX_OSERR, sys_error("fork", errno).message};
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(in_r.get(), 0);
        ::dup2(out_w.get(), 1);
        ::dup2(out_w.get(), 2);
        if (::chdir(home.c_str()) != 0 && ::chdir("/") != 0) _exit(EX_OSERR);
        signal(SIGPIPE, SIG_DFL);
        for (int sig : {SIGTERM, SIGINT, SIGHUP})
            signal(sig, SIG_DFL);
        ::execve(cargv[0], cargv.data(), cenv.data());
        _exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
    }
    in_r.reset();
    out_w.reset();
    // The message goes to the program a piece at a time: the next piece is made when the
    // last one is written, so the child never holds more than one.
    MessagePieces pieces(m, MessagePieces::Form::maildir);
    std::string input;
    input.reserve(spec.write_piece);
    fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
    fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
    int64_t deadline = monotonic_ms() +
                       static_cast<int64_t>(cfg.program_timeout ? cfg.program_timeout : 60) * 1000;
    size_t off = 0;
    std::string output;
    bool timed_out = false;
    int st = 0;
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        pid_t w = ::waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            timed_out = true;
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            break;
        }
        pollfd p[2] = {{in_w.valid() ? in_w.get() : -1, POLLOUT, 0}, {out_r.get(), POLLIN, 0}};
        ::poll(p, 2, static_cast<int>(left < 50 ? left : 50));
        if (in_w.valid() && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            if (off == input.size()) {
                input.clear();
                off = 0;
                pieces.append(input, spec.write_piece);
            }
            ssize_t n = ::write(in_w.get(), input.data() + off, input.size() - off);
            if (n > 0) off += static_cast<size_t>(n);
            // A reader that went away (EPIPE) is not an error of its own: the program's
            // exit status says what became of the message.
            if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
                (off == input.size() && pieces.done()))
                in_w.reset();
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            char buf[512];
            ssize_t n = ::read(out_r.get(), buf, sizeof buf);
            if (n > 0 && output.size() < 2048) output.append(buf, static_cast<size_t>(n));
        }
    }
    ::kill(-pid, SIGKILL);                        // anything it left running in its group
    for (char buf[512]; output.size() < 2048;) {  // what it wrote before it exited
        ssize_t n = ::read(out_r.get(), buf, sizeof buf);
        if (n <= 0) break;
        output.append(buf, static_cast<size_t>(n));
    }
    if (timed_out)
        return {EX_TEMPFAIL, "program " + (*argv)[0] + " timed out after " +
                                 std::to_string(cfg.program_timeout) + "s"};
    std::string first = output.substr(0, output.find('\n'));
    if (WIFSIGNALED(st)) {
        std::string why =
            "program " + (*argv)[0] + " killed by signal " + std::to_string(WTERMSIG(st));
        if (cmd->or_exit) return {*cmd->or_exit, why + ", exit " + std::to_string(*cmd->or_exit)};
        return {EX_TEMPFAIL, why};
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : EX_SOFTWARE;
    if (code != 0 && cmd->or_exit) {
        std::string why = "program " + (*argv)[0] + " exited " + std::to_string(code) +
                          (first.empty() ? "" : ": " + first);
        if (*cmd->or_exit == 0) return {0, why};
        return {*cmd->or_exit, why + ", exit " + std::to_string(*cmd->or_exit)};
    }
    if (code == 0) return {0, "program " + (*argv)[0]};
    return {code, "program " + (*argv)[0] + " exited " + std::to_string(code) +
                      (first.empty() ? "" : ": " + first)};
}

// A /file target: appended to as an mbox (locks, From_ line, cut back on failure), owned
// by the user it runs as. /dev/null (an alias that throws mail away) takes the message
// as delivered without opening anything, as sendmail and Postfix treat it: it is not a
// regular file, and no lock or journal belongs in /dev.
MessageReport deliver_file(const ChildSpec& spec, uid_t owner) {
    const std::string& path = spec.target;
    if (path == "/dev/null") return {0, path};
    size_t slash = path.rfind('/');
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    std::string base = path.substr(slash + 1);
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) return {EX_CANTCREAT, sys_error("open " + dir, errno).message};
    auto r = deliver_mbox_batch(dfd.get(), dir, base, owner, spec.msgs, time(nullptr));
    if (!r) return {code(r.error().exit), r.error().message};
    return {0, r->path};
}

}  // namespace

namespace {

bool blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && blank(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && blank(s.back()))
        s.remove_suffix(1);
    return s;
}

// "exit N" -> N (0..255), else nothing.
std::optional<int> exit_builtin(std::string_view s) {
    s = trim_blanks(s);
    if (!s.starts_with("exit") || s.size() < 6 || !blank(s[4])) return std::nullopt;
    std::string_view n = trim_blanks(s.substr(4));
    if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    int v = std::stoi(std::string(n));
    if (v > 255) return std::nullopt;
    return v;
}

}  // namespace

Result<ProgramCommand> program_command(std::string_view command, const std::string& smrsh_dir) {
    ProgramCommand out;
    if (size_t bar = command.find("||"); bar != std::string_view::npos) {
        out.or_exit = exit_builtin(command.substr(bar + 2));
        if (!out.or_exit)
            return make_error(Exit::unavailable,
                              "program target: only \"|| exit N\" may follow \"||\"");
        command = command.substr(0, bar);
    }
    command = trim_blanks(command);
    if (command == "exec") return make_error(Exit::unavailable, "empty program target");
    if (command.starts_with("exec") && command.size() > 4 && blank(command[4]))
        command.remove_prefix(5);
    auto argv = program_argv(command, smrsh_dir);
    if (!argv) return argv.error();
    out.argv = std::move(*argv);
    return out;
}

Result<std::vector<std::string>> program_argv(std::string_view command,
                                              const std::string& smrsh_dir) {
    if (command.find_first_of(";&|<>`$(){}[]*?!~\\\"'\n\r") != std::string_view::npos)
        return make_error(Exit::unavailable, "shell metacharacters in program target");
    std::vector<std::string> argv;
    size_t i = 0;
    while (i < command.size()) {
        while (i < command.size() && (command[i] == ' ' || command[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < command.size() && command[i] != ' ' && command[i] != '\t')
            ++i;
        if (i > start) argv.emplace_back(command.substr(start, i - start));
    }
    if (argv.empty()) return make_error(Exit::unavailable, "empty program target");
    if (smrsh_dir.empty()) {
        if (argv[0].front() != '/')
            return make_error(Exit::unavailable, "program " + argv[0] + " is not an absolute path");
        return argv;
    }
    std::string base = argv[0].substr(argv[0].rfind('/') + 1);
    if (base.empty() || base == "." || base == "..")
        return make_error(Exit::unavailable, "bad program name " + argv[0]);
    std::string allowed = smrsh_dir + "/" + base;
    struct stat st {};
    if (::lstat(allowed.c_str(), &st) != 0)
        return make_error(Exit::unavailable,
                          "program " + base + " is not in the restricted directory " + smrsh_dir);
    argv[0] = allowed;
    return argv;
}

std::vector<MessageReport> deliver_as_current_user(const ChildSpec& spec, uid_t owner) {
    const Config& cfg = *spec.config;
    umask(077);
    std::vector<MessageReport> out;
    out.reserve(spec.msgs.size());
    if (spec.kind == TargetKind::program) {
        for (const MailMessage& m : spec.msgs)
            out.push_back(run_program(spec, m));
        return out;
    }
    if (spec.kind == TargetKind::file) {
        out.assign(spec.msgs.size(), deliver_file(spec, owner));
        return out;
    }
    if (cfg.mailbox_format == MailboxFormat::maildir) {
        // A Maildir in the home directory needs the home: a missing one is the admin's to
        // make (deferred, 4.2.0), never made here as a side effect of the Maildir's mkdir -p.
        struct stat hs {};
        if (cfg.maildir.starts_with("~") &&
            (spec.user.home.empty() || ::stat(spec.user.home.c_str(), &hs) != 0 ||
             !S_ISDIR(hs.st_mode))) {
            out.assign(
                spec.msgs.size(),
                MessageReport{EX_TEMPFAIL, "4.2.0 home directory " + spec.user.home + " of " +
                                               spec.user.name + " is missing: nothing delivered"});
            return out;
        }
        std::string root = expand_maildir_path(cfg.maildir, spec.user.name, spec.user.home);
        unsigned long seq = spec.seq;
        for (const MailMessage& m : spec.msgs) {
            auto r = deliver_maildir(root, cfg.hostname, m, seq++, spec.write_piece);
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

void run_delivery_child(const ChildSpec& base, int sock) noexcept {
    reset_process(sock);
    uid_t owner = geteuid();
    std::optional<MessageReport> refused;
    if (base.switch_user) {
        // The mail group only for mailboxes (dotlocks in the spool); a program or file
        // runs with the user's own groups.
        auto id = base.identity ? Result<Identity>(*base.identity)
                                : lookup_identity(base.user.name, base.kind == TargetKind::mailbox
                                                                      ? base.config->mail_group
                                                                      : std::string());
        Result<void> became =
            id ? become_user(id->uid, id->gid, id->groups) : Result<void>(id.error());
        if (became)
            owner = id->uid;
        else
            refused = MessageReport{
                EX_TEMPFAIL, "cannot become " + base.user.name + ": " + became.error().message};
    }
    ChildSpec spec = base;
    Batch batch;
    std::vector<std::string> copies;
    std::vector<UniqueMapping> maps;
    for (;;) {
        switch (receive_batch(sock, batch)) {
            case Received::end:
                _exit(0);
            case Received::bad:
                _exit(EX_SOFTWARE);
            case Received::batch:
                break;
        }
        spec.seq = batch.seq;
        std::vector<MessageReport> reports;
        if (!refused) {
            if (auto loaded = load_bodies(batch, copies, maps, spec.msgs); loaded)
                reports = deliver_as_current_user(spec, owner);
            else
                reports.assign(batch.items.size(),
                               MessageReport{EX_TEMPFAIL, loaded.error().message});
        } else {
            reports.assign(batch.items.size(), *refused);
        }
        int status = 0;
        for (const MessageReport& r : reports) {
            report_line(sock, r);
            if (r.code != 0 && status == 0) status = r.code;
        }
        ssize_t w = ::send(sock, kBatchEnd.data(), kBatchEnd.size(), MSG_NOSIGNAL);
        (void)w;
        spec.msgs.clear();
        maps.clear();
        copies.clear();
        batch.fds.clear();
        if (refused || !spec.reuse) _exit(status);
    }
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

Outcome outcome_from_wait(int wait_status, const std::string& reason, bool maildir,
                          TargetKind kind) {
    if (WIFSIGNALED(wait_status))
        return {4, "4.3.0",
                "delivery process killed by signal " + std::to_string(WTERMSIG(wait_status))};
    if (!WIFEXITED(wait_status)) return {4, "4.3.0", "delivery process ended oddly"};
    return outcome_from_code(WEXITSTATUS(wait_status), reason, maildir, kind);
}

Outcome outcome_from_code(int st, const std::string& reason, bool maildir, TargetKind kind) {
    std::string why = reason.empty() ? "delivery failed (exit " + std::to_string(st) + ")" : reason;
    // A reason that starts with its own enhanced code (a full disk, a quota) keeps it.
    if (st == EX_TEMPFAIL && why.size() > 6 && why[0] == '4' && why[1] == '.' &&
        why.find(' ') != std::string::npos && why.find(' ') <= 7 &&
        why.find_first_not_of("0123456789.") == why.find(' '))
        return {4, why.substr(0, why.find(' ')), why.substr(why.find(' ') + 1)};
    if (kind == TargetKind::program) {
        switch (st) {
            case EX_OK:
                return {2, "2.0.0", "delivered to program"};
            case EX_TEMPFAIL:
            case EX_OSERR:
            case EX_OSFILE:
            case EX_IOERR:
            case EX_CANTCREAT:
                return {4, "4.3.0", why};
            case EX_NOUSER:
                return {5, "5.1.1", why};
            case EX_NOHOST:
                return {5, "5.1.2", why};
            case EX_DATAERR:
                return {5, "5.6.0", why};
            case EX_NOPERM:
                return {5, "5.7.1", why};
            case EX_CONFIG:
                return {5, "5.3.5", why};
            default:
                return {5, "5.3.0", why};
        }
    }
    if (kind == TargetKind::file && st == EX_OK) return {2, "2.0.0", "delivered to file"};
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
