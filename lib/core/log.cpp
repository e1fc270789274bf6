// log.cpp - see log.hpp. Called by every program; trusts nothing it formats (the
// caller's format strings are literals; arguments may be hostile and are cut to length
// and stripped of control characters by the callers that print peer data).
#include "lib/core/log.hpp"

#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

#include "lib/core/result.hpp"

namespace tegami {

namespace {

struct LogState {
    char ident[64] = "tegami";
    LogTarget target = LogTarget::stderr_only;
    bool debug = false;
    int pid = 0;  // set by log_open; a process that forks and logs calls log_open again
    char host[64] = "localhost";  // for LogTarget::file lines
    FatalHook fatal_hook;
    // log_defer: lines for standard error gathered here by the loop's thread.
    std::mutex mu;
    std::function<void()> wake;
    std::thread::id loop_thread;
    std::string pending;
};

LogState& state() {
    static LogState s;
    return s;
}

// At most PIPE_BUF bytes a write(2), so that a batch written to a pipe stays one atomic
// write; an O_APPEND file takes each write whole as well (no interleaving across processes).
constexpr size_t kDeferMax = 4096;

void write_stderr(const char* p, size_t n) {
    ssize_t w = ::write(STDERR_FILENO, p, n);
    (void)w;
}

// Called with s.mu held.
void flush_locked(LogState& s) {
    if (s.pending.empty()) return;
    write_stderr(s.pending.data(), s.pending.size());
    s.pending.clear();
}

// One finished line (newline included) for standard error: written now, or gathered when
// this is the deferring loop's thread (other threads write at once, after what is
// gathered, so that the order of lines is kept).
void emit(LogState& s, const char* line, size_t len) {
    std::unique_lock<std::mutex> lock(s.mu);
    if (!s.wake || std::this_thread::get_id() != s.loop_thread) {
        flush_locked(s);
        write_stderr(line, len);
        return;
    }
    if (s.pending.size() + len > kDeferMax) flush_locked(s);
    if (len > kDeferMax) {
        write_stderr(line, len);
        return;
    }
    bool first = s.pending.empty();
    s.pending.append(line, len);
    if (first) {
        auto wake = s.wake;
        lock.unlock();
        wake();
    }
}

// fork(2): the child starts with nothing gathered and writes each line at once (it has
// no loop of its own; master's children exec, local's delivery children _exit).
void atfork_prepare() {
    state().mu.lock();
}
void atfork_parent() {
    state().mu.unlock();
}
void atfork_child() {
    LogState& s = state();
    s.pending.clear();
    s.wake = nullptr;
    s.mu.unlock();
}

void vlog(int prio, const char* level, const char* fmt, va_list ap) {
    LogState& s = state();
    char buf[4096];
    int saved = errno;
    int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
    errno = saved;
    if (n < 0) return;
    size_t len = static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
    if (s.target == LogTarget::file) {
        char stamp[32];
        time_t now = time(nullptr);
        struct tm tm {};
        localtime_r(&now, &tm);
        size_t sl = std::strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        char line[4352];
        int m =
            std::snprintf(line, sizeof(line), "%.*s %s %s[%d]: %s%s%.*s\n", static_cast<int>(sl),
                          stamp, s.host, s.ident, s.pid ? s.pid : static_cast<int>(getpid()), level,
                          *level ? ": " : "", static_cast<int>(len), buf);
        if (m > 0) {
            size_t mlen =
                static_cast<size_t>(m) < sizeof(line) ? static_cast<size_t>(m) : sizeof(line) - 1;
            if (mlen == sizeof(line) - 1) line[mlen - 1] = '\n';
            emit(s, line, mlen);
        }
        return;
    }
    if (s.target != LogTarget::stderr_only)
        syslog(LOG_MAIL | prio, "%s%s%.*s", level, *level ? ": " : "", static_cast<int>(len), buf);
    if (s.target != LogTarget::syslog) {
        char line[4352];
        int m = std::snprintf(line, sizeof(line), "%s[%d]: %s%s%.*s\n", s.ident,
                              s.pid ? s.pid : static_cast<int>(getpid()), level, *level ? ": " : "",
                              static_cast<int>(len), buf);
        if (m > 0) {
            size_t mlen =
                static_cast<size_t>(m) < sizeof(line) ? static_cast<size_t>(m) : sizeof(line) - 1;
            if (mlen == sizeof(line) - 1) line[mlen - 1] = '\n';
            emit(s, line, mlen);
        }
    }
}

}  // namespace

Error sys_error(const std::string& what, int err, Exit exit) {
    return Error{exit, what + ": " + std::strerror(err)};
}

void log_open(const char* ident, LogTarget target) {
    LogState& s = state();
    std::snprintf(s.ident, sizeof(s.ident), "%s", ident);
    s.target = target;
    s.pid = static_cast<int>(getpid());
    if (target == LogTarget::file) {
        if (::gethostname(s.host, sizeof(s.host) - 1) != 0)
            std::snprintf(s.host, sizeof(s.host), "localhost");
        s.host[sizeof(s.host) - 1] = '\0';
        char* dot = std::strchr(s.host, '.');
        if (dot) *dot = '\0';
        return;
    }
    if (target != LogTarget::stderr_only) openlog(s.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_defer(std::function<void()> wake) {
    static std::once_flag atfork;
    std::call_once(atfork, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
    static std::once_flag at_exit;
    std::call_once(at_exit, [] { std::atexit(log_flush); });
    LogState& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    flush_locked(s);
    s.wake = std::move(wake);
    s.loop_thread = std::this_thread::get_id();
}

void log_flush() {
    LogState& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    flush_locked(s);
}

const char* log_ident() {
    return state().ident;
}
void log_set_debug(bool on) {
    state().debug = on;
}
void log_set_fatal_hook(FatalHook hook) {
    state().fatal_hook = std::move(hook);
}

#define TEGAMI_VLOG(prio, level) \
    va_list ap;                  \
    va_start(ap, fmt);           \
    vlog(prio, level, fmt, ap);  \
    va_end(ap)

void log_info(const char* fmt, ...) {
    TEGAMI_VLOG(LOG_INFO, "");
}
void log_warning(const char* fmt, ...) {
    TEGAMI_VLOG(LOG_WARNING, "warning");
}
void log_error(const char* fmt, ...) {
    TEGAMI_VLOG(LOG_ERR, "error");
}
void log_debug(const char* fmt, ...) {
    if (!state().debug) return;
    TEGAMI_VLOG(LOG_DEBUG, "debug");
}

// The shared end of log_fatal and log_panic: the hook (tests) sees the message first.
static void log_last(const char* kind, const char* fmt, va_list ap) {
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), fmt, ap);
    if (state().fatal_hook) state().fatal_hook(buf);
    log_error("%s: %s", kind, buf);
    log_flush();  // abort() runs no atexit handler
}

void log_fatal(Exit exit_code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_last("fatal", fmt, ap);
    va_end(ap);
    std::exit(code(exit_code));
}

void log_panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_last("panic", fmt, ap);
    va_end(ap);
    std::abort();
}

#undef TEGAMI_VLOG

}  // namespace tegami
