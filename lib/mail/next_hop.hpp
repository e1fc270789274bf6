// next_hop.hpp - the next-hop syntax of the smarthost key and of mailertable entries, as
// sendmail and Postfix write it: "example.org" (look up its MX), "example.org:2525",
// "[mx.example.org]" (that host, no MX lookup), "[192.0.2.1]:587", "[IPv6:2001:db8::1]",
// "[::1]:2525". Port 465 means TLS from the first byte (RFC 8314). Called by the config
// check, the queue's routing (queue/route.cpp) and the remote agent. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tegami {

struct NextHop {
    std::string host;  // a domain, a host name, or an IP address (no brackets)
    uint16_t port = 25;
    bool mx = true;             // look up MX records (not bracketed, not an address)
    bool implicit_tls = false;  // port 465
};

// False on anything but the forms above. default_port applies when none is written.
bool parse_next_hop(std::string_view s, NextHop& out, uint16_t default_port = 25);
// An LMTP destination (RFC 2033), as Postfix writes it after "lmtp:": "unix:/path" (an
// absolute socket path, under 108 bytes), "inet:host:port", "inet:[host]:port",
// "inet:host" (port 24), or the same without "inet:". Never an MX lookup.
struct LmtpDestination {
    std::string unix_path;  // set for a Unix socket
    NextHop inet;           // else: host (mx false) and port
};
bool parse_lmtp_destination(std::string_view s, LmtpDestination& out);
// "unix:/path" or "inet:host:port": the canonical form, also the per-destination key.
std::string lmtp_destination_string(const LmtpDestination& d);

// The canonical printable form, also the key of per-destination queues: "[host]:port" or
// "host:port".
std::string next_hop_string(const NextHop& h);

}  // namespace tegami
