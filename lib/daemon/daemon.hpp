// daemon.hpp - the daemon skeleton every unprivileged daemon's main() calls
// (smtpd, queue, local). It runs the fixed lifecycle:
//
//   parse args -> load config -> verify privileges (libcap; master already dropped them
//   in the child before exec) -> open log -> receive listening sockets from master over
//   fd 3 (SCM_RIGHTS) until `start` -> hooks.init(ctx) -> send `ready` -> event loop.
//
// Master signals: `reload` frame -> hooks.reload(new config) (a bad file keeps the old
// one); SIGTERM/SIGINT -> hooks.stop(ctx), then the loop ends once hooks.stop returned
// true or when the daemon calls daemon_exit_loop(). A closed master channel means master
// died: the daemon exits.
//
// Arguments: -c CONFIG (required), -P (started privileged by a root master: verify the
// drop strictly), -f (foreground: log to stderr too), -d (debug logging).
// Standalone use (tests): -L role=path binds a Unix listener itself instead of fd 3.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/priv/priv.hpp"

namespace tegami {

struct Listener {
    std::string role;  // "mta", "local", "queue", "deliver", "control"
    std::string name;  // "127.0.0.1:2525" or a socket path
    UniqueFd fd;       // bound and listening, nonblocking
};

struct DaemonContext {
    const char* name = "";                 // "smtpd", "queue", "local"
    std::shared_ptr<const Config> config;  // swapped whole on reload
    event_base* base = nullptr;
    std::vector<Listener> listeners;
    bool privileged = false;  // started by a root master
    bool stopping = false;
};

struct DaemonHooks {
    // Called once the listeners are in ctx; set up sessions, channels, timers.
    std::function<void(DaemonContext&)> init;
    // Called with the new snapshot after ctx.config was replaced.
    std::function<void(DaemonContext&)> reload;
    // Called on SIGTERM/SIGINT; return true when the daemon may exit now, false to keep
    // the loop running until it calls daemon_exit_loop() (e.g. after in-flight commits).
    std::function<bool(DaemonContext&)> stop;
};

int daemon_main(int argc, char** argv, const char* name, CapProfile caps, DaemonHooks hooks);

// Ends the loop (after stop() returned false and the work drained).
void daemon_exit_loop(DaemonContext& ctx);

// Connects to a Unix stream socket (nonblocking result). Used by smtpd -> queue and
// queue -> local.
Result<UniqueFd> connect_unix(const std::string& path);
// Binds and listens on a Unix stream socket at path (an old socket file is replaced).
Result<UniqueFd> listen_unix(const std::string& path, int backlog = 128);
// uid of the peer of a connected Unix socket (SO_PEERCRED), or -1.
long peer_uid(int fd);
// The uid another daemon of the suite runs as ("smtpd", "queue", "local", "auth",
// "remote"): its account (daemon_user()) when master started us as root, else our own
// uid (an unprivileged sandbox runs everything as one user). -1 for an unknown account.
// The table is filled once by daemon_main before hooks.init and never changes (new
// accounts need a restart); the SO_PEERCRED checks of every internal socket use it.
long daemon_uid(std::string_view daemon);
void init_daemon_uids(const Config& c, bool privileged);

// Paths of the internal sockets, from the configuration.
std::string queue_socket_path(const Config& c);
std::string local_socket_path(const Config& c);
std::string auth_socket_path(const Config& c);
std::string remote_socket_path(const Config& c);

}  // namespace tegami
