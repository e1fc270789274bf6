// main.cpp - tegami-local, the local delivery agent: takes DeliverMsg requests from the
// queue on the "local" Unix socket and writes each recipient's mbox or Maildir in a
// child process that has become the recipient. The lifecycle is lib/daemon's; the work
// is in server.cpp (requests, children), expand.cpp (aliases), delivery.cpp (the child),
// mbox.cpp and maildir.cpp (the mailbox formats).
//
// SECURITY. Started by master, already running as the tegami user with CAP_SETUID and
// CAP_SETGID only (daemon_main verifies that and refuses to run with more). What it
// inherits and how each is neutralised:
//   environment  not read (paths come from the configuration; no getenv); a |program
//                target is exec'ed with a fixed environment built from the passwd
//                entry and the envelope, never the inherited one
//   argv         parsed by daemon_main: -c config, -P, -f, -d, -L only
//   fds 0-2      used for logging in the foreground only; delivery children close every
//                other descriptor before they switch user
//   umask        set to 077 by daemon_main, again by each child before it writes
//   cwd          not used: every path is absolute or relative to an opened directory
//   signals      SIGTERM/SIGINT/SIGHUP/SIGCHLD through libevent; SIGPIPE ignored; children
//                ignore SIGTERM/SIGINT/SIGHUP (a mailbox write is never cut by a group
//                signal), reset SIGCHLD and clear the mask
//   rlimits      inherited; a write failing on RLIMIT_FSIZE cuts the mailbox back
//   clock        only for From_ dates, lock ages and Maildir names
// Peers on the socket must have the daemon's own uid (SO_PEERCRED); a child refuses to
// become uid 0 (become_user) and expansion never yields a uid 0 user.
#include <memory>

#include "deliver/local/server.hpp"
#include "lib/daemon/daemon.hpp"

int main(int argc, char** argv) {
    tegami::DaemonHooks hooks;
    {
        // Owned by the hooks only, so it is destroyed before daemon_main's event base.
        auto server = std::make_shared<tegami::local::LocalServer>();
        hooks.init = [server](tegami::DaemonContext& ctx) { server->init(ctx); };
        hooks.reload = [server](tegami::DaemonContext& ctx) { server->reload(ctx); };
        hooks.stop = [server](tegami::DaemonContext& ctx) { return server->stop(ctx); };
    }
    return tegami::daemon_main(argc, argv, "local", tegami::CapProfile::setid, std::move(hooks));
}
