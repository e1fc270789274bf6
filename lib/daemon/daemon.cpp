// daemon.cpp - see daemon.hpp: the fixed lifecycle of smtpd, queue and local.
// Trusts: master (fd 3) for listening sockets and reload orders; the configuration
// file named by -c. Everything else (peers on the listeners) is the daemon's business.
#include "lib/daemon/daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/core/log.hpp"
#include "lib/ipc/messages.hpp"

namespace tegami {

namespace {

constexpr int kMasterFd = 3;

struct Args {
    std::string config;
    bool privileged = false;
    bool foreground = false;
    bool debug = false;
    std::vector<std::pair<std::string, std::string>> standalone;  // role, path
};

Args parse_args(int argc, char** argv, const char* name) {
    Args a;
    int opt;
    while ((opt = getopt(argc, argv, "c:PfdL:")) != -1) {
        switch (opt) {
            case 'c':
                a.config = optarg;
                break;
            case 'P':
                a.privileged = true;
                break;
            case 'f':
                a.foreground = true;
                break;
            case 'd':
                a.debug = true;
                break;
            case 'L': {
                std::string s = optarg;
                size_t eq = s.find('=');
                if (eq == std::string::npos) log_fatal(Exit::usage, "-L wants role=path");
                a.standalone.emplace_back(s.substr(0, eq), s.substr(eq + 1));
                break;
            }
            default:
                log_fatal(Exit::usage, "usage: tegami-%s -c config [-P] [-f] [-d] [-L role=path]",
                          name);
        }
    }
    if (a.config.empty()) log_fatal(Exit::usage, "tegami-%s: -c config is required", name);
    return a;
}

// Receives listener frames from master until `start`.
void receive_listeners(DaemonContext& ctx) {
    for (;;) {
        auto f = ipc::recv_frame_blocking(kMasterFd);
        if (!f) log_fatal(Exit::os_err, "reading from master: %s", f.error().message.c_str());
        if (f->type == ipc::MsgType::start) return;
        ipc::ListenerMsg m;
        if (f->type != ipc::MsgType::listener || !ipc::decode(f->payload, m) || f->fds.size() != 1)
            log_fatal(Exit::protocol, "unexpected %s frame from master",
                      ipc::msg_type_name(f->type));
        evutil_make_socket_nonblocking(f->fds[0].get());
        // listen() again from this process: SO_PEERCRED, as seen by a client of an internal
        // Unix socket, names whoever last called listen(), so peers see this daemon's uid.
        sockaddr_storage sa{};
        socklen_t len = sizeof(sa);
        if (::getsockname(f->fds[0].get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0 &&
            sa.ss_family == AF_UNIX)
            ::listen(f->fds[0].get(), 256);
        ctx.listeners.push_back(Listener{m.role, m.name, std::move(f->fds[0])});
    }
}

struct Runtime {
    DaemonContext ctx;
    DaemonHooks hooks;
    Args args;
    std::unique_ptr<ipc::Channel> master;
    std::vector<EventPtr> signals;
};

void do_reload(Runtime& rt) {
    auto r = load_config(rt.args.config);
    if (!r) {
        log_error("reload: %s; keeping the running configuration", r.error().message.c_str());
        return;
    }
    rt.ctx.config = std::make_shared<const Config>(std::move(r.value()));
    log_info("configuration reloaded");
    if (rt.hooks.reload) rt.hooks.reload(rt.ctx);
}

void on_signal(evutil_socket_t sig, short, void* arg) noexcept {
    auto& rt = *static_cast<Runtime*>(arg);
    try {
        if (sig == SIGHUP) {
            do_reload(rt);
            return;
        }
        if (rt.ctx.stopping) {
            log_info("second stop signal: exiting now");
            event_base_loopbreak(rt.ctx.base);
            return;
        }
        rt.ctx.stopping = true;
        log_info("stopping");
        if (!rt.hooks.stop || rt.hooks.stop(rt.ctx)) event_base_loopbreak(rt.ctx.base);
    } catch (const std::exception& e) {
        log_error("signal handler: %s", e.what());
        event_base_loopbreak(rt.ctx.base);
    }
}

void on_master_frame(Runtime& rt, ipc::MsgType type) {
    if (type == ipc::MsgType::reload) {
        do_reload(rt);
        return;
    }
    log_error("unexpected %s frame from master", ipc::msg_type_name(type));
}

}  // namespace

int daemon_main(int argc, char** argv, const char* name, CapProfile caps, DaemonHooks hooks) {
    Args args = parse_args(argc, argv, name);
    auto cfg = load_config(args.config);
    if (!cfg) {
        std::fprintf(stderr, "tegami-%s: %s\n", name, cfg.error().message.c_str());
        return code(cfg.error().exit);
    }
    std::string ident = cfg->syslog_name + "/" + name;
    // With log_file, master made standard error that file (smtpd/master/main.cpp).
    log_open(ident.c_str(), !cfg->log_file.empty() ? LogTarget::file
                            : args.foreground      ? LogTarget::stderr_only
                                                   : LogTarget::syslog);
    log_set_debug(args.debug);
    if (auto r = verify_privileges(caps, args.privileged); !r)
        log_fatal(r.error().exit, "refusing to run: %s", r.error().message.c_str());
    signal(SIGPIPE, SIG_IGN);
    umask(077);

    auto rt = std::make_unique<Runtime>();
    rt->args = args;
    rt->hooks = std::move(hooks);
    rt->ctx.name = name;
    rt->ctx.privileged = args.privileged;
    rt->ctx.config = std::make_shared<const Config>(std::move(cfg.value()));
    EventBasePtr base(event_base_new());
    if (!base) log_fatal(Exit::os_err, "event_base_new failed");
    rt->ctx.base = base.get();
    // The lines logged while the loop's callbacks run go out together, in one write, once
    // the callbacks that are ready have run (an active event runs in the same iteration).
    EventPtr log_ev(event_new(
        base.get(), -1, 0, [](evutil_socket_t, short, void*) noexcept { log_flush(); }, nullptr));
    if (log_ev) log_defer([ev = log_ev.get()] { event_active(ev, EV_TIMEOUT, 0); });

    if (args.standalone.empty()) {
        receive_listeners(rt->ctx);
        Runtime* raw = rt.get();
        rt->master = std::make_unique<ipc::Channel>(
            base.get(), UniqueFd(kMasterFd),
            [raw](ipc::MsgType t, std::string_view, std::vector<UniqueFd>&) {
                on_master_frame(*raw, t);
            },
            [raw](const std::string& why) {
                log_info("master went away (%s): exiting", why.c_str());
                event_base_loopbreak(raw->ctx.base);
            });
    } else {
        for (auto& [role, path] : args.standalone) {
            auto fd = listen_unix(path);
            if (!fd) log_fatal(Exit::os_err, "%s", fd.error().message.c_str());
            rt->ctx.listeners.push_back(Listener{role, path, std::move(fd.value())});
        }
    }
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        EventPtr ev(evsignal_new(base.get(), sig, on_signal, rt.get()));
        event_add(ev.get(), nullptr);
        rt->signals.push_back(std::move(ev));
    }
    init_daemon_uids(*rt->ctx.config, args.privileged);
    if (rt->hooks.init) rt->hooks.init(rt->ctx);
    if (rt->master) rt->master->send(ipc::encode_empty(ipc::MsgType::ready));
    log_info("started (%zu listener%s%s)", rt->ctx.listeners.size(),
             rt->ctx.listeners.size() == 1 ? "" : "s",
             args.privileged ? ", privileges verified" : "");
    event_base_dispatch(base.get());
    log_defer(nullptr);  // from here every line is written at once
    log_info("stopped");
    rt.reset();  // daemon objects go before the event base they use
    return 0;
}

// Fills sa for path; false when the path does not fit.
static bool unix_address(const std::string& path, sockaddr_un& sa) {
    sa = sockaddr_un{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) return false;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    return true;
}

Result<UniqueFd> listen_unix(const std::string& path, int backlog) {
    sockaddr_un sa{};
    if (!unix_address(path, sa)) return make_error(Exit::config, path + ": socket path too long");
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket", errno);
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
        return sys_error("bind " + path, errno);
    if (::listen(fd.get(), backlog) != 0) return sys_error("listen " + path, errno);
    return fd;
}

void daemon_exit_loop(DaemonContext& ctx) {
    event_base_loopbreak(ctx.base);
}

Result<UniqueFd> connect_unix(const std::string& path) {
    sockaddr_un sa{};
    if (!unix_address(path, sa)) return make_error(Exit::config, path + ": socket path too long");
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket", errno);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
        return sys_error("connect " + path, errno, Exit::temp_fail);
    evutil_make_socket_nonblocking(fd.get());
    return fd;
}

namespace {
struct DaemonUids {
    bool set = false;
    std::vector<std::pair<std::string, long>> uids;
};
DaemonUids& daemon_uids() {
    static DaemonUids t;
    return t;
}
}  // namespace

void init_daemon_uids(const Config& c, bool privileged) {
    DaemonUids& t = daemon_uids();
    t.uids.clear();
    for (const char* d : {"smtpd", "queue", "local", "auth", "remote"}) {
        long uid = static_cast<long>(getuid());
        if (privileged) {
            auto id = lookup_identity(daemon_user(c, d));
            uid = id ? static_cast<long>(id->uid) : -1;
        }
        t.uids.emplace_back(d, uid);
    }
    t.set = true;
}

long daemon_uid(std::string_view daemon) {
    const DaemonUids& t = daemon_uids();
    if (!t.set) return static_cast<long>(getuid());
    for (const auto& [name, uid] : t.uids)
        if (name == daemon) return uid;
    return -1;
}

long peer_uid(int fd) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return static_cast<long>(cred.uid);
}

std::string queue_socket_path(const Config& c) {
    return c.run_dir + "/queue.sock";
}
std::string local_socket_path(const Config& c) {
    return c.run_dir + "/local.sock";
}
std::string auth_socket_path(const Config& c) {
    return c.run_dir + "/auth.sock";
}
std::string remote_socket_path(const Config& c) {
    return c.run_dir + "/remote.sock";
}

}  // namespace tegami
