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
    uint64_t next_try = 0;
    std::string result = {};  // the last delivery attempt's "D.S.N text"
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

// hoststat (-bh): sendmail shows its HostStatusDirectory; Tegami keeps no host files, so
// it shows what the queue knows per destination: the domains of deferred recipients,
// how soon the next try is due, the last result. Nothing deferred: no output (as an
// empty HostStatusDirectory). purgestat (-bH): makes those retries due now (admin only).
struct HostStatus {
    std::string host;
    uint32_t recipients = 0;
    uint64_t next_try_in = 0;  // seconds
    std::string result;
};
std::vector<HostStatus> host_statuses(const std::vector<ListedMessage>& m, uint64_t now);
std::string format_host_status(const std::vector<HostStatus>& hs);
int host_status(const Options& o, const Config& cfg, Caller& caller);
int purge_host_status(const Options& o, const Config& cfg, Caller& caller);
int queue_control(const Options& o, const Config& cfg, Caller& caller);

}  // namespace tegami::msp
