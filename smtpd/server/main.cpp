// main.cpp - tegami-smtpd: the unprivileged SMTP server (MTA role on port 25 now; MSA
// and SMTPS later). Started by master already dropped to the tegami user with no
// capabilities; the daemon skeleton (lib/daemon) verifies that, receives the
// listening sockets and runs the loop. Everything else lives in server.cpp.
#include <memory>

#include "lib/daemon/daemon.hpp"
#include "smtpd/server/server.hpp"

int main(int argc, char** argv) {
    // Held by the hooks, so the server goes with them, before the event base it uses.
    auto server = std::make_shared<std::unique_ptr<tegami::smtpd::Server>>();
    tegami::DaemonHooks hooks;
    hooks.init = [server](tegami::DaemonContext& ctx) {
        *server = std::make_unique<tegami::smtpd::Server>(ctx);
        (*server)->start();
    };
    hooks.reload = [server](tegami::DaemonContext&) {
        if (*server) (*server)->reload();
    };
    hooks.stop = [server](tegami::DaemonContext&) { return *server ? (*server)->stop() : true; };
    return tegami::daemon_main(argc, argv, "smtpd", tegami::CapProfile::none, hooks);
}
