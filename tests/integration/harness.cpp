// harness.cpp - see harness.hpp. Test code only: it forks and execs the suite's own
// programs and scripts/mkconf.sh, talks SMTP to 127.0.0.1 and reads files in its own
// temporary directory. Nothing here waits without a deadline.
#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace tegami_it {

namespace {

using Clock = std::chrono::steady_clock;

long ms_left(Clock::time_point deadline) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return d.count() < 0 ? 0 : d.count();
}

void sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Exec argv in a child whose stdout/stderr go to out_fd; the child gets its own process
// group and dies with the test process.
pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (out_fd >= 0) {
        dup2(out_fd, 1);
        dup2(out_fd, 2);
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
}

// Waits for pid until the deadline; the exit status, -1 if killed, -2 on timeout.
int wait_pid(pid_t pid, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0 && errno != EINTR) return -1;
        if (ms_left(deadline) == 0) return -2;
        sleep_ms(20);
    }
}

void ensure_user(const char* name) {
    if (getpwnam(name) != nullptr) return;
    run_command(
        {"/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name},
        20);
}

}  // namespace

std::string bin_dir() {
    return env_or("TEGAMI_BIN", src_dir() + "/build/bin");
}

std::string src_dir() {
    return env_or("TEGAMI_SRC", std::filesystem::current_path().string());
}

std::string mail_user() {
    if (geteuid() == 0) {
        ensure_user("tgtest1");
        return "tgtest1";
    }
    passwd* pw = getpwuid(geteuid());
    return pw != nullptr ? pw->pw_name : "";
}

namespace {

bool port_binds(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

// Chosen at random below the kernel's ephemeral range, and never one handed out before by
// this process: bind(0) may give the same port to two calls in a row (a test that asks
// for a second listener's port, then starts the sandbox on another), and its ports are
// ephemeral ones, which any client socket may take as its source port before the
// sandbox binds them.
int free_port() {
    static std::set<int> given;
    static unsigned seed =
        static_cast<unsigned>(getpid()) * 2654435761u ^ static_cast<unsigned>(time(nullptr));
    int low = 32768;
    if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
        if (std::fscanf(f, "%d", &low) != 1) low = 32768;
        std::fclose(f);
    }
    const int first = 10000;
    for (int i = 0; i < 200 && low > first + 100; ++i) {
        int port = first + static_cast<int>(rand_r(&seed) % static_cast<unsigned>(low - first));
        if (!given.count(port) && port_binds(port)) {
            given.insert(port);
            return port;
        }
    }
    return -1;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "";
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

bool wait_until(const std::function<bool()>& cond, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (cond()) return true;
        if (ms_left(deadline) == 0) return false;
        sleep_ms(50);
    }
}

size_t count_of(std::string_view hay, std::string_view needle) {
    if (needle.empty()) return 0;
    size_t n = 0;
    for (size_t pos = hay.find(needle); pos != std::string_view::npos;
         pos = hay.find(needle, pos + needle.size()))
        ++n;
    return n;
}

CommandResult run_command(const std::vector<std::string>& argv, int timeout_s) {
    CommandResult res;
    char path[] = "/tmp/tegami-it-out.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return res;
    unlink(path);
    pid_t pid = spawn(argv, fd);
    if (pid < 0) {
        ::close(fd);
        return res;
    }
    int st = wait_pid(pid, timeout_s * 1000);
    if (st == -2) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        wait_pid(pid, 5000);
        st = -1;
    }
    res.status = st;
    lseek(fd, 0, SEEK_SET);
    char b[4096];
    ssize_t n;
    while ((n = ::read(fd, b, sizeof b)) > 0)
        res.output.append(b, static_cast<size_t>(n));
    ::close(fd);
    return res;
}

// ---- Sandbox

Sandbox& sandbox() {
    static Sandbox s;
    return s;
}

void stop_sandbox() {
    sandbox().stop();
}

