// queue_daemon.hpp - the queue process's lifecycle on top of the daemon skeleton
// (lib/daemon): init opens the store (recovery runs here), starts the committer, rebuilds
// the runner's schedule and starts serving the queue socket; reload takes new retry
// values; stop stops accepting, lets the running flush and deliveries in flight finish
// (at most kStopGrace), checkpoints and closes the store.
//
// Called only by main.cpp through the hooks below. The daemon objects live in the hooks,
// which daemon_main destroys before the event base they use.
#pragma once

#include "lib/daemon/daemon.hpp"

namespace tegami::queue {

DaemonHooks make_queue_hooks();

}  // namespace tegami::queue
