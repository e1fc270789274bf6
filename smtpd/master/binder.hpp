// binder.hpp - master's listening sockets: TCP listeners from the configuration
// (mta_listen, msa_listen, smtps_listen: roles mta, msa, smtps), the internal Unix sockets
// (queue, deliver) in run_dir, and the two sockets the sendmail command reaches
// (msp_socket: smtpd's "local" listener; queue_control_socket: the queue's "control"
// service), group msp_group, mode 0660, in a directory root:msp_group 0750. Bound by
// master (root when installed), handed to the daemons with SCM_RIGHTS.
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
    std::string
        role;  // "mta", "msa", "smtps", "local" (the MSP's socket), "queue", "deliver", "control"
    std::string name;  // "127.0.0.1:25" or a path
    UniqueFd fd;
};

// Who may use an internal Unix socket: its owner is the daemon that listens on it, its
// group the primary group of the one daemon that connects (mode 0660).
struct SocketOwner {
    uid_t uid;
    gid_t gid;
};

// Binds every listener of the configuration. owners: by role ("queue", "deliver",
// "remote", "auth"; "local" and "control", the sendmail-facing sockets, take only the
// uid and get msp_gid); empty for an unprivileged master (a sandbox: every socket 0600).
// msp_gid: the MSP group, or -1 when privileged and the group does not exist (then no
// "local" listener is bound and the control socket is its owner's only).
Result<std::vector<BoundSocket>> bind_all(const Config& cfg,
                                          const std::map<std::string, SocketOwner>& owners,
                                          gid_t msp_gid);

// Binds one TCP listener ("127.0.0.1:25", "[::1]:25").
Result<UniqueFd> bind_tcp(const std::string& address);

}  // namespace tegami::master
