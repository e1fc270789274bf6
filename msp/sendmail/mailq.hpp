// mailq.hpp - queue listing (mailq, sendmail -bp, with -Ac the client queue) in
// sendmail's layout (SENDMAIL-COMPAT.md 2.4) or as JSON (--json), and the queue
// control requests (-q run now, -qI.. one message, -Q hold/release, --delete).
// Called by main.cpp with the MSP group still held: it is needed to read the client
// queue and to reach the queue's control socket; nothing here parses mail.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "msp/sendmail/caller.hpp"
#include "msp/sendmail/options.hpp"

namespace tegami::msp {

// One queued message as listed.
struct ListedRecipient {
    std::string address;
    std::string status;  // its queue state: "pending", "deferred" ("" in the client queue)
};
struct ListedMessage {
    std::string id;
    uint64_t size = 0;
    uint64_t arrival = 0;  // seconds since the epoch
    char mark = ' ';       // '*' being processed, ' ' otherwise
    std::string sender;    // as shown ("<a@b>", or the user for the client queue)
    std::string reason;    // the message-level "(...)" line, or ""
    bool hidden = false;   // not the caller's: shown as "(permission denied)"
    bool held = false;     // held by an administrator (sendmail's quarantine, -qQ)
    std::string hold_reason;
    std::vector<ListedRecipient> recipients;
};

// sendmail's layout for one queue directory.
std::string format_listing(const std::string& queue_name, const std::vector<ListedMessage>& m);
std::string format_json(const std::string& queue_name, const std::vector<ListedMessage>& m);

int list_queue(const Options& o, const Config& cfg, Caller& caller);
int queue_control(const Options& o, const Config& cfg, Caller& caller);

}  // namespace tegami::msp
