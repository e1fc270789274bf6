// dns.cpp - see dns.hpp. libunbound runs its own thread; ub_process() on the loop thread
// delivers finished answers through on_answer_cb, which owns the ub_result from then on.
#include "deliver/remote/dns.hpp"

#include <arpa/inet.h>

#include "lib/core/log.hpp"

namespace tegami::remote {

Result<std::unique_ptr<Resolver>> Resolver::create(event_base* base,
                                                   const std::vector<std::string>& servers) {
    std::unique_ptr<Resolver> r(new Resolver());
    r->ctx_.reset(ub_ctx_create());
    if (!r->ctx_) return make_error(Exit::os_err, "ub_ctx_create failed");
    int err = ub_ctx_async(r->ctx_.get(), 1);
    // The configured or resolv.conf servers are often on loopback (a local cache, or the
    // tests' own server); unbound refuses to query those unless told.
    if (err == 0) err = ub_ctx_set_option(r->ctx_.get(), "do-not-query-localhost:", "no");
    if (err == 0 && servers.empty()) err = ub_ctx_resolvconf(r->ctx_.get(), nullptr);
    for (const auto& s : servers) {
        if (err) break;
        err = ub_ctx_set_fwd(r->ctx_.get(), s.c_str());
        if (err)
            return make_error(Exit::config,
                              "dns_resolver: bad address \"" + s + "\": " + ub_strerror(err));
    }
    if (err) return make_error(Exit::os_err, std::string("resolver: ") + ub_strerror(err));
    int fd = ub_fd(r->ctx_.get());
    if (fd < 0) return make_error(Exit::os_err, "resolver: ub_fd failed");
    r->ev_.reset(event_new(base, fd, EV_READ | EV_PERSIST, on_readable_cb, r.get()));
    if (!r->ev_ || event_add(r->ev_.get(), nullptr) != 0)
        return make_error(Exit::os_err, "resolver: event_new failed");
    return r;
}

Resolver::~Resolver() {
    for (auto& [id, p] : pending_)
        ub_cancel(ctx_.get(), p->async_id);
    pending_.clear();
}

uint64_t Resolver::query(const std::string& name, int rrtype, Callback cb) {
    auto p = std::make_unique<Pending>(Pending{this, next_id_++, 0, std::move(cb)});
    int err = ub_resolve_async(ctx_.get(), name.c_str(), rrtype, 1 /* IN */, p.get(), on_answer_cb,
                               &p->async_id);
    if (err) {
        log_warning("resolver: cannot query %s: %s", name.c_str(), ub_strerror(err));
        return 0;
    }
    uint64_t id = p->id;
    pending_[id] = std::move(p);
    return id;
}

void Resolver::cancel(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    ub_cancel(ctx_.get(), it->second->async_id);
    pending_.erase(it);
}

void Resolver::on_readable_cb(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Resolver*>(arg);
    int err = ub_process(self->ctx_.get());
    if (err) log_warning("resolver: %s", ub_strerror(err));
}

void Resolver::on_answer_cb(void* arg, int err, ub_result* result) noexcept {
    UbResultPtr owned(result);
    auto* p = static_cast<Pending*>(arg);
    Resolver* self = p->self;
    auto it = self->pending_.find(p->id);
    if (it == self->pending_.end()) return;
    std::unique_ptr<Pending> mine = std::move(it->second);
    self->pending_.erase(it);
    DnsAnswer a;
    if (err) {
        a.kind = DnsAnswer::Kind::temp;
        a.why = ub_strerror(err);
    } else if (result->nxdomain) {
        a.kind = DnsAnswer::Kind::nxdomain;
    } else if (result->rcode != 0) {
        a.kind = DnsAnswer::Kind::temp;
        a.why = "DNS rcode " + std::to_string(result->rcode);
    } else if (result->bogus) {
        a.kind = DnsAnswer::Kind::temp;
        a.why = std::string("DNSSEC validation failed: ") +
                (result->why_bogus ? result->why_bogus : "bogus");
    } else if (!result->havedata) {
        a.kind = DnsAnswer::Kind::nodata;
    } else {
        a.kind = DnsAnswer::Kind::data;
        for (int i = 0; result->data && result->data[i]; ++i)
            a.rdata.emplace_back(result->data[i], static_cast<size_t>(result->len[i]));
    }
    try {
        mine->cb(std::move(a));
    } catch (const std::exception& e) {
        log_error("resolver callback: %s", e.what());
    }
}

std::vector<std::string> addresses_from_rdata(int rrtype, const std::vector<std::string>& rdata) {
    std::vector<std::string> out;
    for (const auto& d : rdata) {
        char buf[INET6_ADDRSTRLEN];
        bool v4 = rrtype == kRrA && d.size() == 4;
        bool v6 = rrtype == kRrAaaa && d.size() == 16;
        if ((v4 || v6) && inet_ntop(v4 ? AF_INET : AF_INET6, d.data(), buf, sizeof(buf)))
            out.emplace_back(buf);
    }
    return out;
}

}  // namespace tegami::remote
