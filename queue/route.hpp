// route.hpp - the queue's routing step: for each recipient, the transport and next hop
// that deliver it (local, lmtp, smtp to a host or the smarthost, or an error), from
// local_domains, the mailertable (sendmail's format, read through lib/map by the caller)
// and the smarthost key. Called by the runner (queue/runner.cpp) when it groups a
// message's due recipients into one request per agent and next hop. The mailertable
// arrives as a lookup function; nothing here opens files or resolves names (an address
// literal is compared with this host's interface addresses: lib/net/own_addresses.hpp).
//
// Order (sendmail's): a domain in local_domains (or no domain at all, "Postmaster") is
// local, and so is an address literal of this host; else the mailertable, tried for the domain,
// then ".parent" for each parent domain, then "."; else the smarthost; else SMTP to the domain's
// own MX hosts. An address literal goes to that address. A mailertable value that does not parse is
// a temporary error (4.3.5: the admin fixes the map; the mail waits), never a guess.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::queue {

enum class Transport { local, lmtp, smtp, error };

const char* transport_name(Transport t);

struct Route {
    Transport transport = Transport::local;
    // smtp: the canonical next hop ("example.org:25", "[smtp.example.org]:587"); the key
    // of the per-destination queue. local: "". lmtp: the LMTP destination.
    std::string next_hop;
    // local via mailertable "local:user": the address to deliver to instead; else empty.
    std::string rewrite;
    // error: class 4 or 5, enhanced code and text.
    uint32_t status = 0;
    std::string dsn;
    std::string text;
};

struct RoutingTables {
    std::vector<std::string> local_domains;  // lower case; virtual_domains included
    std::string smarthost;                   // "" or a next hop (checked by the config)
    uint16_t smtp_port = 25;                 // where a next hop names no port
    // mailbox_transport's LMTP destination ("unix:/path", "inet:host:port"), or "": where
    // a local user's mailbox that local handed back goes (Recipient::route "mailbox").
    std::string mailbox_transport;
    // The mailertable lookup (exact key, already lower-cased); empty: no mailertable.
    // An error of the map itself comes back as nullopt plus map_error set.
    std::function<std::optional<std::string>(const std::string& key, std::string& map_error)>
        mailertable;
};

// mailbox: the recipient is a local user's mailbox handed back by local for
// mailbox_transport: lmtp to it (local again, should the key have been emptied since).
Route route_recipient(std::string_view address, const RoutingTables& t, bool mailbox = false);

// One mailertable value ("smtp:[host]:port", "esmtp:host", "relay:host", "local:user",
// "local:", "lmtp:...", "error:[D.S.N:]code text"), for domain; false when malformed
// (an error: target as lib/mail/error_target.hpp parses it, any problem it names
// included).
bool parse_mailertable_value(std::string_view value, std::string_view domain, Route& out,
                             uint16_t smtp_port = 25);

}  // namespace tegami::queue
