// tegami - the administrator's verbs, as `postfix start|stop|reload|status|check` and
// `postqueue -f` work:
//
//   tegami [-c config] start     start master in the background; wait (up to 30 s)
//                                until its daemons run and the MTA greets
//   tegami [-c config] stop      SIGTERM to master; wait (up to 30 s) until it is gone
//   tegami [-c config] reload    SIGHUP to master (it re-reads the configuration)
//   tegami [-c config] status    which processes run, and since when
//   tegami [-c config] check     check the configuration (tegami-config -q)
//   tegami [-c config] flush     ask the queue for an immediate delivery attempt
//
// Exit codes follow LSB init scripts where they have one: status 0 running, 1 master
// dead but its pid file left, 3 not running; start/stop 0 also when already in the
// wanted state, 1 when it could not be reached in time; reload 7 when not running;
// 64 usage, 77 not permitted to signal master, 78 configuration error. flush is
// `sendmail -q` and exits as it does (69 where that cannot reach the queue).
//
// Runs as its caller; start and stop need root for a root-run suite. Signals go only to
// the pid in pid_file and only when /proc says it is tegami-master.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/exec.hpp"
#include "lib/core/sysexits.hpp"
#include "lib/core/unique_fd.hpp"
#include "msp/tegami/status.hpp"

using namespace tegami;

namespace {

constexpr int kWaitSeconds = 30;
constexpr int kLsbDead = 1;
constexpr int kLsbNotRunning = 3;
constexpr int kLsbReloadNotRunning = 7;

struct Ctx {
    std::string config_path;
    Config cfg;
};

void sleep_ms(int ms) {
    struct timespec ts {
        ms / 1000, (ms % 1000) * 1000000L
    };
    nanosleep(&ts, nullptr);
}

// True when host:port (or [v6]:port; wildcards become loopback) answers with "220".
bool greets(const std::string& listen) {
    std::string host;
    std::string port;
    if (!listen.empty() && listen[0] == '[') {
        size_t close = listen.find(']');
        if (close == std::string::npos || close + 1 >= listen.size()) return false;
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
    } else {
        size_t colon = listen.rfind(':');
        if (colon == std::string::npos) return false;
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    uint16_t p = static_cast<uint16_t>(std::atoi(port.c_str()));
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(p);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(p);
        len = sizeof(*v6);
    } else {
        return false;
    }
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) return false;
    char buf[4] = {};
    ssize_t n = ::read(fd.get(), buf, 3);
    const char quit[] = "QUIT\r\n";
    ssize_t w = ::write(fd.get(), quit, sizeof quit - 1);
    (void)w;
    return n == 3 && std::memcmp(buf, "220", 3) == 0;
}

bool has_daemon(const admin::Status& s, const char* name) {
    for (const auto& d : s.daemons)
        if (d.name == name) return true;
    return false;
}

bool ready(const Ctx& c, const admin::Status& s) {
    if (s.state != admin::State::running) return false;
    for (const char* d : {"tegami-queue", "tegami-smtpd", "tegami-local"})
        if (!has_daemon(s, d)) return false;
    return c.cfg.mta_listen.empty() || greets(c.cfg.mta_listen.front());
}

int do_start(const Ctx& c) {
    admin::Status s = admin::read_status(c.cfg.pid_file);
    if (s.state == admin::State::running) {
        std::printf("tegami: already running (master pid %d)\n", static_cast<int>(s.master.pid));
        return 0;
    }
    std::string prog = c.cfg.libexec_dir + "/tegami-master";
    pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "tegami: fork: %s\n", std::strerror(errno));
        return code(Exit::os_err);
    }
    if (pid == 0) {
        exec_program(prog, {prog, "-c", c.config_path});
        std::fprintf(stderr, "tegami: cannot execute %s: %s\n", prog.c_str(), std::strerror(errno));
        _exit(code(Exit::os_file));
    }
    int wst = 0;
    while (::waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        int rc = WIFEXITED(wst) ? WEXITSTATUS(wst) : 1;
        std::fprintf(stderr, "tegami: master did not start (exit %d)\n", rc);
        return rc;
    }
    for (int i = 0; i < kWaitSeconds * 10; ++i) {
        s = admin::read_status(c.cfg.pid_file);
        if (ready(c, s)) {
            std::printf("tegami: started (master pid %d)\n", static_cast<int>(s.master.pid));
            return 0;
        }
        if (i > 20 && s.state != admin::State::running) {
            std::fprintf(stderr, "tegami: master exited during start-up (see the log)\n");
            return 1;
        }
        sleep_ms(100);
    }
    std::fprintf(stderr, "tegami: not ready after %d s (see the log)\n", kWaitSeconds);
    return 1;
}

// Sends sig to the running master; returns -1 on success, else the exit code.
int signal_master(const admin::Status& s, int sig) {
    if (::kill(s.master.pid, sig) == 0) return -1;
    std::fprintf(stderr, "tegami: cannot signal master (pid %d): %s\n",
                 static_cast<int>(s.master.pid), std::strerror(errno));
    return errno == EPERM ? code(Exit::no_perm) : 1;
}

