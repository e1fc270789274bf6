// tegami-master - the root binder and supervisor: binds every listener, starts smtpd,
// queue and local already dropped to their user (local keeping CAP_SETUID/CAP_SETGID
// only), hands them their sockets over a socketpair (SCM_RIGHTS), restarts a child that
// dies, reloads on SIGHUP, stops everything on SIGTERM/SIGINT, keeps a pid file; runs
// the client-queue runner (sendmail -Ac -q) every client_queue_interval.
//
//   tegami-master [-c config] [-f] [-d]     (-f: foreground, log to stderr; -d: debug)
//
// SECURITY. The only process of the suite that keeps uid 0. It parses no network input
// and no mail; it reads its configuration file (root-owned on an install) and execs
// fixed programs from libexec_dir. What it inherits from its caller and how each is
// neutralised:
//   environment   - not passed on: children get a fixed PATH (and TZ / sanitizer
//                   options only if set); master itself reads no variable.
//   argv          - only -c/-f/-d; the configuration path is checked like any file.
//   fds 0-2       - reopened on /dev/null when daemonizing; fds >= 3 are closed at
//                   start and every descriptor it opens is close-on-exec.
//   umask         - set to 022 (sockets and directories get explicit modes).
//   cwd           - changed to "/".
//   signals       - dispositions reset; SIGPIPE ignored; mask cleared.
//   rlimits/clock - inherited as set by the administrator, except RLIMIT_NOFILE, which
//                   is raised (and logged) so smtpd can hold smtpd_client_limit sessions.
// Started by a non-root user it runs every process as that user (a sandbox) and says so.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/dir_sync.hpp"
#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/priv/priv.hpp"
#include "smtpd/master/binder.hpp"
#include "smtpd/master/pidfile.hpp"
#include "smtpd/master/supervisor.hpp"

using namespace tegami;
using namespace tegami::master;

namespace {

struct Options {
    std::string config = default_config_path();
    bool foreground = false;
    bool debug = false;
};

void sanitize_inheritance() {
    ::umask(022);
    if (::chdir("/") != 0) log_fatal(Exit::os_err, "chdir /: %s", std::strerror(errno));
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGUSR2})
        signal(s, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
}

Options parse_args(int argc, char** argv) {
    Options o;
    int opt;
    while ((opt = getopt(argc, argv, "c:fd")) != -1) {
        switch (opt) {
            case 'c':
                o.config = optarg;
                break;
            case 'f':
                o.foreground = true;
                break;
            case 'd':
                o.debug = true;
                break;
            default:
                std::fprintf(stderr, "usage: tegami-master [-c config] [-f] [-d]\n");
                std::exit(code(Exit::usage));
        }
    }
    return o;
}

// Creates dir (one level) if missing and gives it to the daemons' user with mode.
void prepare_dir(const std::string& dir, const Identity& id, bool privileged, mode_t mode) {
    // Missing parents (/var/lib/tegami for /var/lib/tegami/auth) are made root-owned 0755.
    for (size_t slash = dir.find('/', 1); slash != std::string::npos;
         slash = dir.find('/', slash + 1))
        if (::mkdir(dir.substr(0, slash).c_str(), 0755) != 0 && errno != EEXIST)
            log_fatal(Exit::cant_create, "mkdir %s: %s", dir.substr(0, slash).c_str(),
                      std::strerror(errno));
    bool made = ::mkdir(dir.c_str(), mode) == 0;
    if (!made && errno != EEXIST)
        log_fatal(Exit::cant_create, "mkdir %s: %s", dir.c_str(), std::strerror(errno));
    if (made) {
        // The new directory's name must survive a power failure before anything in it
        // is relied on (doc/QUEUE.md, "Names").
        if (auto r = fsync_parent(dir); !r)
            log_fatal(r.error().exit, "%s", r.error().message.c_str());
    }
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        log_fatal(Exit::cant_create, "%s is not a directory", dir.c_str());
    if (privileged && (st.st_uid != id.uid || st.st_gid != id.gid) &&
        ::chown(dir.c_str(), id.uid, id.gid) != 0)
        log_fatal(Exit::no_perm, "chown %s: %s", dir.c_str(), std::strerror(errno));
    if ((st.st_mode & 07777) != mode) ::chmod(dir.c_str(), mode);
}

