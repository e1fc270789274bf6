// harness.hpp - the black-box test harness for tests/integration: a sandbox that runs the
// real suite (tegami-master in the foreground and the daemons it starts) in a temporary
// directory on a free loopback port, and a small blocking SMTP client with timeouts.
// Used by every tests/integration/*_test.cpp; each Criterion test runs in its own
// process, so the one Sandbox per test lives in a static and is stopped by the fixture.
// Every wait is bounded; the master runs in its own process group so that a stuck tree
// can always be killed.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami_it {

// Directory of the built programs ($TEGAMI_BIN, else build/bin under the source tree).
std::string bin_dir();
// Root of the source tree ($TEGAMI_SRC, else the current directory).
std::string src_dir();
// The local user that test mail is sent to: the invoking user, or, when run as root
// (where mail for uid 0 is refused), the test account tgtest1, created if missing.
std::string mail_user();
// A loopback TCP port that was free a moment ago, outside the ephemeral range.
int free_port();

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool wait_until(const std::function<bool()>& cond, int timeout_ms);
// Occurrences of needle in hay.
size_t count_of(std::string_view hay, std::string_view needle);

struct CommandResult {
    int status = -1;     // exit status, or -1 when killed / timed out
    std::string output;  // stdout and stderr together
};
// Runs argv (no shell) with stdin on /dev/null; kills it after timeout_s.
CommandResult run_command(const std::vector<std::string>& argv, int timeout_s);

class Sandbox {
  public:
    // Writes the configuration with scripts/mkconf.sh (extra "key=value" lines appended),
    // starts tegami-master -c DIR/tegami.conf -f with its log in DIR/master.log and waits
    // until the MTA port greets. False (with why in error) on any failure.
    bool start(const std::vector<std::string>& extra = {});
    // The aliases file written before start (mkconf.sh keeps an existing one); empty
    // means "postmaster: <mail_user()>".
    std::string aliases;
    // SIGTERM, bounded wait, SIGKILL to the whole process group as a fallback; removes
    // the directory unless TEGAMI_KEEP is set. Safe to call twice.
    void stop();
    // Prints the last lines of the master log to stderr (for a failing check).
    void dump_log() const;

    std::string log() const { return read_file(dir + "/master.log"); }
    std::string mbox(const std::string& user) const { return read_file(dir + "/mail/" + user); }
    std::string mbox_path(const std::string& user) const { return dir + "/mail/" + user; }

    std::string dir;
    std::string conf;
    std::string error;
    int port = 0;
    pid_t pid = -1;
};

// The sandbox of the current test (each Criterion test is its own process).
Sandbox& sandbox();
// Criterion fixture: stops the sandbox of the current test.
void stop_sandbox();

struct Reply {
    int code = -1;                   // -1: timeout, closed connection or malformed reply
    std::vector<std::string> lines;  // text after "NNN-" / "NNN "
    std::string text() const;        // all lines joined with '\n'
    // The enhanced status code ("5.1.1") at the start of the last line, or "".
    std::string enhanced() const;
};

class SmtpClient {
  public:
    SmtpClient() = default;
    SmtpClient(const SmtpClient&) = delete;
    SmtpClient& operator=(const SmtpClient&) = delete;
    ~SmtpClient();

    bool connect(int port, int timeout_ms = 5000);
    bool send(std::string_view data);
    // Reads one complete (possibly multi-line) reply.
    Reply reply(int timeout_ms = 10000);
    // Sends line + CRLF and reads the reply.
    Reply cmd(std::string_view line, int timeout_ms = 10000);
    // True if the server closes the connection within timeout_ms (nothing more to read).
    bool closed_by_peer(int timeout_ms = 5000);
    void close();

    std::string transcript;  // every reply line received, for failure messages

  private:
    bool fill(int timeout_ms);
    int fd_ = -1;
    std::string buf_;
    bool eof_ = false;
};

// Greeting + EHLO; true if both succeed.
bool smtp_hello(SmtpClient& c, int port, Reply* ehlo = nullptr);
// One whole transaction: MAIL, RCPT..., DATA, body (already dot-stuffed, CRLF line
// ends, without the final ".\r\n"). Returns the reply after the data (or the first
// failing reply).
Reply smtp_send(SmtpClient& c, const std::string& from, const std::vector<std::string>& rcpts,
                const std::string& data);
// The queue id from "250 2.0.0 Ok: queued as ID", or "".
std::string queued_id(const Reply& r);

}  // namespace tegami_it

// Checks that print the suite's log before failing the test; cond is evaluated once.
#define IT_ASSERT(cond, ...)                          \
    do {                                              \
        bool it_ok_ = static_cast<bool>(cond);        \
        if (!it_ok_) tegami_it::sandbox().dump_log(); \
        cr_assert(it_ok_, __VA_ARGS__);               \
    } while (0)
#define IT_EXPECT(cond, ...)                          \
    do {                                              \
        bool it_ok_ = static_cast<bool>(cond);        \
        if (!it_ok_) tegami_it::sandbox().dump_log(); \
        cr_expect(it_ok_, __VA_ARGS__);               \
    } while (0)
