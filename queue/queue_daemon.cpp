// queue_daemon.cpp - see queue_daemon.hpp. Members are declared so that they are
// destroyed in dependency order: runner and intake, then the committer (joins its
// thread), then the store (flushes, checkpoints, closes the environment).
#include "queue/queue_daemon.hpp"

#include <algorithm>
#include <memory>

#include "lib/core/log.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/next_hop.hpp"
#include "lib/map/map.hpp"
#include "queue/committer.hpp"
#include "queue/control.hpp"
#include "queue/intake.hpp"
#include "queue/runner.hpp"
#include "queue/store.hpp"

namespace tegami::queue {

namespace {

constexpr int kCheckpointSeconds = 60;
constexpr int kStopGraceSeconds = 10;

RunnerSettings settings_from(const Config& c) {
    RunnerSettings s;
    s.retry = RetryPolicy{c.queue_retry_min, c.queue_retry_max, c.queue_lifetime};
    s.max_in_flight = local_requests_in_flight(c);
    s.local_socket = local_socket_path(c);
    s.remote_socket = remote_socket_path(c);
    s.hostname = c.hostname;
    // Virtual domains are local too: local delivery resolves them through virtusertable.
    for (const auto& d : c.local_domains)
        s.routing.local_domains.push_back(lower_ascii(d));
    for (const auto& d : c.virtual_domains)
        s.routing.local_domains.push_back(lower_ascii(d));
    s.routing.smarthost = c.smarthost;
    if (!c.mailertable.empty()) {
        // A fresh reader per settings snapshot (SIGHUP); it reopens the file when it changes.
        auto ref = std::make_shared<map::MapRef>(c.mailertable);
        s.routing.mailertable = [ref](const std::string& key,
                                      std::string& err) -> std::optional<std::string> {
            auto r = ref->lookup(key);
            if (!r) {
                err = r.error().message;
                return std::nullopt;
            }
            return std::move(r.value());
        };
    }
    s.routing.smtp_port = static_cast<uint16_t>(c.smtp_port);
    LmtpDestination mt;
    if (c.mailbox_transport.size() > 5 &&
        parse_lmtp_destination(std::string_view(c.mailbox_transport).substr(5), mt))
        s.routing.mailbox_transport = lmtp_destination_string(mt);  // checked by the config
    s.remote_max_in_flight = c.smtp_concurrency_limit;
    s.destination_limit = c.smtp_destination_concurrency_limit;
    s.smtp_recipient_limit = c.smtp_destination_recipient_limit;
    s.lmtp_recipient_limit = c.lmtp_destination_recipient_limit;
    s.delay_warning = c.delay_warning_time;
    s.bounce_size_limit = c.bounce_size_limit;
    s.active_limit = std::max<uint64_t>(1, c.queue_active_limit);
    s.active_recipient_limit = std::max<uint64_t>(1, c.queue_active_recipient_limit);
    return s;
}

Result<std::unique_ptr<QueueStore>> open_store(const Config& c) {
    if (c.queue_store == "memory") {
        log_warning("queue_store = memory: queued mail is lost when the queue stops");
        return make_memory_store();
    }
    if (c.queue_store != "bdb")
        return make_error(Exit::config, "queue_store: unknown store \"" + c.queue_store + "\"");
    return open_bdb_store(c.queue_dir, c.queue_db_cache, c.queue_log_file_size);
}

class QueueDaemon {
  public:
    void init(DaemonContext& ctx);
    void reload(DaemonContext& ctx) {
        runner_->set_settings(settings_from(*ctx.config));
        log_info("queue: retry %llus..%llus, lifetime %llus",
                 static_cast<unsigned long long>(ctx.config->queue_retry_min),
                 static_cast<unsigned long long>(ctx.config->queue_retry_max),
                 static_cast<unsigned long long>(ctx.config->queue_lifetime));
    }
    bool stop(DaemonContext& ctx);

  private:
    static void on_checkpoint_cb(evutil_socket_t, short, void* arg) noexcept {
        static_cast<QueueDaemon*>(arg)->committer_->request_checkpoint();
    }
    static void on_grace_cb(evutil_socket_t, short, void* arg) noexcept;
    bool drained() const { return committer_->idle() && runner_->in_flight() == 0; }
    void maybe_exit();
    void close_store();

