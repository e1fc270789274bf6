// sendmail - the sendmail-compatible command line (the MSP): submission from standard
// input (-bm default, -t), SMTP on standard input (-bs), address verification (-bv),
// the client-queue runner (-Ac -q), queue listing (-bp, mailq), queue runs and admin
// (-q, -qI/-qR/-qS, -Q), the daemon (-bd/-bD), configuration check (-bC), -d0.1. Also
// answers as mailq, newaliases, hoststat, purgestat and smtpd. See sendmail(8).
//
// SECURITY. Installed set-group-ID to msp_group (never setuid). The group is needed
// for exactly: creating a file in client_queue_dir, connecting to msp_socket and
// queue_control_socket, reading the client queue (runner, mailq -Ac). Everything else
// runs after drop_msp_group() (caller.cpp), in particular all RFC 5322 parsing (the
// submission child, submit.cpp). What it inherits from its untrusted caller and how
// each is neutralised:
//   environment   - cleared; PATH fixed; only TZ kept (glibc ignores file TZ paths in
//                   secure mode). No variable is read.
//   argv          - parsed by options.cpp (pure); -C, -oQ, -oA, -d.. and options Tegami
//                   does not implement give the group up before anything else; -X is
//                   refused unless root; -C from root is honoured as root's choice.
//   fds 0-2       - opened on /dev/null when closed (so no file we open becomes one of
//                   them); every fd >= 3 is closed at start.
//   umask         - 077; the client-queue file gets 0660 explicitly (fchmod).
//   cwd           - "/" once the configuration is read.
//   signals       - every disposition reset, mask cleared, SIGPIPE and SIGXFSZ
//                   ignored.
//   rlimits       - RLIMIT_CORE 0 (no core with the group's data); the rest inherited:
//                   a client-queue write that fails for RLIMIT_FSIZE (or a full
//                   disk) leaves no file, and the message goes to smtpd directly.
//   clock         - only for Date: and IDs.
// The client-queue file is created O_EXCL|O_NOFOLLOW in the directory we opened, and
// locked while its submitter works on it; the runner reads the submitter's uid from
// the file's owner, never from its contents.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/exec.hpp"
#include "lib/core/log.hpp"
#include "lib/core/sysexits.hpp"
#include "lib/map/map.hpp"
#include "msp/sendmail/address_test.hpp"
#include "msp/sendmail/caller.hpp"
#include "msp/sendmail/mailq.hpp"
#include "msp/sendmail/options.hpp"
#include "msp/sendmail/submit.hpp"

using namespace tegami;
using namespace tegami::msp;

namespace {

void sanitize_inheritance() {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        int n = ::open("/dev/null", O_RDWR);
        if (n < 0) _exit(EX_OSERR);
        if (n != fd) _exit(EX_OSERR);  // lower fds are open, so open() returns fd itself
    }
    ::close_range(3, ~0U, 0);
    ::umask(077);
    std::string tz;
    if (const char* t = std::getenv("TZ")) tz = t;
    ::clearenv();
    ::setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
    if (!tz.empty() && tz.size() < 256) ::setenv("TZ", tz.c_str(), 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);  // over RLIMIT_FSIZE a write fails (EFBIG), not the process
    rlimit core{0, 0};
    ::setrlimit(RLIMIT_CORE, &core);
}

int exec_master(const Config& cfg, const std::string& config, bool foreground) {
    std::string path = cfg.libexec_dir + "/tegami-master";
    std::vector<std::string> args = {path, "-c", config};
    if (foreground) args.emplace_back("-f");
    exec_program(path, std::move(args));
    std::fprintf(stderr, "sendmail: cannot execute %s: %s\n", path.c_str(), std::strerror(errno));
    return EX_OSFILE;
}

// newaliases / -bi: the aliases compiler is its own program beside sendmail.
int exec_newaliases(const Config& cfg, const Options& o) {
    std::string dir = cfg.sendmail_path.substr(0, cfg.sendmail_path.rfind('/'));
    std::string path = dir + "/newaliases";
    struct stat self, other;
    if (::stat("/proc/self/exe", &self) != 0 || ::stat(path.c_str(), &other) != 0 ||
        (self.st_dev == other.st_dev && self.st_ino == other.st_ino)) {
        std::fprintf(stderr, "newaliases: %s is not installed (the aliases compiler)\n",
                     path.c_str());
        return EX_UNAVAILABLE;
    }
    std::vector<std::string> args = {path};
    if (o.has_config) {
        args.emplace_back("-C");
        args.push_back(o.config);
    }
    exec_program(path, std::move(args));
    std::fprintf(stderr, "newaliases: cannot execute %s: %s\n", path.c_str(), std::strerror(errno));
    return EX_OSFILE;
}

