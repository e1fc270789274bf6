// supervisor.cpp - see supervisor.hpp. Runs in master (root on a real install).
// The child side of spawn() is the privileged path: between fork and exec it only
// rearranges descriptors, drops privileges through lib/priv and execs a fixed program
// from libexec_dir with a fixed environment.
#include "smtpd/master/supervisor.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "lib/core/exec.hpp"
#include "lib/core/log.hpp"
#include "lib/ipc/messages.hpp"

namespace tegami::master {

const std::vector<ChildSpec>& process_table() {
    static const std::vector<ChildSpec> table = {
        {"auth", "tegami-auth", CapProfile::none, false, {"auth"}},
        {"local", "tegami-local", CapProfile::setid, true, {"deliver"}},
        {"queue", "tegami-queue", CapProfile::none, false, {"queue", "control"}},
        {"remote", "tegami-remote", CapProfile::none, false, {"remote"}},
        {"smtpd",
         "tegami-smtpd",
         CapProfile::none,
         false,
         {"mta", "msa", "smtps", "local"},
         "queue"},
    };
    return table;
}

struct Supervisor::Child {
    const ChildSpec* spec;
    Supervisor* owner;
    pid_t pid = 0;
    time_t started = 0;
    int backoff = 1;
    bool ready = false;        // reported `ready` since it was started
    int startup_failures = 0;  // consecutive exits before `ready`
    bool given_up = false;     // not restarted again
    std::unique_ptr<ipc::Channel> channel;
    EventPtr restart;
};

Supervisor::Supervisor(event_base* base, SupervisorOptions opts, std::shared_ptr<const Config> cfg,
                       std::vector<BoundSocket> sockets)
    : base_(base), opts_(std::move(opts)), cfg_(std::move(cfg)), sockets_(std::move(sockets)) {
    for (const ChildSpec& s : process_table()) {
        auto c = std::make_unique<Child>();
        c->spec = &s;
        c->owner = this;
        c->restart.reset(evtimer_new(base_, &Supervisor::on_restart_cb, c.get()));
        children_.push_back(std::move(c));
    }
}

Supervisor::~Supervisor() = default;

void Supervisor::start_all() {
    for (auto& c : children_) {
        if (may_start(*c)) {
            spawn(*c);
        } else {
            log_info("%s starts once %s is ready", c->spec->name, c->spec->after);
        }
    }
}

Supervisor::Child* Supervisor::find(const char* name) {
    for (auto& c : children_)
        if (std::strcmp(c->spec->name, name) == 0) return c.get();
    return nullptr;
}

bool Supervisor::may_start(const Child& c) const {
    if (!c.spec->after) return true;
    for (const auto& o : children_)
        if (std::strcmp(o->spec->name, c.spec->after) == 0) return o->pid > 0 && o->ready;
    return true;
}

void Supervisor::on_ready(Child& c) {
    c.ready = true;
    c.startup_failures = 0;
    log_info("%s (pid %d) ready", c.spec->name, static_cast<int>(c.pid));
    if (stopping_) return;
    for (auto& o : children_) {
        if (!o->spec->after || std::strcmp(o->spec->after, c.spec->name) != 0) continue;
        if (o->pid == 0 && !o->given_up && !evtimer_pending(o->restart.get(), nullptr)) spawn(*o);
    }
}

namespace {

// In the child between fork and exec: never returns.
[[noreturn]] void exec_child(const ChildSpec& spec, const SupervisorOptions& opts,
                             const Config& cfg, int chan) {
    if (::dup2(chan, 3) != 3) _exit(EX_OSERR);
    ::close_range(4, ~0U, 0);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        ::dup2(devnull, 0);
        if (!opts.foreground) {
            ::dup2(devnull, 1);
            if (cfg.log_file.empty()) ::dup2(devnull, 2);  // else fd 2 is the log file
        }
        if (devnull > 3) ::close(devnull);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGCHLD})
        signal(s, SIG_DFL);
    if (opts.privileged) {
        auto own = opts.identities.find(spec.name);
        if (own == opts.identities.end()) {
            log_error("%s: no account to run as", spec.name);
            _exit(EX_NOUSER);
        }
        Identity id = own->second;
        if (spec.mail_group) {
            if (const group* gr = getgrnam(cfg.mail_group.c_str())) id.groups.push_back(gr->gr_gid);
        }
        if (auto r = drop_privileges(id, spec.caps); !r) {
            log_error("%s: cannot drop privileges: %s", spec.name, r.error().message.c_str());
            _exit(EX_NOPERM);
        }
    }
    std::string path = cfg.libexec_dir + "/" + spec.program;
    std::vector<std::string> args = {path, "-c", opts.config_path};
    if (opts.privileged) args.emplace_back("-P");
    if (opts.foreground) args.emplace_back("-f");
    if (opts.debug) args.emplace_back("-d");
    exec_program(path, std::move(args), {"TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"});
    log_error("%s: cannot execute %s: %s", spec.name, path.c_str(), std::strerror(errno));
    _exit(EX_OSERR);
}

}  // namespace

