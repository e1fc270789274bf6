// params.cpp - the parameter table: every configuration key, declared once with its
// type, default and documentation. The parser (parser.cpp), the dump and the man page
// are driven from this table; a unit test fails on a key missing from doc/tegami.conf.5.
#include "lib/conf/params.hpp"

#include <unistd.h>

#include <climits>

namespace tegami {

#ifndef TEGAMI_SYSCONFDIR
#define TEGAMI_SYSCONFDIR "/etc"
#endif
#ifndef TEGAMI_LIBEXECDIR
#define TEGAMI_LIBEXECDIR "/usr/libexec"
#endif
#ifndef TEGAMI_SBINDIR
#define TEGAMI_SBINDIR "/usr/sbin"
#endif

const char* default_config_path() {
    return TEGAMI_SYSCONFDIR "/tegami/tegami.conf";
}

#define P_STR(key, def, doc) \
    { #key, ParamType::string, def, doc, &Config::key, nullptr, nullptr }
#define P_PATH(key, def, doc) \
    { #key, ParamType::path, def, doc, &Config::key, nullptr, nullptr }
#define P_LIST(key, def, doc) \
    { #key, ParamType::list, def, doc, nullptr, &Config::key, nullptr }
#define P_LISTEN(key, def, doc) \
    { #key, ParamType::listen, def, doc, nullptr, &Config::key, nullptr }
#define P_SIZE(key, def, doc) \
    { #key, ParamType::size, def, doc, nullptr, nullptr, &Config::key }
#define P_TIME(key, def, doc) \
    { #key, ParamType::duration, def, doc, nullptr, nullptr, &Config::key }
#define P_COUNT(key, def, doc) \
    { #key, ParamType::count, def, doc, nullptr, nullptr, &Config::key }
#define P_BOOL(key, def, doc) \
    { #key, ParamType::boolean, def, doc, nullptr, nullptr, nullptr, &Config::key }
#define P_MAILBOX(key, def, doc) \
    { #key, ParamType::mailbox_format, def, doc, nullptr, nullptr, nullptr }

const std::vector<Param>& param_table() {
    static const std::vector<Param> table = {
        P_STR(hostname, "",
              "The fully qualified name of this host, used in the SMTP greeting, in HELO/EHLO "
              "replies and in Received headers. Empty means the name gethostname(2) returns."),
        P_LIST(local_domains, "$hostname, localhost",
               "Domains whose mail is delivered on this host. A recipient in one of them must be "
               "a user in the passwd database or a name in the aliases file, else RCPT is refused "
               "with 550 5.1.1. Mail for any other domain is refused with 550 5.7.1 (no relaying). "
               "Matching ignores case. An address literal of one of this host's interface "
               "addresses (user@[192.0.2.25], user@[IPv6:2001:db8::25]) is local too, as "
               "sendmail and Postfix take it; a literal of any other host is not."),
        P_STR(user, "tegami",
              "The base name of the daemons' unprivileged accounts when master is started as "
              "root: each daemon runs as its own account (smtpd_user, queue_user, local_user, "
              "auth_user, remote_user), by default this name followed by \"-smtpd\", "
              "\"-queue\", \"-local\", \"-auth\" and \"-remote\". When master is started "
              "by another user, every process runs as that user and these keys are ignored "
              "(logged at start-up)."),
        P_STR(smtpd_user, "",
              "The account smtpd runs as when master is started as root. Empty means "
              "user-smtpd (\"tegami-smtpd\" by default). smtpd can neither open the queue's "
              "files (queue_user) nor read the credentials (auth_user)."),
        P_STR(queue_user, "",
              "The account the queue runs as when master is root; it owns queue_dir. Empty "
              "means user-queue."),
        P_STR(local_user, "",
              "The account local delivery runs as (with CAP_SETUID and CAP_SETGID only) when "
              "master is root. Empty means user-local."),
        P_STR(auth_user, "",
              "The account tegami-auth runs as when master is root; it alone reads auth_db "
              "and owns auth_dir. Empty means user-auth."),
        P_STR(remote_user, "",
              "The account the remote delivery agent runs as when master is root. Empty "
              "means user-remote."),
        P_STR(mail_group, "mail",
              "The group local delivery keeps while it delivers as a recipient, so that it can "
              "create mailboxes and dotlocks in mail_spool_dir (root:mail, mode 2775 on Debian)."),
        P_PATH(queue_dir, "/var/spool/tegami",
               "The queue: a Berkeley DB transactional environment (envelopes, recipient states, "
               "bodies, logs). Owned by user, mode 0700. Only the queue process opens it."),
        P_PATH(run_dir, "/run/tegami",
               "Directory for the internal Unix sockets between the daemons (created by master, "
               "owned by user, mode 0700)."),
        P_PATH(pid_file, "/run/tegami/master.pid", "Where master writes its process ID."),
        P_STR(msp_group, "smmsp",
              "The group the sendmail command is installed set-group-ID to (the MSP group, as "
              "sendmail's smmsp). Only this group may write into client_queue_dir and reach "
              "msp_socket and queue_control_socket. When master runs as root and the group does "
              "not exist, the MSP socket is not offered (logged at start-up)."),
        P_PATH(client_queue_dir, "/var/spool/clientmqueue",
               "The client queue: where sendmail writes each message submitted on the command "
               "line before handing it to smtpd (one file per message, mode 0660, group "
               "msp_group; the directory root:msp_group 0770, created by master and make "
               "install). A file stays when smtpd cannot take the message; the client-queue "
               "runner (sendmail -Ac -q) delivers it later."),
        P_PATH(msp_socket, "/run/tegami-msp/submit",
               "The Unix socket on which smtpd takes local submissions from sendmail (the "
               "\"local\" listener: SMTP, the submitter's uid read with SO_PEERCRED, no relay "
               "restriction). Bound by master with group msp_group, mode 0660, in a directory "
               "root:msp_group 0750."),
        P_PATH(queue_control_socket, "/run/tegami-msp/control",
               "The Unix socket of the queue's control service (mailq, sendmail -q, hold, "
               "release, delete). Bound by master next to msp_socket with the same owner and "
               "mode; the queue checks each caller's uid with SO_PEERCRED."),
        P_TIME(client_queue_interval, "20m",
               "How often master runs the client-queue runner (sendmail -Ac -q, as user with "
               "group msp_group) to deliver what is left in client_queue_dir; it also runs once "
               "at start-up, picking up what a crash left. 0 disables it (run it from cron)."),
        P_PATH(sendmail_path, TEGAMI_SBINDIR "/sendmail",
               "The sendmail program master runs as the client-queue runner."),
        P_PATH(libexec_dir, TEGAMI_LIBEXECDIR "/tegami",
               "Directory holding the daemon programs tegami-smtpd, tegami-queue and tegami-local, "
               "which master starts."),
        P_PATH(aliases, "/etc/aliases",
               "The aliases file (sendmail format: \"name: target, target\"). A local recipient "
               "named here is accepted at RCPT and expanded by local delivery to local users. "
               "Read again when its modification time changes."),
        P_PATH(mail_spool_dir, "/var/mail",
               "Where mbox mailboxes live, one file per user named after the user."),
        P_STR(maildir, "~/Maildir/",
              "The Maildir used when mailbox_format is maildir. \"~\" is the recipient's home "
              "directory and \"%u\" the user name; a relative path is relative to the home."),
        P_STR(syslog_name, "tegami",
              "The program name prefix in syslog lines (\"tegami/smtpd\", \"tegami/queue\", ...)."),
        P_STR(log_file, "",
              "When set (an absolute path), every daemon appends its log lines to this file "
              "instead of sending them to syslog, as Postfix's maillog_file does: for machines "
              "and containers without a syslog daemon (\"/dev/stdout\" works for a container "
              "run in the foreground). Master opens it (created 0640 if missing) and hands it "
              "to each daemon as standard error; lines keep syslog's layout, one write per "
              "line. Rotate it with copytruncate, or restart master; a reload keeps the open "
              "file. Empty (the default): syslog."),
        P_LISTEN(mta_listen, "0.0.0.0:25, [::]:25",
                 "Addresses and ports of the MTA listener (server-to-server SMTP, no relaying), "
                 "as host:port or [ipv6]:port. Master binds them; an empty list disables the MTA."),
        P_LISTEN(msa_listen, "0.0.0.0:587, [::]:587",
                 "Addresses of the message submission listener (RFC 6409, role msa): mail "
                 "clients submit here after STARTTLS and AUTH. Before AUTH only EHLO, HELO, "
                 "STARTTLS, AUTH, NOOP, RSET, QUIT and HELP are answered; every other command "
                 "gets 530 5.7.0. An empty list disables it."),
        P_LISTEN(smtps_listen, "0.0.0.0:465, [::]:465",
                 "Addresses of the submission listener with implicit TLS (RFC 8314, role "
                 "smtps): the TLS handshake starts at connect, then the session is as on "
                 "msa_listen. Needs tls_cert_file; an empty list disables it."),
        P_STR(smtpd_banner, "$hostname ESMTP Tegami",
              "The text after \"220 \" in the SMTP greeting. It must start with the hostname "
              "(RFC 5321 4.3.1)."),
        P_SIZE(message_size_limit, "10240000",
               "The largest message accepted, in bytes, counted as received (after "
               "dot-unstuffing, without the Received header added here). Announced as SIZE in "
               "EHLO; a larger SIZE= at MAIL gets 552 5.3.4, a larger body 552 5.3.4 after DATA."),
        P_SIZE(smtpd_data_buffer_size, "64k",
               "The most message content one session holds in memory while it reads DATA, in "
               "bytes (at least 4k). A message larger than this is streamed to the queue in "
               "chunks of this size as it arrives, at most two per session in memory at once "
               "(one being filled, one on its way), so a session's memory stays bounded "
               "whatever the message size; a smaller message goes to the queue whole at the "
               "end of data."),
        P_COUNT(smtpd_recipient_limit, "1000",
                "Recipients accepted per message; RCPT beyond it gets 452 4.5.3 (RFC 5321 "
                "4.5.3.1.8: the client sends the rest in another transaction). At least 100."),
        P_COUNT(smtpd_error_limit, "20",
                "Errors (4xx/5xx replies to commands) a session may cause before it is closed "
                "with 421 4.7.0."),
        P_COUNT(smtpd_client_limit, "10000",
                "Concurrent SMTP sessions served (all listeners together); further connections "
                "get 421 4.7.0 and are closed. Master raises its RLIMIT_NOFILE (inherited by "
                "smtpd) to this plus 256 when it can, and logs what it did; an idle plaintext "
                "session costs under 2 KiB."),
        P_BOOL(smtpd_peername_lookup, "yes",
               "Name each TCP client by DNS before the greeting, as Postfix does: the PTR "
               "record of its address, confirmed by a forward lookup (A or AAAA) that gives "
               "the address back; the name is used in the logs and the Received header, and "
               "\"unknown\" when it is not confirmed. 127.0.0.1 and ::1 are \"localhost\" "
               "without a lookup. The servers asked are dns_resolver's (read when smtpd "
               "starts)."),
        P_TIME(smtpd_peername_timeout, "5s",
               "How long the client-name lookup may take; then the session goes on with the "
               "name \"unknown\". Other sessions never wait for it."),
        P_TIME(smtpd_timeout, "300s",
               "How long smtpd waits for the next command, and for the client to read a reply "
               "(RFC 5321 4.5.3.2: at least 5 minutes). A command line must also be complete "
               "within this time of its first byte, however slowly its bytes arrive (a client "
               "sending a byte a second holds its session no longer). On expiry: 421 4.4.2 "
               "and close."),
        P_TIME(smtpd_data_timeout, "180s",
               "How long smtpd waits for the next block of message data during DATA (RFC 5321 "
               "4.5.3.2.5: at least 3 minutes), and the longest a body line may take from its "
               "first byte to its end. On expiry: 421 4.4.2 and close."),
        P_PATH(auth_db, TEGAMI_SYSCONFDIR "/tegami/passwd.db",
               "The built-in credential store: a Berkeley DB hash file of login -> yescrypt hash "
               "and SCRAM-SHA-256 keys, managed with tegami-passwd(8) while the daemons run. "
               "Readable by auth_user only (root:auth_user, mode 0640); smtpd never opens it."),
        P_PATH(auth_dir, "/var/lib/tegami/auth",
               "tegami-auth's own state: the penalty box of client addresses that failed to "
               "authenticate (penalty.db), kept across restarts. Created by master, owned by "
               "auth_user, mode 0700."),
        P_TIME(auth_failure_delay, "1s",
               "How long the answer to a failed authentication is held back; each further "
               "failure from the same client address within auth_penalty_time doubles it, up "
               "to 30 seconds. 0 answers at once."),
        P_COUNT(auth_failure_limit, "10",
                "Failed authentications from one client address within auth_penalty_time after "
                "which the session is closed with 421 4.7.0 and the address is refused "
                "authentication for auth_penalty_time. 0 disables the penalty box."),
        P_TIME(auth_penalty_time, "1h",
               "How long a failed authentication is remembered per client address, and how "
               "long an address that reached auth_failure_limit stays refused."),
        P_TIME(auth_cache_time, "5m",
               "How long tegami-auth remembers that a login's password (PLAIN, LOGIN) was "
               "right, so that the same login with the same password skips the yescrypt "
               "check (which costs tens of milliseconds of CPU by design) until then. Only "
               "a keyed MAC of the stored hash and the password is kept, under a random key "
               "made at start-up, in tegami-auth's memory: never on disk, gone on restart; "
               "a changed password misses at once, and a wrong one always costs the full "
               "check. 0 turns the cache off."),
        P_STR(auth_backend, "builtin",
              "Where tegami-auth checks credentials: builtin (auth_db, managed with "
              "tegami-passwd(8)) or dovecot (Dovecot's authentication socket, "
              "auth_dovecot_socket, so that mail clients use their IMAP accounts). With "
              "dovecot, tegami-auth relays each SASL step to Dovecot and trusts its OK (with "
              "the user= it names) or FAIL; the failure delay and penalty box of tegami-auth "
              "still apply, and a Dovecot that cannot be reached or answers a temporary "
              "failure gives 454 4.7.0."),
        P_PATH(auth_dovecot_socket, "/run/dovecot/auth-client",
               "Dovecot's auth-client socket (a unix_listener of its auth service) that "
               "tegami-auth connects to when auth_backend is dovecot. auth_user must be allowed "
               "to connect (the listener's mode, user or group). The connection is kept open "
               "and made again after Dovecot restarts."),
        P_TIME(auth_dovecot_timeout, "30s",
               "How long tegami-auth waits for Dovecot to accept the connection and finish its "
               "handshake, and for each answer to a SASL step; on expiry the exchange gets 454 "
               "4.7.0 and the connection is made anew."),
        P_LIST(auth_mechanisms, "",
               "The SASL mechanisms smtpd offers, in order. Empty: SCRAM-SHA-256-PLUS (with TLS "
               "1.3 channel binding), SCRAM-SHA-256, PLAIN and LOGIN for the builtin backend; "
               "PLAIN and LOGIN for dovecot. With dovecot, any mechanism Dovecot offers may be "
               "listed (e.g. SCRAM-SHA-256 when its passdb holds plaintext or SCRAM "
               "passwords); one Dovecot does not offer is answered 504 5.5.4. "
               "SCRAM-SHA-256-PLUS is builtin only (Dovecot 2.3's protocol carries no channel "
               "binding)."),
        P_BOOL(smtpd_auth_enable, "no",
               "Whether smtpd offers SMTP AUTH (RFC 4954) on the MTA listener (port 25), so that "
               "authenticated clients may relay. AUTH is offered only under TLS, unless "
               "smtpd_auth_allow_plaintext_loopback allows it to loopback clients in clear. "
               "Credentials are checked by tegami-auth, never by smtpd."),
        P_BOOL(smtpd_auth_allow_plaintext_loopback, "no",
               "Offer AUTH without TLS to clients on 127.0.0.0/8 and ::1 (for tests and "
               "local tools). Never to any other address: elsewhere AUTH without TLS is "
               "refused with 538 5.7.11."),
        P_BOOL(smtpd_sender_login_check, "yes",
               "An authenticated client's MAIL FROM must be an address its login may use: "
               "the login itself (when it is an address), login@D for D one of local_domains, "
               "or an address whose entry in smtpd_sender_login_map names the login; else "
               "553 5.7.1. The null sender is always allowed."),
        P_STR(smtpd_sender_login_map, "",
              "A map (lib/map spec, e.g. hash:/etc/tegami/sender_logins) from a sender "
              "address, or \"@domain\", to the logins (comma or space separated) that may "
              "use it. Empty: only the built-in rules of smtpd_sender_login_check."),
        P_COUNT(sender_limit_hour_messages, "0",
                "Per-user sending limit: messages each authenticated login (and each local "
                "submitter's uid on the MSP socket) may send within the last hour. A message "
                "counts once the queue accepted it (after its durable 250) and only when at "
                "least one recipient is outside local_domains and virtual_domains; bounces "
                "(the null sender) never count. Past the limit MAIL is answered 451 4.7.1 "
                "with the limit and the time it frees up, and the refusal is logged with the "
                "login. The hour is approximated by 12 buckets of 5 minutes, the day by 24 of "
                "one hour; the counts are kept by tegami-auth in auth_dir/limits.db and "
                "survive restarts (written at most 10 seconds late). Sessions of one user that "
                "run at once cannot each use the same remaining room: a transaction in "
                "progress holds its message from MAIL (and its counted recipients from each "
                "RCPT) in tegami-auth, and what it holds counts for every other transaction of "
                "that user as if it were sent; so with one message left, a second session's "
                "MAIL is refused while the first transaction runs. The hold is given back when "
                "the transaction ends without a message (RSET, HELO/EHLO, QUIT, a refusal at "
                "DATA or the end of data, a dropped connection), turned into the count when the "
                "queue accepts the message, dropped with smtpd's channel when smtpd or "
                "tegami-auth restarts, and in any case dropped after an hour untouched. "
                "Overridden per user by sender_limit_map. 0: no limit."),
        P_COUNT(sender_limit_hour_recipients, "0",
                "Per-user sending limit: recipients outside local_domains and virtual_domains "
                "each user may send to within the last hour (see sender_limit_hour_messages); "
                "past it RCPT is answered 451 4.7.1 (each counted RCPT asks tegami-auth, which "
                "counts what other transactions of the user hold). 0: no limit."),
        P_COUNT(sender_limit_day_messages, "0",
                "Per-user sending limit: messages within the last day (see "
                "sender_limit_hour_messages). 0: no limit."),
        P_COUNT(sender_limit_day_recipients, "0",
                "Per-user sending limit: recipients within the last day (see "
                "sender_limit_hour_recipients). 0: no limit."),
        P_STR(sender_limit_map, "",
              "A map (lib/map spec, e.g. hash:/etc/tegami/sender_limits, read by tegami-auth) "
              "from a login, or \"uid:N\" for a local submitter, to that user's own limits: "
              "\"hour_messages=500 day_recipients=20000\" (hour_messages, hour_recipients, "
              "day_messages, day_recipients; space or comma separated; a limit not named "
              "keeps the default; 0 means none), or \"unlimited\". An entry that cannot be "
              "parsed is logged and the defaults apply. Empty: the defaults for everyone."),
        P_BOOL(smtpd_received_login, "no",
               "Name the authenticated login in the Received header (\"(authenticated as "
               "LOGIN)\"). Off by default: the protocol (ESMTPA, ESMTPSA, RFC 3848) says that "
               "the client authenticated without publishing who."),
        P_BOOL(smtpd_sender_header, "yes",
               "For an authenticated submission whose From field does not name the envelope "
               "sender (an address the login may use, see smtpd_sender_login_check), or names "
               "several mailboxes, add \"Sender: <envelope sender>\" (RFC 6409 8.1, RFC 5322 "
               "3.6.2), so that recipients see who really sent it. A Sender field the client "
               "wrote is kept and From is never changed; messages without From get none."),
        P_STR(smtpd_access_map, "",
              "sendmail's access map (a lib/map spec such as hash:/etc/mail/access, compiled "
              "by makemap), consulted at connect (Connect:client), MAIL (From:address) and "
              "RCPT (To:address) with sendmail's fallbacks: the address, its domain and each "
              "parent domain, \"user@\"; a client's address and its shorter network "
              "prefixes; tagged keys first, then bare ones. Values: OK, RELAY (the recipient, "
              "or everything from that client, may be relayed), REJECT, DISCARD (taken as OK "
              "for now), ERROR:\"550 5.7.1 text\", SKIP. Empty: no access map."),
        P_COUNT(smtpd_junk_command_limit, "100",
                "NOOP, RSET, VRFY and HELP commands a session may send (together); the next "
                "one is answered 421 4.7.0 and the session closed. 0: no limit."),
        P_COUNT(smtpd_soft_error_limit, "10",
                "Error replies (4xx and 5xx) a session may get before each further error reply "
                "is held back for smtpd_error_sleep_time, as Postfix's error sleep: a client "
                "that keeps erring is slowed down before smtpd_error_limit closes it. The "
                "delay is a timer in the event loop; other sessions are not held up. Clients "
                "in trusted_networks or smtpd_client_event_limit_exceptions are exempt. 0: no "
                "delay."),
        P_TIME(smtpd_error_sleep_time, "1s",
               "How long each error reply past smtpd_soft_error_limit is held back."),
        P_COUNT(smtpd_unknown_recipient_tarpit, "5",
                "The harvest tarpit: after this many RCPTs in one session were refused as "
                "unknown users (550 5.1.1), every further reply to RCPT is held back for "
                "smtpd_tarpit_delay, so that guessing addresses is slow. Clients in "
                "trusted_networks or smtpd_client_event_limit_exceptions are exempt. 0: no "
                "tarpit."),
        P_COUNT(smtpd_unknown_recipient_limit, "20",
                "Unknown recipients (550 5.1.1) after which the session is closed with 421 "
                "4.7.0 (a directory-harvest attack). Exemptions as for "
                "smtpd_unknown_recipient_tarpit. 0: no limit."),
        P_TIME(smtpd_tarpit_delay, "2s",
               "How long each reply to RCPT is held back once the harvest tarpit is reached."),
        P_COUNT(smtpd_client_connection_count_limit, "50",
                "Sessions one client address may hold at once on the SMTP listeners; the next "
                "connection is answered 421 4.7.0 and closed, so that one address cannot take "
                "every session slot (smtpd_client_limit). Clients in trusted_networks or "
                "smtpd_client_event_limit_exceptions are exempt. 0: no limit."),
        P_COUNT(smtpd_client_connection_rate_limit, "0",
                "New connections one client address may open per minute (a sliding minute, "
                "counted in 6 buckets of 10 seconds); past it each is answered 421 4.7.0 and "
                "closed. Exemptions as for smtpd_client_connection_count_limit. 0: no limit."),
        P_LIST(smtpd_client_event_limit_exceptions, "127.0.0.0/8, [::1]/128",
               "Client networks exempt from the per-address connection limits, the error "
               "sleep and the harvest tarpit, beside trusted_networks (which always are), as "
               "Postfix's smtpd_client_event_limit_exceptions. The default exempts loopback: "
               "local software, tests and benchmarks. Set it empty to apply the limits to "
               "loopback clients too."),
        P_LIST(trusted_networks, "",
               "Client networks that may relay through the MTA listener without "
               "authenticating, as address/prefix entries (\"192.0.2.0/24, [2001:db8::]/32, "
               "127.0.0.0/8\"). Empty (the default): only authenticated clients relay. "
               "Relay tricks (%-hacks, bang paths, source routes, quoted '@') are refused "
               "for clients outside these networks."),
        P_LIST(tls_cert_file, "",
               "PEM files, each a certificate followed by its chain, for TLS on every listener. "
               "Several may be given (one RSA and one ECDSA, say): the handshake picks the one "
               "the client's offer suits. Each pairs with the tls_key_file at the same "
               "position. Empty: no TLS (STARTTLS is not offered; smtps_listen is refused). "
               "Read again on SIGHUP; sessions already under TLS keep theirs."),
        P_LIST(tls_key_file, "",
               "PEM private keys, one per tls_cert_file in the same order. smtpd reads them "
               "at start and on SIGHUP as smtpd_user, so they must be readable by it "
               "(mode 0640, group of that user) and by no one else."),
        P_TIME(tls_handshake_timeout, "60s",
               "How long a TLS handshake (after STARTTLS, or at connect on smtps_listen) may "
               "take; on expiry the session is closed and logged."),
        P_TIME(tls_ticket_rotation, "1h",
               "How often the TLS session-ticket key is replaced (the previous key still "
               "decrypts tickets for one more period), so clients resume without a full "
               "handshake while a stolen key opens little."),
        P_TIME(queue_retry_min, "300s",
               "The first retry interval after a temporary delivery failure; each further "
               "failure doubles it, up to queue_retry_max."),
        P_TIME(queue_retry_max, "4000s", "The longest interval between delivery attempts."),
        P_TIME(queue_lifetime, "5d",
               "How long a recipient may stay deferred before it is given up as failed."),
        P_TIME(delay_warning_time, "4h",
               "When a recipient is still deferred this long after the message arrived, the "
               "sender gets one delay warning (an RFC 3464 report, Action: delayed) unless "
               "its NOTIFY excludes DELAY. 0: never."),
        P_SIZE(bounce_size_limit, "50000",
               "The largest original message, in bytes, that a delivery status notification "
               "returns whole (as message/rfc822): a failure report does unless the sender "
               "asked for RET=HDRS, a success report only for RET=FULL. A larger message, a "
               "delay warning and a double bounce return only the header section "
               "(text/rfc822-headers). 0: always only the headers."),
        P_COUNT(queue_active_limit, "20000",
                "The most messages the queue holds in memory at once (the active set, as "
                "Postfix's qmgr_message_active_limit): those being delivered or due. A message "
                "whose recipients are all deferred to later leaves memory; the rest of the queue "
                "stays in the store and is read back through its due index, earliest first, as "
                "room frees. So memory does not grow with the queue and intake never waits for "
                "delivery. At least 1."),
        P_COUNT(queue_active_recipient_limit, "20000",
                "The most recipients of the messages in the active set (as Postfix's "
                "qmgr_message_recipient_limit); a message with more recipients than this is "
                "still taken when the set is empty."),
        P_SIZE(queue_db_cache, "16m", "The Berkeley DB cache of the queue environment, in bytes."),
        P_SIZE(queue_log_file_size, "64m",
               "The size of each Berkeley DB log file in queue_dir (at least 256k, at most 1g). "
               "When one fills, the next is created (zero-filled) and its name made durable "
               "with an fsync of queue_dir before anything is written to it; old files are "
               "removed at checkpoints. Larger files mean fewer switches; small ones exist for "
               "tests that need many switches."),
        P_STR(queue_store, "bdb",
              "Where the queue keeps messages: \"bdb\", the durable Berkeley DB environment in "
              "queue_dir; or \"memory\", which keeps them in the queue process only and loses "
              "them when it stops. \"memory\" exists to measure the protocol path alone in "
              "benchmarks; never use it for real mail."),
        P_MAILBOX(mailbox_format, "mbox",
                  "How local delivery stores mail: \"mbox\" appends to mail_spool_dir/USER "
                  "(fcntl lock and dotlock, From_ line, >From quoting); \"maildir\" writes one "
                  "file per message under maildir (tmp, fsync, rename to new)."),
        P_STR(mailbox_transport, "",
              "Where local users' mailboxes are, when not in mbox or Maildir files written by "
              "Tegami: \"lmtp:unix:/path\" or \"lmtp:inet:host:port\" (port 24 by default), "
              "an LMTP server such as Dovecot's (its lmtp listener, e.g. "
              "\"lmtp:unix:/run/dovecot/lmtp\"), as Postfix's mailbox_transport. Local "
              "delivery still expands aliases, .forward files and virtual_map entries and "
              "runs |program and /file targets; each mailbox it reaches is handed back to the "
              "queue as user@domain (the address as received when no alias was in between, so "
              "+detail reaches the LMTP server, else user@hostname) and delivered over LMTP by "
              "the remote agent, with one status per recipient from the server. The LMTP "
              "server must accept those addresses (Dovecot: auth_username_format = %Ln for "
              "system users). Empty: mailbox_format applies."),
        P_COUNT(local_concurrency, "10", "Deliveries local runs at once (one child process each)."),
        P_TIME(local_idle_time, "5s",
               "How long the process that delivered to a mailbox waits for the next batch for "
               "the same mailbox before it exits, so that a stream of mail for one user costs "
               "one process rather than one per batch. An idle process counts against "
               "local_concurrency (it is ended when another mailbox needs the slot) and is "
               "ended on SIGHUP. 0 makes a process per batch. Programs and files always get "
               "a process per batch."),
        P_COUNT(local_batch_delay_ms, "5",
                "Milliseconds a mailbox's next batch waits for company before it starts, once "
                "no batch for that mailbox is running: the messages that arrive meanwhile are "
                "appended with one lock and one fsync instead of one each, which at a few "
                "thousand messages a second halves local's CPU and the disk's sync load. A "
                "batch starts at once when local holds as many deliveries as the queue sends "
                "it at most (twice local_concurrency), since no more can come. Programs and "
                "files are not delayed. 0: each batch starts at once."),
        P_STR(recipient_delimiter, "+",
              "The character that separates a user name from a detail: user+detail@domain is "
              "accepted and delivered to user (with Delivered-To naming user+detail) unless an "
              "alias for user+detail exists, which wins. Empty turns details off."),
        P_LIST(virtual_domains, "",
               "Domains whose recipients are mapped by virtual_map (sendmail's virtual hosts). "
               "A recipient in one of them is accepted at RCPT only if the map has an entry "
               "for it (else 550 5.1.1) and is delivered to the entry's target."),
        P_STR(virtual_map, "",
              "sendmail's virtusertable as a map (\"hash:/etc/mail/virtusertable\", "
              "\"text:PATH\"). Keys are user+detail@domain, user+*@domain, user@domain and "
              "@domain, tried in that order; a value is a local user or alias, "
              "user@local-domain, an address elsewhere (handed to the queue, which routes it "
              "like any other recipient: to smtp for another domain) or error:code text. In a "
              "value, %1 is the user, %2 the detail "
              "and %3 \"+detail\"."),
        P_STR(default_user, "nobody",
              "The account |program and /file targets of the aliases file (and of :include: "
              "files owned by root) run as. Never root: a name with uid 0 is refused and such "
              "targets fail with 5.3.0. Targets from a .forward or an :include: file owned by "
              "a user run as that user."),
        P_PATH(smrsh_dir, TEGAMI_SYSCONFDIR "/tegami/smrsh",
               "The restricted program directory (sendmail's smrsh): a |program target runs "
               "only if its program's base name is an entry (usually a symbolic link) in this "
               "directory, and runs that entry, without a shell; arguments are split at white "
               "space and shell metacharacters are refused. An empty value allows any absolute "
               "program path (not recommended)."),
        P_TIME(program_timeout, "60s",
               "How long a |program delivery may run. On expiry it is killed and the delivery "
               "is deferred (4.3.0), its process group killed."),
        P_COUNT(max_hop_count, "100",
                "More Received headers than this mark a mail loop: the message is bounced with "
                "5.4.6 instead of delivered (sendmail's MaxHopCount)."),
        P_STR(smarthost, "",
              "Where mail for every domain outside local_domains goes (sendmail's SMART_HOST), "
              "unless mailertable routes the domain elsewhere. \"[host]:587\" is that host on "
              "the submission port with STARTTLS; \"[host]:465\" that host with TLS from the "
              "first byte; a name without brackets is looked up by MX. Empty: deliver to each "
              "domain's own MX hosts. Credentials for the smarthost come from authinfo. Read "
              "again on SIGHUP."),
        P_STR(mailertable, "",
              "A map (lib/map spec: \"hash:/etc/mail/mailertable\", \"text:PATH\") routing "
              "single domains, in sendmail's format: the key is a domain, or \".example.org\" "
              "for its subdomains; the value \"smtp:[host]:port\" (or \"esmtp:\", "
              "\"relay:\"), \"local:user\" (to a local user), \"lmtp:unix:/path\" or "
              "\"lmtp:inet:host:port\" (an LMTP server such as Dovecot's, for a domain of "
              "mailboxes that are not Unix accounts; port 24 when none is given) or "
              "\"error:code text\" (refuse, e.g. \"error:5.7.1 we do not deliver there\"). "
              "Empty: none."),
        P_STR(authinfo, "",
              "A map with the credentials the SMTP client uses, in sendmail's format: the key "
              "\"AuthInfo:host\" (the next hop's host name, or \"AuthInfo:\" for every "
              "host), the value \"U:user\" \"P:password\" \"M:PLAIN LOGIN\". AUTH is only "
              "sent once TLS is active. Empty: no AUTH."),
        P_LIST(dns_resolver, "",
               "The DNS servers the remote agent and smtpd (client names) ask, as \"address\" "
               "or \"address@port\" (they forward their queries to them). Empty: the servers "
               "in /etc/resolv.conf, and /etc/hosts."),
        P_STR(smtp_tls_security, "may",
              "TLS for outgoing SMTP: \"may\" sends STARTTLS whenever the server offers it "
              "and goes on in the clear otherwise (opportunistic, RFC 3207, no certificate "
              "check); \"encrypt\" requires TLS (else the mail is deferred, 4.7.4); "
              "\"verify\" requires TLS with a certificate valid for the host name; \"none\" "
              "never starts TLS."),
        P_COUNT(smtp_port, "25",
                "The TCP port the SMTP client connects to when the next hop names none (MX "
                "hosts, address literals), as Postfix's smtp_tcp_port. Change it only for tests."),
        P_STR(smtp_tls_policy, "",
              "A map (lib/map spec) of TLS levels per destination: the key is the next hop's "
              "domain or host (as in the mailertable, without brackets or port), the value "
              "one of the smtp_tls_security levels, which then applies instead (e.g. "
              "\"example.org verify\" requires a certificate valid for each of its MX hosts). "
              "A failure a required level causes defers the mail. Empty: none."),
        P_TIME(smtp_connect_timeout, "30s", "How long the SMTP client waits for a TCP connection."),
        P_TIME(smtp_connection_reuse_time, "5s",
               "How long a connection that delivered a message stays open for the next message to "
               "the same next hop (then QUIT). 0: one message per connection."),
        P_COUNT(smtp_destination_concurrency_limit, "20",
                "Deliveries to one next hop (a domain, or the smarthost) the queue runs at once, "
                "so that one slow or dead destination never holds up the others."),
        P_COUNT(smtp_destination_recipient_limit, "50",
                "The most recipients of one message the queue hands the SMTP client in one "
                "request, so in one mail transaction (as Postfix's "
                "smtp_destination_recipient_limit): a message with more recipients for one "
                "next hop is sent as several transactions of at most this many, each with its "
                "own replies, retries and log lines (RFC 5321 4.5.3.1.8 lets a server refuse "
                "past 100). 0: no limit."),
        P_COUNT(smtp_concurrency_limit, "100",
                "Remote deliveries the queue runs at once, over all destinations."),
        P_TIME(lmtp_timeout, "300s",
               "The longest the LMTP client (in the remote agent) waits for any one reply of an "
               "LMTP server, including each recipient's reply after the end of data. A server "
               "that does not answer in time is given up on for this attempt: every recipient "
               "not yet answered is deferred with 4.4.2 and tried again later."),
        P_TIME(lmtp_connection_reuse_time, "10s",
               "How long an LMTP connection that delivered a message stays open for the next "
               "message to the same LMTP destination (then QUIT). 0: one message per "
               "connection."),
        P_COUNT(lmtp_destination_recipient_limit, "50",
                "The most recipients of one message the queue hands the LMTP client in one "
                "request, so in one LMTP transaction (as Postfix's "
                "lmtp_destination_recipient_limit; the same split as "
                "smtp_destination_recipient_limit, for lmtp next hops: mailbox_transport and "
                "mailertable lmtp: routes): a message with more recipients for one LMTP "
                "destination is sent as several transactions of at most this many, each with "
                "its own per-recipient replies, retries and log lines. 0: no limit."),
    };
    return table;
}

}  // namespace tegami