bool Sandbox::start(const std::vector<std::string>& extra) {
    if (geteuid() == 0) run_command({"/bin/sh", src_dir() + "/scripts/accounts.sh"}, 60);
    char tmpl[] = "/tmp/tegami-it.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        error = std::string("mkdtemp: ") + std::strerror(errno);
        return false;
    }
    dir = tmpl;
    chmod(dir.c_str(), 0755);  // the daemons' user must traverse it when run as root
    port = free_port();
    if (port <= 0) {
        error = "no free port";
        return false;
    }
    write_file(dir + "/aliases",
               aliases.empty() ? "# test aliases\npostmaster: " + mail_user() + "\n" : aliases);
    std::vector<std::string> argv = {"/bin/sh", src_dir() + "/scripts/mkconf.sh", dir,
                                     std::to_string(port), bin_dir()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    CommandResult mk = run_command(argv, 20);
    if (mk.status != 0) {
        error = "mkconf.sh failed: " + mk.output;
        return false;
    }
    conf = dir + "/tegami.conf";
    std::string logpath = dir + "/master.log";
    int logfd = open(logpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        error = "open " + logpath + ": " + std::strerror(errno);
        return false;
    }
    pid = spawn({bin_dir() + "/tegami-master", "-c", conf, "-f"}, logfd);
    ::close(logfd);
    if (pid < 0) {
        error = "fork failed";
        return false;
    }
    // Ready when the MTA port greets with 220.
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (ms_left(deadline) > 0) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            pid = -1;
            error = "tegami-master exited early:\n" + log();
            return false;
        }
        SmtpClient c;
        if (c.connect(port, 500)) {
            Reply g = c.reply(static_cast<int>(ms_left(deadline)));
            if (g.code == 220) {
                c.cmd("QUIT", 2000);
                // The queue and local announce readiness to master; give them a moment.
                wait_until(
                    [&] {
                        std::string l = log();
                        return l.find("queue (pid") != std::string::npos &&
                               count_of(l, ") ready") >= 3;
                    },
                    5000);
                return true;
            }
        }
        sleep_ms(100);
    }
    error = "the MTA port did not greet within 10 s:\n" + log();
    return false;
}

void Sandbox::stop() {
    if (pid > 0) {
        kill(pid, SIGTERM);
        int st = wait_pid(pid, 15000);
        if (st == -2) {
            std::fprintf(stderr, "tegami-master did not stop within 15 s; killing it\n");
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            wait_pid(pid, 5000);
        }
        // Children that outlived master (they share its process group).
        kill(-pid, SIGKILL);
        pid = -1;
    }
    if (!dir.empty() && std::getenv("TEGAMI_KEEP") == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        dir.clear();
    }
}

void Sandbox::dump_log() const {
    if (dir.empty()) return;
    std::string l = log();
    size_t pos = l.size();
    for (int i = 0; i < 40 && pos > 0; ++i) {
        pos = l.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            pos = 0;
            break;
        }
    }
    std::fprintf(stderr, "---- last lines of %s/master.log:\n%s----\n", dir.c_str(),
                 l.substr(pos).c_str());
}

// ---- SMTP client

std::string Reply::text() const {
    std::string t;
    for (const std::string& l : lines) {
        if (!t.empty()) t += '\n';
        t += l;
    }
    return t;
}

std::string Reply::enhanced() const {
    if (lines.empty()) return "";
    const std::string& l = lines.back();
    // class.subject.detail: 1 digit, 1-3 digits, 1-3 digits, then space or end.
    size_t i = 0;
    auto digits = [&](size_t lo, size_t hi) {
        size_t n = 0;
        while (i < l.size() && l[i] >= '0' && l[i] <= '9') {
            ++i;
            ++n;
        }
        return n >= lo && n <= hi;
    };
    if (!digits(1, 1) || i >= l.size() || l[i++] != '.') return "";
    if (!digits(1, 3) || i >= l.size() || l[i++] != '.') return "";
    if (!digits(1, 3) || (i < l.size() && l[i] != ' ')) return "";
    return l.substr(0, i);
}

