// resolver.hpp - the asynchronous resolver of the remote agent and of smtpd (client
// names): libunbound in threaded async mode, its descriptor (ub_fd) watched by the
// daemon's libevent loop, answers handed to a callback on the loop thread. The servers to
// ask come from the dns_resolver key ("127.0.0.1@5353", ...; empty: /etc/resolv.conf and
// /etc/hosts), so tests bring their own DNS server. Called by deliver/remote (MX, A, AAAA)
// and smtpd/server (PTR with a forward check, NameLookup). Trusts nothing in answers:
// rdata is decoded by pure parsers (deliver/remote/mx.hpp, name_from_rdata here) and
// checked for length.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"

namespace tegami::dns {

constexpr int kRrA = 1;
constexpr int kRrPtr = 12;
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

// The PTR query name of a printable address ("192.0.2.1" -> "1.2.0.192.in-addr.arpa",
// IPv6 by nibbles under ip6.arpa); nullopt for anything that is not an address.
std::optional<std::string> reverse_name(std::string_view addr);
// A domain name in DNS wire format (PTR rdata: labels, no compression) as lower-case
// dotted text without the final dot; nullopt when malformed (a label past the end, a
// compression pointer, over 255 octets, the root alone, or bytes not allowed in a host
// name: letters, digits, '-', '_').
std::optional<std::string> name_from_rdata(std::string_view rdata);

// The client's name as Postfix's smtpd gives it (forward-confirmed reverse DNS): the
// PTR names of the address (at most kMaxPtrNames), each looked up by A or AAAA (the
// address's family); the first whose addresses include the client's is the name.
// "unknown" when there is no PTR, no name confirms, a lookup fails or the timeout comes
// first (the caller's timer: cancel() then). done runs once, on the loop, never inside
// start(); the object must outlive it or be destroyed (which cancels).
class NameLookup {
  public:
    static constexpr size_t kMaxPtrNames = 4;
    using Done = std::function<void(std::string name, std::string why)>;
    explicit NameLookup(Resolver& r) : resolver_(r) {}
    NameLookup(const NameLookup&) = delete;
    NameLookup& operator=(const NameLookup&) = delete;
    ~NameLookup() { cancel(); }
    // False (done never runs) when addr is not an address or no query could start.
    bool start(const std::string& addr, Done done);
    void cancel();

  private:
    void on_ptr(const DnsAnswer& a);
    void on_forward(size_t i, const DnsAnswer& a);
    void finish(std::string name, std::string why);

    Resolver& resolver_;
    std::string addr_;
    int rrtype_ = kRrA;
    Done done_;
    std::vector<std::string> names_;
    std::vector<uint64_t> queries_;  // outstanding ids
    size_t answered_ = 0;
    bool finished_ = true;
};

}  // namespace tegami::dns
