// server.hpp - the local delivery daemon's event-driven part: accepts the queue's
// connections on the "local" Unix socket (peer uid must be our own), decodes DeliverMsg
// frames (every due recipient of one message, the body a sealed memfd mapped once per
// request), expands the recipients together (deliver/local/expand.hpp) so that a user
// reached through several of them gets one copy, runs one child process per final user
// (deliver/local/delivery.hpp) with at most local_concurrency at once, hands each its
// batches over a socket (deliver/local/batch.hpp) and keeps a mailbox's process for the
// next batch for local_idle_time, reaps them on SIGCHLD and answers each request with one
// DeliverResultMsg holding a result for every recipient. A recipient outside local_domains is
// refused (5.1.2), never delivered to a local user of the same name. What a recipient expands to
// that local does not deliver itself - another domain's address, or with mailbox_transport every
// mailbox - goes back to the queue in a DeliverRedirectMsg before the result (the queue adds those
// recipients and routes them). Called from main.cpp through the daemon hooks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deliver/local/batch.hpp"
#include "deliver/local/delivery.hpp"
#include "deliver/local/expand.hpp"
#include "deliver/local/user_cache.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "lib/map/aliases.hpp"
#include "lib/map/map.hpp"

namespace tegami::local {

class LocalServer {
  public:
    LocalServer() = default;
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;

    void init(DaemonContext& ctx);
    void reload(DaemonContext& ctx);
    // Stops accepting; true when no delivery runs, else the loop ends when the last
    // child is reaped or after a bounded wait.
    bool stop(DaemonContext& ctx);

  private:
    // One recipient of a request: its users' outcomes so far.
    struct Rcpt {
        std::string local, domain;  // split from the canonical address, local unquoted
        int pending = 0;            // users not yet delivered or failed
        std::vector<Outcome> temp, perm;
        std::optional<Outcome> result;  // set once: the answer for this recipient
        bool virtual_domain = false;    // mapped through virtual_map
        bool expanded = false;          // an alias or .forward made it more than one
        std::string delivered;          // the first success's text ("delivered to program")
        // Addresses handed back to the queue (other domains'; mailboxes for
        // mailbox_transport): sent with a final result, dropped with a deferral.
        std::vector<ipc::RedirectTarget> redirects;
    };
    // One DeliverMsg being worked on; shared by its jobs and children.
    struct Request {
        uint64_t conn_id = 0;
        ipc::DeliverMsg msg;
        UniqueFd body_fd;  // the body, handed with each batch to the delivery process
        bool maildir = false;
        std::vector<Rcpt> rcpts;  // parallel to msg.recipients
        size_t open = 0;          // recipients not yet final
    };
    struct Job {
        std::shared_ptr<Request> req;
        Delivery d;                 // a mailbox, program or file, and who it runs as
        std::vector<size_t> rcpts;  // the request's recipients that reach it
        int64_t queued_ms = 0;      // when it joined queue_ (monotonic)
    };
    // A delivery process: one mailbox (or program, or file) and who it runs as. A
    // mailbox's process stays for local_idle_time after its batch for the next one; the
    // server ends it by closing its socket.
    struct Child {
        LocalServer* server = nullptr;
        pid_t pid = -1;
        std::string key;                   // Delivery::key() of its jobs
        std::optional<Identity> identity;  // as it was started (switch_users_)
        UniqueFd sock;                     // closed once it is retired
        EventPtr ev, idle_timer;
        std::vector<Job> jobs;  // the batch in progress, in report order; empty when idle
        std::string text;       // its report lines so far
        bool reuse = false;     // a mailbox's: may take another batch
        bool retired = false;   // socket closed: it exits and is reaped
        uint64_t generation = 0;
    };

    static void on_accept_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_sigchld_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_cleanup_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_stop_timeout_cb(evutil_socket_t, short, void* arg) noexcept;

    void accept_all();
    void add_conn(UniqueFd fd);
    void drop_conn(uint64_t id, const std::string& why);
    void on_frame(uint64_t conn_id, ipc::MsgType type, std::string_view payload,
                  std::vector<UniqueFd>& fds);
    void handle_deliver(uint64_t conn_id, ipc::DeliverMsg m, UniqueFd body);
    void refresh_aliases();
    std::optional<Outcome> map_virtual(Rcpt& rc);
    static void add_redirect(Rcpt& rc, const std::string& address, uint32_t route,
                             const std::string& sender = std::string());
    void start_jobs();
    BatchItem item_of(const Job& j) const;
    std::vector<Job> take_batch(const std::string& key);
    void start_child(std::vector<Job> jobs);
    bool hand_batch(Child& c, std::vector<Job>& jobs);
    std::optional<Identity> identity_for(const Delivery& d);
    Child* idle_child(const std::string& key);
    bool retire_an_idle_child();
    void retire(Child& c);
    void retire_all();
    static void on_child_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_idle_cb(evutil_socket_t, short, void* arg) noexcept;
    void read_reports(Child& c);
    void batch_done(Child& c, const int* wait_status);
    bool busy(const std::string& key) const;
    bool gathering(const Job& j);
    void reap();
    std::string delivered_to(const Job& j) const;
    void finish(const Job& j, const Outcome& o, const std::string& detail);
    void settle(Request& r, size_t i, const Outcome& o);  // an outcome for recipient i
    void answer(Request& r);

    DaemonContext* ctx_ = nullptr;
    const Config& cfg() const { return *ctx_->config; }
    int listen_fd_ = -1;
    bool switch_users_ = false;
    std::unique_ptr<AliasFile> aliases_;
    std::unique_ptr<map::MapRef> virtual_;  // virtual_map, opened on first use
    time_t aliases_checked_ = 0;
    UserCache users_;  // recipients' identities for the delivery children
    std::string aliases_error_;
    EventPtr accept_ev_, sigchld_ev_, cleanup_ev_, stop_timer_, gather_ev_;
    bool gather_armed_ = false;
    static void on_gather_cb(evutil_socket_t, short, void* arg) noexcept;
    std::map<uint64_t, std::unique_ptr<ipc::Channel>> conns_;
    std::vector<std::unique_ptr<ipc::Channel>> dead_;  // closed, freed outside their callbacks
    std::deque<Job> queue_;
    std::map<pid_t, std::unique_ptr<Child>> children_;
    uint64_t generation_ = 0;             // raised by reload: older idle processes are not reused
    std::unique_ptr<char[]> header_buf_;  // the first octets of a body, for its header facts
    uint64_t next_conn_ = 1;
    unsigned long seq_ = 0;
};

}  // namespace tegami::local
