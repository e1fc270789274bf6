// main.cpp - tegami-queue: the only process that opens the queue's Berkeley DB
// environment. Started by master already dropped to the tegami user, with no
// capabilities (verified by the daemon skeleton). The lifecycle is in queue_daemon.cpp.
#include "lib/daemon/daemon.hpp"
#include "queue/queue_daemon.hpp"

int main(int argc, char** argv) {
    tegami::DaemonHooks hooks = tegami::queue::make_queue_hooks();
    return tegami::daemon_main(argc, argv, "queue", tegami::CapProfile::none, hooks);
}
