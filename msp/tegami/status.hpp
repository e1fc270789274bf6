// status.hpp - what `tegami status|start|stop|reload` know about a running suite: the
// master named by pid_file (alive, and really tegami-master, so a reused pid is never
// signalled) and the daemons it started, with their start times, all read from /proc.
// Called by msp/tegami/main.cpp. Trusts /proc; the pid file's text is checked.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::admin {

// The two fields of /proc/PID/stat that status needs.
struct ProcStat {
    pid_t ppid = 0;
    unsigned long long start_ticks = 0;  // field 22: clock ticks after boot
};
// Pure: parses the text of /proc/PID/stat (the command name may hold spaces and ')').
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// Pure: "1234\n" -> 1234; anything else (empty, junk, <= 1, too large) -> nullopt.
std::optional<pid_t> parse_pid_text(std::string_view text);

struct Proc {
    pid_t pid = 0;
    std::string name;  // "tegami-smtpd" (argv[0]'s last component)
    time_t started = 0;
};

enum class State { running, dead_with_pid_file, not_running };

struct Status {
    State state = State::not_running;
    Proc master;                // running: the master; dead_with_pid_file: master.pid only
    bool pid_alive = false;     // dead_with_pid_file: the pid runs, but is another program
    std::vector<Proc> daemons;  // running: master's children, by pid
};

Status read_status(const std::string& pid_file);

// "2026-12-01 21:50:03 UTC"-style local time for status lines.
std::string format_time(time_t t);

}  // namespace tegami::admin