SmtpClient::~SmtpClient() {
    close();
}

void SmtpClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
    eof_ = false;
}

bool SmtpClient::connect(int port, int timeout_ms) {
    close();
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (errno != EINPROGRESS) {
            close();
            return false;
        }
        pollfd p{fd_, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&p, 1, timeout_ms) != 1 ||
            getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close();
            return false;
        }
    }
    return true;
}

bool SmtpClient::send(std::string_view data) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!data.empty()) {
        if (fd_ < 0) return false;
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd_, POLLOUT, 0};
            if (poll(&p, 1, static_cast<int>(ms_left(deadline))) <= 0) return false;
            continue;
        }
        return false;
    }
    return true;
}

bool SmtpClient::fill(int timeout_ms) {
    if (fd_ < 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) return false;
    char b[8192];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        eof_ = true;
        return false;
    }
    buf_.append(b, static_cast<size_t>(n));
    return true;
}

Reply SmtpClient::reply(int timeout_ms) {
    Reply r;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (int guard = 0; guard < 10000; ++guard) {
        size_t eol = buf_.find("\r\n");
        if (eol == std::string::npos) {
            if (buf_.size() > 65536 || !fill(static_cast<int>(ms_left(deadline)))) {
                r.code = -1;
                return r;
            }
            continue;
        }
        std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        transcript += line + "\n";
        if (line.size() < 3 || line.find_first_not_of("0123456789") < 3 ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
            r.code = -1;
            r.lines.push_back(line);
            return r;
        }
        int code = std::atoi(line.substr(0, 3).c_str());
        if (!r.lines.empty() && code != r.code) {
            r.code = -1;
            return r;
        }
        r.code = code;
        r.lines.push_back(line.size() > 4 ? line.substr(4) : "");
        if (line.size() == 3 || line[3] == ' ') return r;
    }
    r.code = -1;
    return r;
}

Reply SmtpClient::cmd(std::string_view line, int timeout_ms) {
    std::string l(line);
    l += "\r\n";
    if (!send(l)) return Reply{};
    return reply(timeout_ms);
}

bool SmtpClient::closed_by_peer(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!eof_ && ms_left(deadline) > 0) {
        buf_.clear();
        if (!fill(static_cast<int>(ms_left(deadline))) && !eof_) return false;
    }
    return eof_;
}

bool smtp_hello(SmtpClient& c, int port, Reply* ehlo) {
    if (!c.connect(port)) return false;
    if (c.reply().code != 220) return false;
    Reply e = c.cmd("EHLO client.example.org");
    if (ehlo != nullptr) *ehlo = e;
    return e.code == 250;
}

Reply smtp_send(SmtpClient& c, const std::string& from, const std::vector<std::string>& rcpts,
                const std::string& data) {
    Reply r = c.cmd("MAIL FROM:<" + from + ">");
    if (r.code != 250) return r;
    for (const std::string& to : rcpts) {
        r = c.cmd("RCPT TO:<" + to + ">");
        if (r.code != 250) return r;
    }
    r = c.cmd("DATA");
    if (r.code != 354) return r;
    if (!c.send(data) || !c.send(".\r\n")) return Reply{};
    return c.reply(30000);
}

std::string queued_id(const Reply& r) {
    if (r.code != 250 || r.lines.size() != 1) return "";
    const std::string prefix = "2.0.0 Ok: queued as ";
    const std::string& l = r.lines[0];
    if (l.rfind(prefix, 0) != 0) return "";
    std::string id = l.substr(prefix.size());
    if (id.size() != 16) return "";
    for (char ch : id)
        if (!std::isalnum(static_cast<unsigned char>(ch))) return "";
    return id;
}

}  // namespace tegami_it