int do_stop(const Ctx& c) {
    admin::Status s = admin::read_status(c.cfg.pid_file);
    if (s.state != admin::State::running) {
        std::printf("tegami: not running\n");
        return 0;
    }
    if (int rc = signal_master(s, SIGTERM); rc >= 0) return rc;
    for (int i = 0; i < kWaitSeconds * 10; ++i) {
        if (admin::read_status(c.cfg.pid_file).state != admin::State::running &&
            (::kill(s.master.pid, 0) != 0 && errno == ESRCH)) {
            std::printf("tegami: stopped\n");
            return 0;
        }
        sleep_ms(100);
    }
    std::fprintf(stderr, "tegami: master (pid %d) still running after %d s\n",
                 static_cast<int>(s.master.pid), kWaitSeconds);
    return 1;
}

int do_reload(const Ctx& c) {
    admin::Status s = admin::read_status(c.cfg.pid_file);
    if (s.state != admin::State::running) {
        std::fprintf(stderr, "tegami: not running\n");
        return kLsbReloadNotRunning;
    }
    if (int rc = signal_master(s, SIGHUP); rc >= 0) return rc;
    std::printf("tegami: reload requested (master pid %d)\n", static_cast<int>(s.master.pid));
    return 0;
}

int do_status(const Ctx& c) {
    admin::Status s = admin::read_status(c.cfg.pid_file);
    if (s.state == admin::State::not_running) {
        std::printf("tegami: not running\n");
        return kLsbNotRunning;
    }
    if (s.state == admin::State::dead_with_pid_file) {
        std::string pid = std::to_string(s.master.pid);
        std::string why = s.master.pid == 0 ? "no pid in it"
                          : s.pid_alive ? "pid " + pid + " is another program, not tegami-master"
                                        : "pid " + pid + " has exited";
        std::printf("tegami: not running, but %s is left (%s)\n", c.cfg.pid_file.c_str(),
                    why.c_str());
        return kLsbDead;
    }
    std::printf("tegami: running: master pid %d since %s\n", static_cast<int>(s.master.pid),
                admin::format_time(s.master.started).c_str());
    for (const auto& d : s.daemons)
        std::printf("  %-14s pid %-7d since %s\n", d.name.c_str(), static_cast<int>(d.pid),
                    admin::format_time(d.started).c_str());
    return 0;
}

int do_check(const Ctx&) {
    return 0;  // the configuration was loaded and checked before any verb runs
}

// flush is `sendmail -q`: the sendmail command beside this program asks the queue over
// its control socket (queue_control_socket) for an immediate run, so there is one
// client of that socket. A build whose sendmail cannot do it yet answers 69.
int do_flush(const Ctx& c) {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
    dir = dir.substr(0, dir.rfind('/') == std::string::npos ? 0 : dir.rfind('/'));
    std::string prog = dir + "/sendmail";
    if (dir.empty() || ::access(prog.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "tegami: flush: no sendmail command beside tegami (%s)\n",
                     prog.c_str());
        return code(Exit::unavailable);
    }
    // -C only for another configuration: sendmail gives up its group for -C.
    std::vector<std::string> args = {"sendmail"};
    if (c.config_path != default_config_path()) args.insert(args.end(), {"-C", c.config_path});
    args.emplace_back("-q");
    exec_program(prog, std::move(args));
    std::fprintf(stderr, "tegami: flush: cannot execute %s: %s\n", prog.c_str(),
                 std::strerror(errno));
    return code(Exit::unavailable);
}

struct Verb {
    const char* name;
    int (*run)(const Ctx&);
};
constexpr Verb kVerbs[] = {
    {"start", do_start},   {"stop", do_stop},   {"reload", do_reload},
    {"status", do_status}, {"check", do_check}, {"flush", do_flush},
};

int usage() {
    std::fputs("usage: tegami [-c config] start|stop|reload|status|check|flush\n", stderr);
    return code(Exit::usage);
}

}  // namespace

int main(int argc, char** argv) {
    Ctx c;
    c.config_path = default_config_path();
    int opt;
    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt != 'c') return usage();
        c.config_path = optarg;
    }
    if (argc - optind != 1) return usage();
    const Verb* verb = nullptr;
    for (const auto& v : kVerbs)
        if (std::strcmp(v.name, argv[optind]) == 0) verb = &v;
    if (!verb) {
        std::fprintf(stderr, "tegami: unknown command \"%s\"\n", argv[optind]);
        return usage();
    }
    auto cfg = load_config(c.config_path);
    if (!cfg) {
        std::fprintf(stderr, "tegami: %s\n", cfg.error().message.c_str());
        return code(cfg.error().exit);
    }
    c.cfg = std::move(cfg.value());
    signal(SIGPIPE, SIG_IGN);
    return verb->run(c);
}