// The client queue: root:msp_group 0770 on an install (the setgid sendmail writes into
// it), the sandbox user's own directory otherwise.
void prepare_client_queue(const std::string& dir, bool privileged, gid_t msp_gid) {
    if (privileged && msp_gid == static_cast<gid_t>(-1)) return;
    Identity owner;
    owner.uid = privileged ? 0 : getuid();
    owner.gid = privileged ? msp_gid : getgid();
    prepare_dir(dir, owner, privileged, 0770);
}

// Says at start-up when a directory whose new names the suite relies on cannot be made
// durable on request (a file system that refuses fsync on a directory): mail there may
// be lost by a power failure even after a 250, and only moving the directory helps.
void check_dir_sync(const std::string& key, const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;  // made later by its daemon (and synced then)
    auto r = fsync_dir(dir);
    if (!r) {
        log_warning("%s %s: %s: new names in it may not survive a power failure", key.c_str(),
                    dir.c_str(), r.error().message.c_str());
    } else if (r.value() == DirSync::unsupported) {
        log_warning(
            "%s %s: this file system cannot fsync a directory, so new names in it (queue "
            "log files, mailboxes) may not survive a power failure; put it on a file "
            "system that can (ext4, XFS)",
            key.c_str(), dir.c_str());
    }
}

void check_programs(const Config& cfg) {
    for (const ChildSpec& s : process_table()) {
        std::string p = cfg.libexec_dir + "/" + s.program;
        if (::access(p.c_str(), X_OK) != 0)
            log_fatal(Exit::os_file, "%s: %s (libexec_dir in %s)", p.c_str(), std::strerror(errno),
                      cfg.config_file.c_str());
    }
}

