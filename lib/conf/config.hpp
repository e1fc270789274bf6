// config.hpp - the suite's configuration: one file, tegami.conf, one immutable
// snapshot per load. Every key is declared once in the parameter table
// (lib/conf/params.cpp) with its type, default and documentation; the parser,
// `tegami-config` (print and check) and the tegami.conf(5) man page all come from it.
//
// Syntax: "key = value" lines; "#" starts a comment line; a line starting with
// white space continues the previous value; lists are separated by commas and/or
// white space. Sizes take k/m/g suffixes (powers of 1024); durations take s/m/h/d/w
// (no suffix: seconds). "$hostname" in a value is replaced by the hostname key.
// Errors name "file:line: message" and map to EX_CONFIG (78).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami {

enum class MailboxFormat { mbox, maildir };

struct Config {
    std::string config_file;  // where it was read from (not a key)

    // identity
    std::string hostname;
    std::vector<std::string> local_domains;
    std::string user;
    std::string smtpd_user;  // "" means user + "-smtpd" (see daemon_user())
    std::string queue_user;
    std::string local_user;
    std::string auth_user;
    std::string remote_user;
    std::string mail_group;

    // paths
    std::string queue_dir;
    std::string run_dir;
    std::string pid_file;
    std::string libexec_dir;
    std::string aliases;
    std::string mail_spool_dir;
    std::string maildir;
    std::string syslog_name;
    std::string log_file;  // empty: syslog

    // the MSP (sendmail command, client queue, local submission socket)
    std::string msp_group;
    std::string client_queue_dir;
    std::string msp_socket;
    std::string queue_control_socket;
    uint64_t client_queue_interval = 0;  // seconds
    std::string sendmail_path;

    // listeners
    std::vector<std::string> mta_listen;
    std::vector<std::string> msa_listen;
    std::vector<std::string> smtps_listen;

    // smtpd
    std::string smtpd_banner;
    uint64_t message_size_limit = 0;
    uint64_t smtpd_data_buffer_size = 0;
    uint64_t smtpd_recipient_limit = 0;
    uint64_t smtpd_error_limit = 0;
    uint64_t smtpd_client_limit = 0;
    uint64_t smtpd_timeout = 0;  // seconds
    bool smtpd_peername_lookup = false;
    uint64_t smtpd_peername_timeout = 0;  // seconds
    uint64_t smtpd_data_timeout = 0;      // seconds

    // authentication (tegami-auth)
    std::string auth_db;
    std::string auth_dir;
    uint64_t auth_failure_delay = 0;  // seconds
    uint64_t auth_failure_limit = 0;
    uint64_t auth_penalty_time = 0;  // seconds
    uint64_t auth_cache_time = 0;    // seconds
    std::string auth_backend;        // "builtin" or "dovecot"
    std::string auth_dovecot_socket;
    uint64_t auth_dovecot_timeout = 0;  // seconds
    std::vector<std::string> auth_mechanisms;
    bool smtpd_auth_enable = false;
    bool smtpd_auth_allow_plaintext_loopback = false;
    bool smtpd_sender_login_check = true;
    std::string smtpd_sender_login_map;
    bool smtpd_received_login = false;
    bool smtpd_sender_header = true;
    std::vector<std::string> trusted_networks;
    std::string smtpd_access_map;
    uint64_t smtpd_junk_command_limit = 0;
    // abuse defences (smtpd/server/abuse.hpp)
    uint64_t smtpd_soft_error_limit = 0;
    uint64_t smtpd_error_sleep_time = 0;  // seconds
    uint64_t smtpd_unknown_recipient_tarpit = 0;
    uint64_t smtpd_unknown_recipient_limit = 0;
    uint64_t smtpd_tarpit_delay = 0;  // seconds
    uint64_t smtpd_client_connection_count_limit = 0;
    uint64_t smtpd_client_connection_rate_limit = 0;  // per minute
    std::vector<std::string> smtpd_client_event_limit_exceptions;
    // per-user sending limits (smtpd/server/limits_policy.hpp, smtpd/auth/send_limits.hpp)
    uint64_t sender_limit_hour_messages = 0;
    uint64_t sender_limit_hour_recipients = 0;
    uint64_t sender_limit_day_messages = 0;
    uint64_t sender_limit_day_recipients = 0;
    std::string sender_limit_map;

    // TLS
    std::vector<std::string> tls_cert_file;
    std::vector<std::string> tls_key_file;
    uint64_t tls_handshake_timeout = 0;  // seconds
    uint64_t tls_ticket_rotation = 0;    // seconds

