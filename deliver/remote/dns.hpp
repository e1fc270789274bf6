// dns.hpp - the remote agent's asynchronous resolver: libunbound in threaded async mode,
// its descriptor (ub_fd) watched by the daemon's libevent loop, answers handed to a
// callback on the loop thread. The servers to ask come from the dns_resolver key
// ("127.0.0.1@5353", ...; empty: /etc/resolv.conf), so tests bring their own DNS server.
// Called by deliver/remote/attempt.cpp. Trusts nothing in answers: rdata is decoded by
// the pure parsers in mx.hpp and checked for length here.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"

namespace tegami::remote {

constexpr int kRrA = 1;
constexpr int kRrMx = 15;
constexpr int kRrAaaa = 28;

struct DnsAnswer {
    enum class Kind { data, nodata, nxdomain, temp } kind = Kind::temp;
    std::vector<std::string> rdata;
    std::string why;  // for temp: the resolver's reason
};

class Resolver {
  public:
    using Callback = std::function<void(DnsAnswer)>;

    // servers: "addr" or "addr@port" each; empty: the system's resolv.conf.
    static Result<std::unique_ptr<Resolver>> create(event_base* base,
                                                    const std::vector<std::string>& servers);
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;
    ~Resolver();

    // Starts a query; the callback runs later on the loop (never inside query()).
    // Returns an id for cancel(), or 0 when the query could not start (cb not called).
    uint64_t query(const std::string& name, int rrtype, Callback cb);
    void cancel(uint64_t id);

  private:
    Resolver() = default;
    struct Pending {
        Resolver* self;
        uint64_t id;
        int async_id;
        Callback cb;
    };
    static void on_readable_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_answer_cb(void* arg, int err, ub_result* result) noexcept;

    UbCtxPtr ctx_;
    EventPtr ev_;
    std::map<uint64_t, std::unique_ptr<Pending>> pending_;
    uint64_t next_id_ = 1;
};

// Addresses (printable) from A or AAAA rdata; malformed lengths are dropped.
std::vector<std::string> addresses_from_rdata(int rrtype, const std::vector<std::string>& rdata);

}  // namespace tegami::remote