void daemonize() {
    pid_t pid = ::fork();
    if (pid < 0) log_fatal(Exit::os_err, "fork: %s", std::strerror(errno));
    if (pid > 0) _exit(0);
    ::setsid();
    int fd = ::open("/dev/null", O_RDWR);
    if (fd >= 0) {
        ::dup2(fd, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (fd > 2) ::close(fd);
    }
}

// log_file (tegami.conf): opened here, as root, so the unprivileged daemons need no
// access to its directory; it becomes standard error of master and, inherited, of
// every daemon (supervisor.cpp keeps fd 2 for them). Empty: syslog, no file.
UniqueFd open_log_file(const Config& cfg) {
    if (cfg.log_file.empty()) return UniqueFd();
    if (cfg.log_file[0] != '/')
        log_fatal(Exit::config, "log_file = %s is not an absolute path", cfg.log_file.c_str());
    UniqueFd fd(
        ::open(cfg.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
    if (!fd)
        log_fatal(Exit::cant_create, "log_file %s: %s", cfg.log_file.c_str(), std::strerror(errno));
    return fd;
}

void use_log_file(const UniqueFd& fd, const std::string& ident) {
    if (::dup2(fd.get(), STDERR_FILENO) != STDERR_FILENO)
        log_fatal(Exit::os_err, "dup2 log_file: %s", std::strerror(errno));
    log_open(ident.c_str(), LogTarget::file);
}

struct Loop {
    Options opts;
    event_base* base;
    Supervisor* sup;
    EventPtr kill_timer;
    bool stopping = false;
    EventPtr client_queue_timer;
    uint64_t client_queue_interval = 0;
};

void on_client_queue_timer(evutil_socket_t, short, void* arg) noexcept {
    auto& l = *static_cast<Loop*>(arg);
    try {
        if (l.stopping) return;
        l.sup->run_client_queue();
        timeval tv{static_cast<time_t>(l.client_queue_interval), 0};
        evtimer_add(l.client_queue_timer.get(), &tv);
    } catch (const std::exception& e) {
        log_error("client-queue runner: %s", e.what());
    }
}

void on_signal(evutil_socket_t sig, short, void* arg) noexcept {
    auto& l = *static_cast<Loop*>(arg);
    try {
        if (sig == SIGCHLD) {
            l.sup->reap();
            if (l.stopping && l.sup->all_stopped()) event_base_loopbreak(l.base);
        } else if (sig == SIGHUP) {
            auto r = load_config(l.opts.config);
            if (!r) {
                log_error("reload refused: %s", r.error().message.c_str());
                return;
            }
            log_info("reloading %s (listener changes need a restart)", l.opts.config.c_str());
            l.sup->reload(std::make_shared<const Config>(std::move(r.value())));
        } else if (!l.stopping) {
            l.stopping = true;
            log_info("stopping");
            if (l.sup->stop_all()) {
                event_base_loopbreak(l.base);
                return;
            }
            timeval tv{10, 0};
            evtimer_add(l.kill_timer.get(), &tv);
        }
    } catch (const std::exception& e) {
        log_error("signal: %s", e.what());
    }
}

void on_kill_timer(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Loop*>(arg)->sup->kill_all();
}

// One descriptor per session plus the daemons' own (queue channel, logs, listeners,
// the BDB environment's files): the children inherit the limit set here.
void raise_nofile(const Config& cfg) {
    constexpr rlim_t kReserve = 256;
    rlim_t want = static_cast<rlim_t>(cfg.smtpd_client_limit) + kReserve;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rlimit next = rl;
    next.rlim_cur = want;
    if (next.rlim_max != RLIM_INFINITY && next.rlim_max < want) next.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &next) != 0) {
        // Not root: as far as the hard limit allows.
        next = rl;
        next.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
        if (next.rlim_cur <= rl.rlim_cur || setrlimit(RLIMIT_NOFILE, &next) != 0) {
            log_warning("RLIMIT_NOFILE is %llu (hard %llu): smtpd_client_limit = %llu needs %llu",
                        static_cast<unsigned long long>(rl.rlim_cur),
                        static_cast<unsigned long long>(rl.rlim_max),
                        static_cast<unsigned long long>(cfg.smtpd_client_limit),
                        static_cast<unsigned long long>(want));
            return;
        }
        log_warning(
            "RLIMIT_NOFILE raised from %llu only to the hard limit %llu (smtpd_client_limit "
            "= %llu needs %llu)",
            static_cast<unsigned long long>(rl.rlim_cur),
            static_cast<unsigned long long>(next.rlim_cur),
            static_cast<unsigned long long>(cfg.smtpd_client_limit),
            static_cast<unsigned long long>(want));
        return;
    }
    log_info("RLIMIT_NOFILE raised from %llu to %llu for smtpd_client_limit = %llu",
             static_cast<unsigned long long>(rl.rlim_cur),
             static_cast<unsigned long long>(next.rlim_cur),
             static_cast<unsigned long long>(cfg.smtpd_client_limit));
}

}  // namespace