    // Per-listener settings ("msa.smtpd_timeout = 600"), as Postfix's master.cf -o:
    // applied over the file's values for sessions of that role (config_for_role).
    struct ListenerOverride {
        std::string role;  // mta, msa, smtps
        std::string key;
        std::string value;
        int line = 0;
    };
    std::vector<ListenerOverride> listener_overrides;

    // queue
    uint64_t queue_retry_min = 0;     // seconds
    uint64_t queue_retry_max = 0;     // seconds
    uint64_t queue_lifetime = 0;      // seconds
    uint64_t queue_active_limit = 0;  // messages in memory
    uint64_t queue_active_recipient_limit = 0;
    uint64_t queue_db_cache = 0;       // bytes
    uint64_t queue_log_file_size = 0;  // bytes
    std::string queue_store;           // "bdb" or "memory"
    uint64_t delay_warning_time = 0;   // seconds; 0 = never
    uint64_t bounce_size_limit = 0;    // bytes returned whole in a DSN; 0 = headers only

    // local delivery
    MailboxFormat mailbox_format = MailboxFormat::mbox;
    std::string mailbox_transport;  // "" or "lmtp:unix:/path", "lmtp:inet:host:port"
    uint64_t local_concurrency = 0;
    uint64_t local_idle_time = 0;              // seconds
    uint64_t local_batch_delay_ms = 0;         // a mailbox's batch gathers this long
    std::string recipient_delimiter;           // "+": user+detail reaches user ("" = off)
    std::string default_user;                  // runs |program and /file targets of aliases
    std::vector<std::string> virtual_domains;  // domains mapped by virtual_map
    std::string virtual_map;                   // sendmail's virtusertable, a lib/map spec
    std::string smrsh_dir;                     // programs allowed as |program targets
    uint64_t program_timeout = 0;              // seconds
    uint64_t max_hop_count = 0;                // Received headers before a loop is declared

    // routing and remote delivery
    std::string smarthost;
    std::string mailertable;
    std::string authinfo;
    std::vector<std::string> dns_resolver;
    std::string smtp_tls_security;  // "none", "may", "encrypt", "verify"
    std::string smtp_tls_policy;    // map spec: domain -> one of those
    uint64_t smtp_port = 0;
    uint64_t smtp_connect_timeout = 0;        // seconds
    uint64_t smtp_connection_reuse_time = 0;  // seconds
    uint64_t smtp_destination_concurrency_limit = 0;
    uint64_t smtp_destination_recipient_limit = 0;
    uint64_t smtp_concurrency_limit = 0;
    uint64_t lmtp_timeout = 0;                // seconds
    uint64_t lmtp_connection_reuse_time = 0;  // seconds
    uint64_t lmtp_destination_recipient_limit = 0;
};

// Loads and checks a configuration file. A missing file is an error unless
// allow_missing (then the defaults stand).
Result<Config> load_config(const std::string& path, bool allow_missing = false);
// Parses text as if read from `name` (for tests and `tegami-config -e`).
Result<Config> parse_config(const std::string& text, const std::string& name);
// The configuration with every default in place (hostname resolved).
Config default_config();

// The SMTP listener roles and their listen keys.
bool is_listener_role(const std::string& role);
// Whether KEY may be set per listener ("ROLE.KEY"): the smtpd_*, tls_* keys and
// message_size_limit.
bool is_listener_key(const std::string& key);
// c with its overrides for `role` applied (the overrides were checked when parsed).
Config config_for_role(const Config& c, const std::string& role);

// "key = value" for every key (or only those differing from the default).
std::string dump_config(const Config& c, bool non_default_only);
// The tegami.conf(5) man page, generated from the parameter table.
std::string config_man_page();
// Names of all keys, in table order.
std::vector<std::string> config_keys();

// The account a daemon ("smtpd", "queue", "local", "auth", "remote") runs as when
// master is root: its own key, else user + "-" + daemon.
std::string daemon_user(const Config& c, std::string_view daemon);
// The deliveries the queue has in flight to local at most (its window); local starts a
// gathering batch at once when it holds that many, since no more can come.
inline uint64_t local_requests_in_flight(const Config& c) {
    return c.local_concurrency > 0 ? 2 * c.local_concurrency : 1;
}

// Default configuration file path (set at build time: $(SYSCONFDIR)/tegami/tegami.conf).
const char* default_config_path();

// Value parsers (pure), exposed for tests. Return false on bad input.
bool parse_size(const std::string& s, uint64_t& out);
bool parse_duration(const std::string& s, uint64_t& out);
bool parse_bool(const std::string& s, bool& out);
std::vector<std::string> split_list(const std::string& s);

}  // namespace tegami
