// binder.hpp - master's listening sockets: TCP listeners from the configuration
// (mta_listen, msa_listen, smtps_listen: roles mta, msa, smtps) and the internal Unix sockets
// (queue, local) in run_dir. Bound by master (root when installed), handed to the daemons with
// SCM_RIGHTS.
#pragma once

#include <sys/types.h>

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

// Binds every listener of the configuration. owner_uid/gid: owner of the Unix socket
// files (the daemons' user), or -1 to leave them as created.
Result<std::vector<BoundSocket>> bind_all(const Config& cfg, uid_t owner_uid, gid_t owner_gid);

// Binds one TCP listener ("127.0.0.1:25", "[::1]:25").
Result<UniqueFd> bind_tcp(const std::string& address);

}  // namespace tegami::master
