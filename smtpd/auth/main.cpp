// main.cpp - tegami-auth: the unprivileged daemon that owns the credentials (auth_db)
// and the authentication-failure state (auth_dir), and answers smtpd's SASL steps over
// the auth socket. Started by master already dropped to auth_user with no capabilities;
// the daemon skeleton (lib/daemon) verifies that and runs the loop. smtpd never sees a
// stored hash: it relays the client's SASL messages and gets back success with the
// login, or failure. The logic lives in auth_server.cpp and mechanisms.cpp.
#include <memory>

#include "lib/daemon/daemon.hpp"
#include "smtpd/auth/auth_server.hpp"

int main(int argc, char** argv) {
    auto server = std::make_shared<std::unique_ptr<tegami::auth::AuthServer>>();
    tegami::DaemonHooks hooks;
    hooks.init = [server](tegami::DaemonContext& ctx) {
        *server = std::make_unique<tegami::auth::AuthServer>(ctx);
        (*server)->start();
    };
    hooks.reload = [server](tegami::DaemonContext&) {
        if (*server) (*server)->reload();
    };
    hooks.stop = [server](tegami::DaemonContext&) {
        if (*server) (*server)->stop();
        return true;
    };
    return tegami::daemon_main(argc, argv, "auth", tegami::CapProfile::none, hooks);
}