// -bt: address test mode (address_test.hpp) on standard input, without the group.
int address_test_mode(const Config& cfg) {
    std::map<std::string, std::unique_ptr<map::MapRef>, std::less<>> maps;
    auto spec_of = [&](std::string_view name) -> const std::string& {
        if (name == "mailertable") return cfg.mailertable;
        if (name == "virtuser") return cfg.virtual_map;
        return cfg.smtpd_access_map;
    };
    AddressTestContext ctx;
    ctx.hostname = cfg.hostname;
    ctx.local_domains = cfg.local_domains;
    ctx.virtual_domains = cfg.virtual_domains;
    ctx.smarthost = cfg.smarthost;
    ctx.lookup = [&](std::string_view name,
                     std::string_view key) -> Result<std::optional<std::string>> {
        const std::string& spec = spec_of(name);
        if (spec.empty()) return make_error(Exit::unavailable, "map is not configured");
        auto it = maps.find(name);
        if (it == maps.end())
            it = maps.emplace(std::string(name), std::make_unique<map::MapRef>(spec)).first;
        return it->second->lookup(key);
    };
    AddressTester t(std::move(ctx));
    bool echo = !::isatty(0);
    std::fputs(std::string(kAddressTestBanner).c_str(), stdout);
    char* buf = nullptr;
    size_t cap = 0;
    for (;;) {
        std::fputs("> ", stdout);
        std::fflush(stdout);
        ssize_t n = ::getline(&buf, &cap, stdin);
        if (n < 0) break;
        std::string_view in(buf, static_cast<size_t>(n));
        while (!in.empty() && (in.back() == '\n' || in.back() == '\r'))
            in.remove_suffix(1);
        if (echo) std::printf("%.*s\n", static_cast<int>(in.size()), in.data());
        std::string out = t.line(in);
        std::fwrite(out.data(), 1, out.size(), stdout);
        if (t.quit()) break;
    }
    std::free(buf);
    std::fputs("\n", stdout);
    return 0;
}

int queue_mode(const Options& o, const Config& cfg, Caller& caller) {
    if (o.queue_select == 'c') {
        if (o.queue_interval == 0) return run_client_queue(o, cfg, caller);
        // -Ac -q30m: the periodic client-queue runner (sm-msp-queue), in the background.
        if (!o.queue_foreground) {
            pid_t pid = ::fork();
            if (pid < 0) return EX_OSERR;
            if (pid > 0) return 0;
            ::setsid();
        }
        for (;;) {
            Caller copy = caller;
            (void)run_client_queue(o, cfg, copy);
            ::sleep(static_cast<unsigned>(o.queue_interval));
        }
    }
    return queue_control(o, cfg, caller);
}

}  // namespace

int main(int argc, char** argv) {
    sanitize_inheritance();
    Caller caller = identify_caller();
    std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + (argc > 0 ? argc : 0));
    auto parsed = parse_options(args, argc > 0 ? argv[0] : "sendmail");
    if (!parsed) {
        if (caller.borrowed_group()) drop_msp_group(caller);
        std::fprintf(stderr, "sendmail: %s\n", parsed.error().message.c_str());
        return code(parsed.error().exit);
    }
    Options& o = parsed.value();
    if (o.dangerous && caller.borrowed_group() && !caller.root()) drop_msp_group(caller);
    for (const auto& w : o.warnings)
        std::fprintf(stderr, "sendmail: Warning: %s\n", w.c_str());
    if (o.version) {
        std::printf("Version 0.1.0 (Tegami)\n");
        return 0;
    }
    if (!o.xlog.empty() && !caller.root()) {
        if (caller.borrowed_group()) drop_msp_group(caller);
        std::fprintf(stderr, "sendmail: -X %s: Permission denied (only root may log traffic)\n",
                     o.xlog.c_str());
        return EX_NOPERM;
    }
    std::string config = o.has_config ? o.config : default_config_path();
    auto loaded = load_config(config, !o.has_config);
    if (!loaded) {
        std::fprintf(stderr, "sendmail: %s\n", loaded.error().message.c_str());
        return code(loaded.error().exit);
    }
    const Config& cfg = loaded.value();
    log_open(o.log_tag.empty() ? "sendmail" : o.log_tag.c_str(),
             o.queue_run && o.queue_select == 'c' ? LogTarget::both : LogTarget::stderr_only);
    if (::chdir("/") != 0) return EX_OSERR;

    const std::string& m = o.mode;
    if (m == "d" || m == "D") {
        if (caller.borrowed_group()) drop_msp_group(caller);
        return exec_master(cfg, config, m == "D");
    }
    bool queue_request = o.queue_run || o.quarantine || o.delete_ids;
    // A queue run, hold or delete; mailq (mode "p" from the program name) with -q
    // filters only lists, as sendmail's mailq -qR does.
    if (queue_request && m == "m" && !o.mode_given) return queue_mode(o, cfg, caller);
    if (m == "h") return host_status(o, cfg, caller);
    if (m == "H") return purge_host_status(o, cfg, caller);
    if (m == "m" || m == "s" || m == "v" || m == "p") {
        if (m == "m") return submit_message(o, cfg, caller);
        if (m == "s") return smtp_on_stdio(o, cfg, caller);
        if (m == "v") return verify_addresses(o, cfg, caller);
        return list_queue(o, cfg, caller);
    }
    if (caller.borrowed_group()) drop_msp_group(caller);
    if (m == "C") {
        std::printf("%s: configuration ok\n", config.c_str());
        return 0;
    }
    if (m == "i") return exec_newaliases(cfg, o);
    if (m == "P") {
        std::printf("Data unavailable: shared memory not available\n");
        return 0;
    }
    if (m == "t") return address_test_mode(cfg);
    if (m == "a" || m == "z")
        return std::fprintf(stderr, "sendmail: -b%s: this mode is not supported\n", m.c_str()),
               EX_USAGE;
    std::fprintf(stderr, "sendmail: Invalid operation mode %s\n", m.c_str());
    return EX_USAGE;
}
