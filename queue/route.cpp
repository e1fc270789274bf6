// route.cpp - see route.hpp.
#include "queue/route.hpp"

#include "lib/net/own_addresses.hpp"

#include <algorithm>

#include "lib/mail/address.hpp"
#include "lib/mail/error_target.hpp"
#include "lib/mail/next_hop.hpp"
#include "lib/net/own_addresses.hpp"

namespace tegami::queue {

const char* transport_name(Transport t) {
    switch (t) {
        case Transport::local:
            return "local";
        case Transport::lmtp:
            return "lmtp";
        case Transport::smtp:
            return "smtp";
        case Transport::error:
            return "error";
    }
    return "?";
}

namespace {

bool smtp_route(std::string_view hop_text, Route& out, uint16_t port) {
    NextHop h;
    if (!parse_next_hop(hop_text, h, port)) return false;
    out.transport = Transport::smtp;
    out.next_hop = next_hop_string(h);
    return true;
}

Route temp_error(std::string text) {
    Route r;
    r.transport = Transport::error;
    r.status = 4;
    r.dsn = "4.3.5";
    r.text = std::move(text);
    return r;
}

}  // namespace

bool parse_mailertable_value(std::string_view v, std::string_view domain, Route& out,
                             uint16_t smtp_port) {
    size_t colon = v.find(':');
    if (colon == std::string_view::npos) return false;
    std::string mailer = lower_ascii(v.substr(0, colon));
    std::string_view rest = v.substr(colon + 1);
    while (!rest.empty() && rest.back() == ' ')
        rest.remove_suffix(1);
    Route r;
    if (mailer == "smtp" || mailer == "esmtp" || mailer == "smtp8" || mailer == "relay" ||
        mailer == "dsmtp") {
        std::string target = rest.empty() ? std::string(domain) : std::string(rest);
        if (!smtp_route(target, r, smtp_port)) return false;
    } else if (mailer == "local") {
        r.transport = Transport::local;
        if (!rest.empty()) {
            std::string user(rest);
            if (user.find_first_of(" \t\r\n<>") != std::string::npos) return false;
            r.rewrite = user;
        }
    } else if (mailer == "lmtp") {
        LmtpDestination d;
        if (!parse_lmtp_destination(rest, d)) return false;
        r.transport = Transport::lmtp;
        r.next_hop = lmtp_destination_string(d);
    } else if (mailer == "error") {
        // "error:5.7.1:550 text", "error:550 text", "error:5.1.1 text": the shared parser
        // (aliases and virtusertable use it too); anything it finds fault with, no text
        // included, is a bad entry that defers (the admin fixes the map), never a guess.
        ErrorTarget et = parse_error_target(rest, "refused by the mailertable");
        if (!et.problem.empty()) return false;
        r.transport = Transport::error;
        r.status = et.status;
        r.dsn = std::move(et.dsn);
        r.text = std::move(et.text);
    } else {
        return false;
    }
    out = std::move(r);
    return true;
}

Route route_recipient(std::string_view address, const RoutingTables& t, bool mailbox) {
    size_t at = address.rfind('@');
    Route r;
    if (mailbox && !t.mailbox_transport.empty()) {
        r.transport = Transport::lmtp;
        r.next_hop = t.mailbox_transport;
        return r;
    }
    if (at == std::string_view::npos) return r;  // "Postmaster": local
    std::string domain = lower_ascii(address.substr(at + 1));
    if (std::find(t.local_domains.begin(), t.local_domains.end(), domain) != t.local_domains.end())
        return r;
    if (!domain.empty() && domain[0] == '[' && is_own_address_literal(domain))
        return r;  // this host by address: local, as smtpd accepted it
    if (t.mailertable) {
        std::vector<std::string> keys = {domain};
        for (size_t d = domain.find('.'); d != std::string::npos; d = domain.find('.', d + 1))
            keys.push_back(domain.substr(d));
        keys.emplace_back(".");
        for (const auto& k : keys) {
            std::string err;
            auto v = t.mailertable(k, err);
            if (!err.empty()) return temp_error("mailertable lookup failed: " + err);
            if (!v) continue;
            if (!parse_mailertable_value(*v, domain, r, t.smtp_port))
                return temp_error("bad mailertable entry for " + k + ": \"" + *v + "\"");
            return r;
        }
    }
    if (!domain.empty() && domain[0] == '[') {
        // An address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
        if (smtp_route(domain, r, t.smtp_port)) return r;
        Route e;
        e.transport = Transport::error;
        e.status = 5;
        e.dsn = "5.1.2";
        e.text = "bad address literal " + domain;
        return e;
    }
    if (!t.smarthost.empty() && smtp_route(t.smarthost, r, t.smtp_port)) return r;
    if (!smtp_route(domain, r, t.smtp_port)) {
        Route e;
        e.transport = Transport::error;
        e.status = 5;
        e.dsn = "5.1.2";
        e.text = "bad destination domain " + domain;
        return e;
    }
    return r;
}

}  // namespace tegami::queue
