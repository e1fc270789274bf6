// log.hpp - the suite's logging: syslog (LOG_MAIL) for daemons, stderr in the
// foreground. Each line is formatted into one buffer and written with one call (or, in a
// daemon's loop, gathered with the others of the loop iteration into one write: log_defer).
// Lines about a message start with its queue ID ("3F2A...: from=<a@b>, size=12"),
// in the key=value style that admins' log tools parse.
//
// Error policy by kind (see STYLE): bad input -> a reply or exit code, never a log_fatal;
// environment/config failure -> log_fatal(exit code); impossible state -> log_panic
// (abort for a core). Tests may set a panic hook that throws instead.
#pragma once

#include <functional>

#include "lib/core/sysexits.hpp"

namespace tegami {

// file: log_file (tegami.conf) is set: master opened that file with O_APPEND and made it
// standard error of itself and of every daemon it starts; lines are written to fd 2
// in syslog's layout ("Dec  1 21:50:03 host tegami/smtpd[123]: ..."), one write(2)
// per line, so lines from different processes never interleave.
enum class LogTarget { syslog, stderr_only, both, file };

// ident: program name as it appears in the log ("tegami/smtpd").
void log_open(const char* ident, LogTarget target);
const char* log_ident();

void log_info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_debug(bool on);

// Deferred writing, for a daemon's event loop: from now on the lines this thread logs to
// standard error (targets stderr_only, both, file; syslog lines are sent at once) are
// gathered, and wake is called when the first line of a batch is gathered; it must arrange
// a call of log_flush in the same loop iteration (an active event), so that a batch waits
// at most until the loop's current callbacks are done. A batch is written with one write(2)
// of at most 4096 bytes. Lines of other threads are written at once (after the batch), as
// are a forked child's; log_fatal/log_panic and exit() flush. An empty wake ends deferring.
void log_defer(std::function<void()> wake);
// Writes the gathered lines now (one write); nothing to do when none are gathered.
void log_flush();

// Environment or configuration failure: logs and exits with the given code.
[[noreturn]] void log_fatal(Exit code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// Impossible state: logs and aborts (for a core), or calls the panic hook if one is set.
[[noreturn]] void log_panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Tests replace abort()/exit() with a hook that throws; it must not return.
using FatalHook = std::function<void(const char* message)>;
void log_set_fatal_hook(FatalHook hook);

}  // namespace tegami