    DaemonContext* ctx_ = nullptr;
    std::unique_ptr<QueueStore> store_;
    std::unique_ptr<Committer> committer_;
    std::unique_ptr<Intake> intake_;
    std::unique_ptr<Runner> runner_;
    std::unique_ptr<ControlServer> control_;  // after runner_: destroyed before it
    EventPtr checkpoint_ev_;
    EventPtr grace_ev_;
    bool closed_ = false;
};

void QueueDaemon::init(DaemonContext& ctx) {
    ctx_ = &ctx;
    const Config& c = *ctx.config;
    auto store = open_store(c);
    if (!store) log_fatal(store.error().exit, "queue store: %s", store.error().message.c_str());
    store_ = std::move(store.value());
    committer_ = std::make_unique<Committer>(ctx.base, *store_);
    if (auto r = committer_->start(); !r)
        log_fatal(r.error().exit, "%s", r.error().message.c_str());
    // Chunks of bodies whose envelope never came (a crash or kill mid-body) go first.
    if (auto orphans = store_->remove_orphan_bodies(); !orphans)
        log_fatal(orphans.error().exit, "queue store: %s", orphans.error().message.c_str());
    else if (orphans.value())
        log_info("queue store: removed the partial bodies of %zu messages never queued",
                 orphans.value());
    runner_ = std::make_unique<Runner>(ctx.base, *store_, *committer_, settings_from(c));
    if (auto r = runner_->load(); !r)
        log_fatal(r.error().exit, "queue scan: %s", r.error().message.c_str());
    Runner* runner = runner_.get();
    intake_ = std::make_unique<Intake>(ctx.base, *store_, *committer_,
                                       [runner](Envelope&& env) { runner->add(std::move(env)); });
    auto it = std::find_if(ctx.listeners.begin(), ctx.listeners.end(),
                           [](const Listener& l) { return l.role == "queue"; });
    if (it == ctx.listeners.end()) log_fatal(Exit::config, "no \"queue\" listener was handed over");
    if (auto r = intake_->listen(std::move(it->fd)); !r)
        log_fatal(r.error().exit, "%s", r.error().message.c_str());
    auto ctl = std::find_if(ctx.listeners.begin(), ctx.listeners.end(),
                            [](const Listener& l) { return l.role == "control"; });
    if (ctl != ctx.listeners.end()) {
        DaemonContext* cp = &ctx;
        control_ = std::make_unique<ControlServer>(ctx.base, *runner_, [cp] { return cp->config; });
        if (auto r = control_->listen(std::move(ctl->fd)); !r)
            log_fatal(r.error().exit, "%s", r.error().message.c_str());
    }
    checkpoint_ev_.reset(event_new(ctx.base, -1, EV_PERSIST, on_checkpoint_cb, this));
    timeval tv{kCheckpointSeconds, 0};
    event_add(checkpoint_ev_.get(), &tv);
    log_info("queue: %s store%s%s, serving %s", store_->kind(),
             c.queue_store == "bdb" ? " in " : "",
             c.queue_store == "bdb" ? c.queue_dir.c_str() : "", it->name.c_str());
}

bool QueueDaemon::stop(DaemonContext&) {
    if (!intake_) return true;
    intake_->stop_accepting();
    if (control_) control_->stop();
    runner_->stop();
    checkpoint_ev_.reset();
    if (drained()) {
        close_store();
        return true;
    }
    committer_->set_on_idle([this] { maybe_exit(); });
    runner_->set_on_drained([this] { maybe_exit(); });
    grace_ev_.reset(event_new(ctx_->base, -1, 0, on_grace_cb, this));
    timeval tv{kStopGraceSeconds, 0};
    event_add(grace_ev_.get(), &tv);
    log_info("queue: stopping after %zu deliver%s in flight and the running flush",
             runner_->in_flight(), runner_->in_flight() == 1 ? "y" : "ies");
    return false;
}

void QueueDaemon::maybe_exit() {
    if (closed_ || !drained()) return;
    close_store();
    daemon_exit_loop(*ctx_);
}

void QueueDaemon::on_grace_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<QueueDaemon*>(arg);
    if (self->closed_) return;
    log_warning("queue: %zu deliveries still in flight after %ds: they are retried after restart",
                self->runner_->in_flight(), kStopGraceSeconds);
    self->close_store();
    daemon_exit_loop(*self->ctx_);
}

void QueueDaemon::close_store() {
    closed_ = true;
    committer_->shutdown();
    auto r = store_->close();
    if (!r) {
        log_error("queue store close: %s", r.error().message.c_str());
        return;
    }
    log_info("queue: store checkpointed and closed");
}

}  // namespace

DaemonHooks make_queue_hooks() {
    auto q = std::make_shared<QueueDaemon>();
    DaemonHooks h;
    h.init = [q](DaemonContext& ctx) { q->init(ctx); };
    h.reload = [q](DaemonContext& ctx) { q->reload(ctx); };
    h.stop = [q](DaemonContext& ctx) { return q->stop(ctx); };
    return h;
}

}  // namespace tegami::queue
