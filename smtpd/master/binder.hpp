// binder.hpp - master's listening sockets: TCP listeners from the configuration
// (mta_listen, msa_listen, smtps_listen: roles mta, msa, smtps), the internal Unix sockets
// (queue, deliver) in run_dir, and the two sockets the sendmail command reaches
// (msp_socket: smtpd's "local" listener; queue_control_socket: the queue's "control"
// service), group msp_group, mode 0660, in a directory root:msp_group 0750. Bound by
// master (root when installed), handed to the daemons with SCM_RIGHTS.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::master {

struct BoundSocket {
    std::string
        role;  // "mta", "msa", "smtps", "local" (the MSP's socket), "queue", "deliver", "control"
    std::string name;  // "127.0.0.1:25" or a path
    UniqueFd fd;
};

// Binds every listener of the configuration. owner_uid/gid: owner of the Unix socket
// files (the daemons' user), or -1 to leave them as created (an unprivileged sandbox:
// every socket 0600). msp_gid: the MSP group for the sendmail-facing sockets, or -1
// when privileged and the group does not exist (then no "local" listener is bound and
// the control socket is root's only).
Result<std::vector<BoundSocket>> bind_all(const Config& cfg, uid_t owner_uid, gid_t owner_gid,
                                          gid_t msp_gid);

// Binds one TCP listener ("127.0.0.1:25", "[::1]:25").
Result<UniqueFd> bind_tcp(const std::string& address);

}  // namespace tegami::master