void Supervisor::spawn(Child& c) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("socketpair: %s", std::strerror(errno));
        schedule_restart(c);
        return;
    }
    UniqueFd mine(sv[0]), theirs(sv[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        log_error("fork: %s", std::strerror(errno));
        schedule_restart(c);
        return;
    }
    if (pid == 0) exec_child(*c.spec, opts_, *cfg_, theirs.get());
    theirs.reset();
    c.pid = pid;
    c.started = time(nullptr);
    c.ready = false;
    for (const auto& s : sockets_) {
        if (std::find(c.spec->roles.begin(), c.spec->roles.end(), s.role) == c.spec->roles.end())
            continue;
        auto r = ipc::send_frame_blocking(
            mine.get(), ipc::encode(ipc::ListenerMsg{s.role, s.name}, 1), {s.fd.get()});
        if (!r) log_error("%s: sending listener: %s", c.spec->name, r.error().message.c_str());
    }
    (void)ipc::send_frame_blocking(mine.get(), ipc::encode_empty(ipc::MsgType::start));
    Child* cp = &c;
    c.channel = std::make_unique<ipc::Channel>(
        base_, std::move(mine),
        [cp](ipc::MsgType t, std::string_view, std::vector<UniqueFd>&) {
            if (t == ipc::MsgType::ready) cp->owner->on_ready(*cp);
        },
        [](const std::string&) {});
    log_info("started %s (pid %d)", c.spec->name, static_cast<int>(pid));
}

void Supervisor::schedule_restart(Child& c) {
    if (stopping_) return;
    if (c.started && time(nullptr) - c.started > 60) c.backoff = 1;
    timeval tv{c.backoff, 0};
    log_warning("restarting %s in %ds", c.spec->name, c.backoff);
    evtimer_add(c.restart.get(), &tv);
    c.backoff = std::min(c.backoff * 2, 60);
}

void Supervisor::on_restart_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* c = static_cast<Child*>(arg);
    try {
        if (c->owner->stopping_ || c->pid != 0) return;
        if (c->owner->may_start(*c)) {
            c->owner->spawn(*c);
        } else {
            log_info("%s starts once %s is ready", c->spec->name, c->spec->after);
        }
    } catch (const std::exception& e) {
        log_error("restart %s: %s", c->spec->name, e.what());
    }
}

namespace {

// In the child: the client-queue runner, as smtpd's account with the MSP group as its
// real and only group (so the setgid bit is not needed and -C cannot cost it the group).
[[noreturn]] void exec_client_queue_runner(const SupervisorOptions& opts, const Config& cfg,
                                           gid_t msp_gid) {
    ::close_range(3, ~0U, 0);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        ::dup2(devnull, 0);
        if (!opts.foreground) {
            ::dup2(devnull, 1);
            ::dup2(devnull, 2);
        }
        if (devnull > 2) ::close(devnull);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGCHLD})
        signal(s, SIG_DFL);
    if (opts.privileged) {
        // smtpd's own account: smtpd trusts XUID (the submitter of a resent file) only from
        // its own uid or root.
        auto own = opts.identities.find("smtpd");
        Identity id = own != opts.identities.end() ? own->second : opts.identity;
        id.gid = msp_gid;
        id.groups = {msp_gid};
        if (auto r = drop_privileges(id, CapProfile::none); !r) {
            log_error("client-queue runner: cannot drop privileges: %s", r.error().message.c_str());
            _exit(EX_NOPERM);
        }
    }
    std::vector<std::string> args = {
        cfg.sendmail_path, "-L", cfg.syslog_name + "/msp-queue", "-Ac", "-q", "-C",
        opts.config_path};
    exec_program(cfg.sendmail_path, std::move(args));
    log_error("client-queue runner: cannot execute %s: %s", cfg.sendmail_path.c_str(),
              std::strerror(errno));
    _exit(EX_OSERR);
}

}  // namespace

