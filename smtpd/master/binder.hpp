// binder.hpp - master's listening sockets: TCP listeners from the configuration
// (mta_listen, msa_listen, smtps_listen: roles mta, msa, smtps) and the internal Unix sockets
// (queue, local) in run_dir. Bound by master (root when installed), handed to the daemons with
// SCM_RIGHTS.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::master {

struct BoundSocket {
    std::string role;  // "mta", "msa", "smtps", "queue", "local"
    std::string name;  // "127.0.0.1:25" or a path
    UniqueFd fd;
};

// Who may use an internal Unix socket: its owner is the daemon that listens on it, its
// group the primary group of the one daemon that connects (mode 0660).
struct SocketOwner {
    uid_t uid;
    gid_t gid;
};

// Binds every listener of the configuration. owners: by role ("queue", "local",
// "auth"); a role missing there (an unprivileged master) keeps the socket as created,
// mode 0600.
Result<std::vector<BoundSocket>> bind_all(const Config& cfg,
                                          const std::map<std::string, SocketOwner>& owners);

// Binds one TCP listener ("127.0.0.1:25", "[::1]:25").
Result<UniqueFd> bind_tcp(const std::string& address);

}  // namespace tegami::master
