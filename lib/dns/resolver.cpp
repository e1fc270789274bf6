// resolver.cpp - see resolver.hpp. libunbound runs its own thread; ub_process() on the loop thread
// delivers finished answers through on_answer_cb, which owns the ub_result from then on.
#include "lib/dns/resolver.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "lib/core/log.hpp"

namespace tegami::dns {

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
    if (err == 0 && servers.empty()) err = ub_ctx_hosts(r->ctx_.get(), nullptr);
    for (const auto& s : servers) {
        if (err) break;
        err = ub_ctx_set_fwd(r->ctx_.get(), s.c_str());
        if (err)
            return make_error(Exit::config,
                              "dns_resolver: bad address \"" + s + "\": " + ub_strerror(err));
    }
    // unbound answers 127.in-addr.arpa itself (localhost, else NXDOMAIN); configured
    // servers answer it instead, so loopback test clients can have names of their own.
    // (After the settings: a zone change finalizes the context.)
    if (err == 0 && !servers.empty())
        err = ub_ctx_zone_add(r->ctx_.get(), "127.in-addr.arpa.", "nodefault");
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

std::optional<std::string> reverse_name(std::string_view addr) {
    std::string a(addr);
    unsigned char b[16];
    if (inet_pton(AF_INET, a.c_str(), b) == 1) {
        std::string out;
        for (int i = 3; i >= 0; --i)
            out += std::to_string(b[i]) + ".";
        return out + "in-addr.arpa";
    }
    if (inet_pton(AF_INET6, a.c_str(), b) == 1) {
        static const char* hex = "0123456789abcdef";
        std::string out;
        for (int i = 15; i >= 0; --i) {
            out += hex[b[i] & 0xf];
            out += '.';
            out += hex[b[i] >> 4];
            out += '.';
        }
        return out + "ip6.arpa";
    }
    return std::nullopt;
}

std::optional<std::string> name_from_rdata(std::string_view rdata) {
    std::string out;
    size_t i = 0;
    for (;;) {
        if (i >= rdata.size()) return std::nullopt;  // no root label
        auto len = static_cast<unsigned char>(rdata[i++]);
        if (len == 0) break;
        if (len > 63 || i + len > rdata.size()) return std::nullopt;  // pointer or past the end
        if (!out.empty()) out += '.';
        for (size_t k = 0; k < len; ++k) {
            char c = rdata[i + k];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
            if (!ok) return std::nullopt;
            out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        i += len;
        if (out.size() > 253) return std::nullopt;
    }
    if (i != rdata.size() || out.empty()) return std::nullopt;
    return out;
}

bool NameLookup::start(const std::string& addr, Done done) {
    cancel();
    auto rev = reverse_name(addr);
    if (!rev) return false;
    addr_ = addr;
    rrtype_ = addr.find(':') != std::string::npos ? kRrAaaa : kRrA;
    names_.clear();
    answered_ = 0;
    finished_ = false;
    done_ = std::move(done);
    uint64_t id = resolver_.query(*rev, kRrPtr, [this](const DnsAnswer& a) { on_ptr(a); });
    if (id == 0) {
        finished_ = true;
        return false;
    }
    queries_.push_back(id);
    return true;
}

void NameLookup::cancel() {
    for (uint64_t id : queries_)
        resolver_.cancel(id);
    queries_.clear();
    finished_ = true;
}

void NameLookup::on_ptr(const DnsAnswer& a) {
    queries_.clear();
    if (a.kind != DnsAnswer::Kind::data)
        return finish("unknown", a.kind == DnsAnswer::Kind::temp ? "PTR lookup: " + a.why
                                                                 : std::string("no PTR record"));
    for (const auto& r : a.rdata)
        if (auto n = name_from_rdata(r); n && names_.size() < kMaxPtrNames) names_.push_back(*n);
    if (names_.empty()) return finish("unknown", "malformed PTR record");
    for (size_t i = 0; i < names_.size(); ++i) {
        uint64_t id = resolver_.query(names_[i], rrtype_,
                                      [this, i](const DnsAnswer& fa) { on_forward(i, fa); });
        if (id) queries_.push_back(id);
    }
    if (queries_.empty()) finish("unknown", "forward lookup could not start");
}

void NameLookup::on_forward(size_t i, const DnsAnswer& a) {
    if (finished_) return;
    ++answered_;
    if (a.kind == DnsAnswer::Kind::data) {
        unsigned char want[16], got[16];
        int af = rrtype_ == kRrA ? AF_INET : AF_INET6;
        bool ok = inet_pton(af, addr_.c_str(), want) == 1;
        for (const auto& s : addresses_from_rdata(rrtype_, a.rdata))
            if (ok && inet_pton(af, s.c_str(), got) == 1 &&
                std::memcmp(want, got, af == AF_INET ? 4 : 16) == 0)
                return finish(names_[i], "");
    }
    if (answered_ >= queries_.size())
        finish("unknown", "the name " + names_.front() + " does not resolve to the address");
}

void NameLookup::finish(std::string name, std::string why) {
    if (finished_) return;
    cancel();  // the other forward lookups
    Done d = std::move(done_);
    done_ = nullptr;
    if (d) d(std::move(name), std::move(why));  // may destroy this
}

}  // namespace tegami::dns