void Supervisor::run_client_queue() {
    if (stopping_ || runner_pid_ > 0) return;
    gid_t msp_gid = static_cast<gid_t>(-1);
    if (opts_.privileged) {
        const group* gr = getgrnam(cfg_->msp_group.c_str());
        if (!gr) return;  // no MSP group: no client queue (logged at start-up)
        msp_gid = gr->gr_gid;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        log_error("fork: %s", std::strerror(errno));
        return;
    }
    if (pid == 0) exec_client_queue_runner(opts_, *cfg_, msp_gid);
    runner_pid_ = pid;
    log_debug("client-queue runner started (pid %d)", static_cast<int>(pid));
}

void Supervisor::reap() {
    int status;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == runner_pid_) {
            runner_pid_ = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_warning("client-queue runner (pid %d) ended with status %d",
                            static_cast<int>(pid),
                            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            continue;
        }
        for (auto& c : children_) {
            if (c->pid != pid) continue;
            c->pid = 0;
            c->channel.reset();
            if (WIFSIGNALED(status))
                log_warning("%s (pid %d) killed by signal %d", c->spec->name, static_cast<int>(pid),
                            WTERMSIG(status));
            else if (WEXITSTATUS(status) != 0 || !stopping_)
                log_warning("%s (pid %d) exited with status %d", c->spec->name,
                            static_cast<int>(pid), WEXITSTATUS(status));
            if (stopping_) continue;
            if (!c->ready && ++c->startup_failures >= kMaxStartupFailures) {
                c->given_up = true;
                std::string how = WIFSIGNALED(status)
                                      ? "killed by signal " + std::to_string(WTERMSIG(status))
                                      : "exit status " + std::to_string(WEXITSTATUS(status));
                log_error(
                    "%s failed at start-up %d times in a row (last: %s): not restarting "
                    "it; its last fatal log line says why: fix that and restart tegami",
                    c->spec->name, c->startup_failures, how.c_str());
                stop_dependents(*c);
                continue;
            }
            schedule_restart(*c);
        }
    }
}

// The children that run only while c is ready (smtpd after queue) stop with it for good:
// a smtpd whose queue is gone would greet clients only to keep their mail waiting.
void Supervisor::stop_dependents(Child& c) {
    for (auto& o : children_) {
        if (!o->spec->after || std::strcmp(o->spec->after, c.spec->name) != 0) continue;
        evtimer_del(o->restart.get());
        if (o->pid > 0) {
            log_warning("stopping %s (pid %d): %s is not running", o->spec->name,
                        static_cast<int>(o->pid), c.spec->name);
            ::kill(o->pid, SIGTERM);
        }
    }
}

void Supervisor::reload(std::shared_ptr<const Config> cfg) {
    cfg_ = std::move(cfg);
    for (auto& c : children_)
        if (c->channel) c->channel->send(ipc::encode_empty(ipc::MsgType::reload));
}

bool Supervisor::stop_all() {
    stopping_ = true;
    if (runner_pid_ > 0) ::kill(runner_pid_, SIGTERM);
    for (auto& c : children_) {
        evtimer_del(c->restart.get());
        if (c->pid > 0) ::kill(c->pid, SIGTERM);
    }
    return all_stopped();
}

void Supervisor::kill_all() {
    if (runner_pid_ > 0) ::kill(runner_pid_, SIGKILL);
    for (auto& c : children_)
        if (c->pid > 0) {
            log_warning("%s (pid %d) did not stop: killing it", c->spec->name,
                        static_cast<int>(c->pid));
            ::kill(c->pid, SIGKILL);
        }
}

bool Supervisor::all_stopped() const {
    return runner_pid_ <= 0 && std::none_of(children_.begin(), children_.end(),
                                            [](const auto& c) { return c->pid > 0; });
}

}  // namespace tegami::master
