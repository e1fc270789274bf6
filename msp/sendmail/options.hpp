// options.hpp - the sendmail command line (SENDMAIL-COMPAT.md 2.2) as a pure parser:
// argv -> Options, or the message and sysexits code sendmail gives for it. Called once
// by main.cpp before anything else is read; trusts nothing in argv.
//
// Parsing follows sendmail's getopt on glibc: option letters may be grouped ("-ti"), an
// option's argument is attached ("-fme") or the next word ("-f me"), options and
// recipients may be mixed, "--" ends the options. -q and -d take only an attached
// argument. Options that make sendmail give up its group (-C, -oQ, -oA, -d other than
// the version query, unknown-to-Tegami -o/-O options sendmail knows) set `dangerous`;
// main drops the MSP group before acting on any of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::msp {

// -q[!]I / -q[!]R / -q[!]S substr: limit a queue run or listing (repeatable: a message
// must match one filter of each kind given).
struct QueueFilter {
    char kind = 'I';  // 'I' queue ID, 'R' recipient, 'S' sender
    bool negate = false;
    std::string substr;
};

struct Options {
    std::string mode = "m";  // -b letter(s): m s d D C p i v t h H P a z ...; "m" default
    bool mode_given = false;
    bool read_recipients = false;  // -t
    bool ignore_dots = false;      // -i, -oi, -O IgnoreDots
    std::string sender;            // -f / -r
    char sender_flag = 0;          // 'f' or 'r' when given
    std::string full_name;         // -F
    bool has_full_name = false;
    std::string notify;        // -N: NOTIFY as sent ("NEVER", "SUCCESS,FAILURE"), checked
    std::string ret;           // -R: "FULL" or "HDRS", checked
    std::string envid;         // -V: xtext, at most 100 characters, checked
    std::string body_type;     // -B 7BIT | 8BITMIME
    bool smtputf8 = false;     // -U (accepted; SMTPUTF8 is used when an address needs it)
    bool verbose = false;      // -v
    bool me_too = false;       // -m, -om
    char error_mode = 'p';     // -oe<x>: p print, q quiet, m/w mail back, e like m
    char delivery_mode = 'i';  // -od<x>: i interactive, b background, q/d queue only

    bool queue_run = false;            // -q given
    uint64_t queue_interval = 0;       // -q30m: seconds (0: run once)
    bool queue_foreground = false;     // -qf
    std::vector<QueueFilter> filters;  // -qI/-qR/-qS
    bool quarantine = false;           // -Q[reason]: hold (reason) or release (empty)
    std::string quarantine_reason;
    bool delete_ids = false;  // --delete with -qI: remove messages (root)
    bool json = false;        // --json: mailq for scripts
    char queue_select = 0;    // -Ac / -Am

    std::string config;  // -C
    bool has_config = false;
    std::string log_tag;   // -L
    std::string xlog;      // -X file (refused unless root)
    bool version = false;  // -d0.1
    bool dangerous = false;
    std::vector<std::string> warnings;  // printed, not fatal
    std::vector<std::string> recipients;
};

// The mode a program name implies: mailq -> "p", newaliases -> "i", hoststat -> "h",
// purgestat -> "H", smtpd -> "d"; anything else "m".
std::string mode_for_program(std::string_view argv0);

// args excludes argv[0]. The error carries sendmail's words and exit code
// (EX_USAGE for an unknown flag or a missing argument, EX_CONFIG for an unknown -o
// letter, EX_SOFTWARE for an unknown -O name, as observed with 8.17).
Result<Options> parse_options(const std::vector<std::string>& args, std::string_view argv0);

// Whether a message passes the -qI/-qR/-qS filters: for each kind given, one filter of
// that kind matches (a negated one when its substring is absent). Queue IDs compare
// exactly, addresses ignoring case.
bool filters_match(const std::vector<QueueFilter>& filters, std::string_view id,
                   std::string_view sender, const std::vector<std::string>& recipients);

// "30m", "1h30m", "2d", "45" (seconds) -> seconds; false when malformed.
bool parse_interval(std::string_view s, uint64_t& out);

}  // namespace tegami::msp
