// main.cpp - tegami-remote, the SMTP client agent: takes DeliverMsg requests from the
// queue on the "remote" Unix socket and delivers each message to its next hop (the
// domain's MX hosts, a mailertable route or the smarthost) over SMTP, with STARTTLS,
// AUTH under TLS and connection reuse. The lifecycle is lib/daemon's; the work is in
// server.cpp (requests, hosts, results), session.cpp (one connection and its TLS),
// smtp_client.cpp (the protocol), dns.cpp (libunbound) and mx.cpp (MX order).
//
// SECURITY. Started by master, already running as the tegami user with no capabilities
// (daemon_main verifies that and refuses to run with more); it holds no file of the
// queue and talks to the network only as a client. What it inherits and how each is
// neutralised:
//   environment  not read (libunbound is given its servers or /etc/resolv.conf)
//   argv         parsed by daemon_main: -c config, -P, -f, -d, -L only
//   fds 0-2      used for logging in the foreground only
//   umask        set to 077 by daemon_main; it creates no files
//   cwd          not used
//   signals      SIGTERM/SIGINT/SIGHUP through libevent; SIGPIPE ignored (MSG_NOSIGNAL)
//   rlimits      inherited; a failed allocation ends the process, and the queue
//                reschedules every request it had sent (no result, no state change)
//   clock        only for timeouts
// Peers on the socket must have the daemon's own uid (SO_PEERCRED). Everything a remote
// server sends is parsed by the client state machine, which bounds line length and count.
#include <memory>

#include "deliver/remote/server.hpp"
#include "lib/daemon/daemon.hpp"

int main(int argc, char** argv) {
    tegami::DaemonHooks hooks;
    {
        // Owned by the hooks only, so it is destroyed before daemon_main's event base.
        auto server = std::make_shared<tegami::remote::RemoteServer>();
        hooks.init = [server](tegami::DaemonContext& ctx) { server->init(ctx); };
        hooks.reload = [server](tegami::DaemonContext& ctx) { server->reload(ctx); };
        hooks.stop = [server](tegami::DaemonContext& ctx) { return server->stop(ctx); };
    }
    return tegami::daemon_main(argc, argv, "remote", tegami::CapProfile::none, std::move(hooks));
}
