// status.cpp - see status.hpp.
#include "msp/tegami/status.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/core/c_ptr.hpp"

namespace tegami::admin {

namespace {

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return std::nullopt;
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string argv0_name(pid_t pid) {
    auto cmd = read_text("/proc/" + std::to_string(pid) + "/cmdline");
    if (!cmd || cmd->empty()) return "";
    std::string a0 = cmd->substr(0, cmd->find('\0'));
    size_t slash = a0.rfind('/');
    return slash == std::string::npos ? a0 : a0.substr(slash + 1);
}

time_t boot_time() {
    auto st = read_text("/proc/stat");
    if (!st) return 0;
    size_t p = st->find("\nbtime ");
    return p == std::string::npos ? 0 : static_cast<time_t>(std::atoll(st->c_str() + p + 7));
}

std::optional<ProcStat> proc_stat(pid_t pid) {
    auto text = read_text("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    return parse_proc_stat(*text);
}

time_t start_time(const ProcStat& ps, time_t btime) {
    long hz = sysconf(_SC_CLK_TCK);
    return btime +
           static_cast<time_t>(ps.start_ticks / static_cast<unsigned long long>(hz > 0 ? hz : 100));
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    size_t close = text.rfind(')');
    if (close == std::string_view::npos || close + 2 > text.size()) return std::nullopt;
    std::string rest(text.substr(close + 2));
    std::istringstream in(rest);
    std::vector<std::string> f;
    std::string w;
    while (in >> w && f.size() < 20)
        f.push_back(w);
    if (f.size() < 20) return std::nullopt;  // f[0] is field 3 (state)
    ProcStat ps;
    char* end = nullptr;
    long ppid = std::strtol(f[1].c_str(), &end, 10);
    if (*end != '\0' || ppid < 0) return std::nullopt;
    ps.ppid = static_cast<pid_t>(ppid);
    ps.start_ticks = std::strtoull(f[19].c_str(), &end, 10);
    if (*end != '\0') return std::nullopt;
    return ps;
}

std::optional<pid_t> parse_pid_text(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    if (text.empty() || text.size() > 10) return std::nullopt;
    long long v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v <= 1 || v > 0x3fffffff) return std::nullopt;
    return static_cast<pid_t>(v);
}

Status read_status(const std::string& pid_file) {
    Status s;
    auto text = read_text(pid_file);
    if (!text) return s;  // no pid file: not running
    s.state = State::dead_with_pid_file;
    auto pid = parse_pid_text(*text);
    if (!pid) return s;
    s.master.pid = *pid;
    bool alive = ::kill(*pid, 0) == 0 || errno == EPERM;
    s.pid_alive = alive;
    if (!alive || argv0_name(*pid) != "tegami-master") return s;
    auto ps = proc_stat(*pid);
    if (!ps) return s;
    time_t btime = boot_time();
    s.state = State::running;
    s.master.name = "tegami-master";
    s.master.started = start_time(*ps, btime);
    DirPtr dir(opendir("/proc"));
    if (!dir) return s;
    while (dirent* e = readdir(dir.get())) {
        auto child = parse_pid_text(e->d_name);
        if (!child) continue;
        auto cs = proc_stat(*child);
        if (!cs || cs->ppid != *pid) continue;
        s.daemons.push_back(Proc{*child, argv0_name(*child), start_time(*cs, btime)});
    }
    std::sort(s.daemons.begin(), s.daemons.end(),
              [](const Proc& a, const Proc& b) { return a.pid < b.pid; });
    return s;
}

std::string format_time(time_t t) {
    struct tm tm {};
    localtime_r(&t, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm);
    return std::string(buf, n);
}

}  // namespace tegami::admin
