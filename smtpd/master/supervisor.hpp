// supervisor.hpp - master's process table: which daemons run, as whom, with which
// capabilities and listeners; starting them (fork, drop privileges, exec with the
// listeners sent over a socketpair on fd 3), restarting a child that dies (with
// backoff), relaying reload, and stopping them all; and the periodic client-queue
// runner (sendmail -Ac -q), which is not restarted but run again on its timer.
//
// Start-up order: a child whose spec names `after` starts only once that child has
// reported `ready` (smtpd after queue: the queue has opened and recovered its store, so
// no client is greeted while the queue cannot accept; clients that connect earlier wait
// in the listen backlog for their 220). A child that exits before reporting `ready`
// kMaxStartupFailures times in a row is not restarted again (logged with the reason), and
// the children started after it are stopped (a running smtpd whose queue is gone).
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/priv/priv.hpp"
#include "smtpd/master/binder.hpp"

namespace tegami::master {

// One row of the process table.
struct ChildSpec {
    const char* name;                // "smtpd"
    const char* program;             // "tegami-smtpd", in libexec_dir
    CapProfile caps;                 // what it keeps after the drop
    bool mail_group;                 // keeps cfg.mail_group as a supplementary group
    std::vector<std::string> roles;  // listener roles it receives
    const char* after = nullptr;     // started only while this child is ready
};

// Consecutive exits before `ready` after which master stops restarting a child.
constexpr int kMaxStartupFailures = 5;

const std::vector<ChildSpec>& process_table();

struct SupervisorOptions {
    std::string config_path;
    bool privileged = false;  // master runs as root: drop children to `identity`
    bool foreground = false;
    bool debug = false;
    Identity identity;  // who the daemons run as when unprivileged (the caller)
    // When privileged: each daemon's own account, by ChildSpec::name (daemon_user()).
    std::map<std::string, Identity> identities;
};

class Supervisor {
  public:
    Supervisor(event_base* base, SupervisorOptions opts, std::shared_ptr<const Config> cfg,
               std::vector<BoundSocket> sockets);
    ~Supervisor();
    void start_all();
    void reload(std::shared_ptr<const Config> cfg);
    // Sends SIGTERM to every child; returns true when none is left.
    bool stop_all();
    void kill_all();
    // Reaps exited children (called on SIGCHLD); schedules restarts unless stopping.
    void reap();
    bool all_stopped() const;
    // Starts the client-queue runner (sendmail -Ac -q) unless one still runs: as the
    // smtpd's account with msp_group as its group when privileged.
    void run_client_queue();

  private:
    struct Child;
    void spawn(Child& c);
    void schedule_restart(Child& c);
    void on_ready(Child& c);
    void stop_dependents(Child& c);
    // True when c may start now (its `after` child is running and ready).
    bool may_start(const Child& c) const;
    Child* find(const char* name);
    static void on_restart_cb(evutil_socket_t, short, void* arg) noexcept;

    event_base* base_;
    SupervisorOptions opts_;
    std::shared_ptr<const Config> cfg_;
    std::vector<BoundSocket> sockets_;
    std::vector<std::unique_ptr<Child>> children_;
    bool stopping_ = false;
    pid_t runner_pid_ = 0;
};

}  // namespace tegami::master