int main(int argc, char** argv) {
    sanitize_inheritance();
    Options opts = parse_args(argc, argv);
    log_open("tegami/master", LogTarget::stderr_only);
    auto loaded = load_config(opts.config);
    if (!loaded) {
        std::fprintf(stderr, "tegami-master: %s\n", loaded.error().message.c_str());
        return code(loaded.error().exit);
    }
    auto cfg = std::make_shared<const Config>(std::move(loaded.value()));
    std::string ident = cfg->syslog_name + "/master";
    UniqueFd log_fd = open_log_file(*cfg);
    // Until the pid file is held and the sockets bound, errors go to the terminal;
    // log_file takes over from there (use_log_file below).
    log_open(ident.c_str(), opts.foreground || log_fd ? LogTarget::stderr_only : LogTarget::both);
    log_set_debug(opts.debug);

    bool privileged = running_as_root();
    auto self = current_identity();
    if (!self) log_fatal(self.error().exit, "%s", self.error().message.c_str());
    // Each daemon's own account (root master), or the caller for all of them.
    std::map<std::string, Identity> ids;
    for (const ChildSpec& s : process_table()) {
        std::string user = daemon_user(*cfg, s.name);
        auto id = privileged ? lookup_identity(user) : self;
        if (!id)
            log_fatal(id.error().exit,
                      "%s (create it: useradd --system --no-create-home --shell "
                      "/usr/sbin/nologin %s)",
                      id.error().message.c_str(), user.c_str());
        if (privileged && id->uid == 0)
            log_fatal(Exit::config, "%s_user = %s is uid 0; name an unprivileged account", s.name,
                      user.c_str());
        ids.emplace(s.name, id.value());
    }
    if (!privileged)
        log_info(
            "not started as root: every process runs as %s (uid %d); the *_user keys "
            "are not used",
            self->name.c_str(), static_cast<int>(self->uid));
    check_programs(*cfg);
    const Identity& queue_id = ids.at("queue");
    prepare_dir(cfg->queue_dir, queue_id, privileged, 0700);
    // run_dir holds one socket per daemon, each guarded by its own owner and mode; the
    // directory itself is master's (root, 0755) on an install.
    prepare_dir(cfg->run_dir, privileged ? Identity{"root", 0, 0, {}, "/"} : *self, privileged,
                privileged ? 0755 : 0700);
    if (!cfg->auth_dir.empty()) prepare_dir(cfg->auth_dir, ids.at("auth"), privileged, 0700);
    check_dir_sync("queue_dir", cfg->queue_dir);
    if (cfg->mailbox_format == MailboxFormat::mbox)
        check_dir_sync("mail_spool_dir", cfg->mail_spool_dir);

    raise_nofile(*cfg);
    auto pid = PidFile::acquire(cfg->pid_file);
    if (!pid) log_fatal(pid.error().exit, "%s", pid.error().message.c_str());
    gid_t msp_gid = static_cast<gid_t>(-1);
    if (privileged) {
        if (const group* gr = getgrnam(cfg->msp_group.c_str()))
            msp_gid = gr->gr_gid;
        else
            log_warning(
                "msp_group %s does not exist: no local submission socket and no client "
                "queue (create it: groupadd --system %s)",
                cfg->msp_group.c_str(), cfg->msp_group.c_str());
    }
    prepare_client_queue(cfg->client_queue_dir, privileged, msp_gid);
    std::map<std::string, SocketOwner> owners;
    if (privileged) {
        // listener -> {the daemon that serves it, the primary group of the one that connects}
        owners["queue"] = {ids.at("queue").uid, ids.at("smtpd").gid};
        owners["deliver"] = {ids.at("local").uid, ids.at("queue").gid};
        owners["remote"] = {ids.at("remote").uid, ids.at("queue").gid};
        owners["auth"] = {ids.at("auth").uid, ids.at("smtpd").gid};
        owners["local"] = {ids.at("smtpd").uid, 0};    // sendmail -> smtpd (msp_gid)
        owners["control"] = {ids.at("queue").uid, 0};  // sendmail -> queue (msp_gid)
    }
    auto sockets = bind_all(*cfg, owners, msp_gid);
    if (!sockets) log_fatal(sockets.error().exit, "%s", sockets.error().message.c_str());
    if (!opts.foreground) {
        daemonize();
        if (log_fd) use_log_file(log_fd, ident);
        log_open(ident.c_str(), log_fd ? LogTarget::file : LogTarget::syslog);
        pid->update();
    } else if (log_fd) {
        use_log_file(log_fd, ident);
    }

    EventBasePtr base(event_base_new());
    if (!base) log_fatal(Exit::os_err, "event_base_new failed");
    SupervisorOptions so{opts.config, privileged, opts.foreground, opts.debug, *self, ids};
    Supervisor sup(base.get(), so, cfg, std::move(sockets.value()));
    Loop loop{opts, base.get(), &sup, EventPtr(), false, EventPtr(), cfg->client_queue_interval};
    loop.kill_timer.reset(evtimer_new(base.get(), on_kill_timer, &loop));
    loop.client_queue_timer.reset(evtimer_new(base.get(), on_client_queue_timer, &loop));
    std::vector<EventPtr> sigs;
    for (int s : {SIGCHLD, SIGHUP, SIGTERM, SIGINT}) {
        sigs.emplace_back(evsignal_new(base.get(), s, on_signal, &loop));
        event_add(sigs.back().get(), nullptr);
    }
    log_info("started (pid %d, config %s%s)", static_cast<int>(getpid()), opts.config.c_str(),
             privileged ? "" : ", unprivileged");
    sup.start_all();
    if (loop.client_queue_interval > 0) {
        timeval first{2, 0};  // once smtpd serves: what a crash or an outage left
        evtimer_add(loop.client_queue_timer.get(), &first);
    }
    event_base_dispatch(base.get());
    pid->remove();
    log_info("stopped");
    return 0;
}
