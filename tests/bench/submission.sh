#!/bin/bash
# submission.sh - the submission case of `make bench` (called by tests/bench/bench.sh):
# the same load against Tegami's MSA and Postfix's submission listener, each on
# 127.0.0.1 with STARTTLS required and AUTH PLAIN (Tegami: tegami-auth's built-in store;
# Postfix: Cyrus SASL with a sasldb, the Debian packages), a new connection per message
# as a mail client submits, both durable (their defaults), delivering to one local
# mailbox. Prints each server's rate, "submission ratio tegami/postfix: X.XX", and the
# memory per idle TLS session (PSS growth of the whole process tree with SUB_IDLE
# sessions through STARTTLS, divided by the sessions).
#
# Postfix comes from the Debian package, extracted with apt-get download + dpkg -x into
# $WORK/postfix-pkg (shared with bench.sh) and never installed; it needs root.
# Env: SUB_MESSAGES=1000 SUB_SESSIONS=8 SUB_SIZE=2000 SUB_IDLE=100, BENCH_WORK
# (default bench-work at the top of the tree), TEGAMI_BIN. Exit 1 when a server could not be measured.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
BIN=${TEGAMI_BIN:-$top/build/bin}
WORK=$(mkdir -p "${BENCH_WORK:-$top/bench-work}" && cd "${BENCH_WORK:-$top/bench-work}" && pwd)
MESSAGES=${SUB_MESSAGES:-1000}
SESSIONS=${SUB_SESSIONS:-8}
SIZE=${SUB_SIZE:-2000}
IDLE=${SUB_IDLE:-100}
PASSWORD=bench-Submission-pw
TOOL="python3 $here/submission_tool.py"
SANDBOX="python3 $top/tests/interop/tegami_sandbox.py"
SW=$WORK/submission
LOG=$SW/logs
PFX=$WORK/postfix-pkg
PF_LIB=$PFX/usr/lib/postfix
PFI=$SW/postfix
TG_MASTER=""
say() { echo "$@"; }
[ "$(id -u)" = 0 ] || { say "submission: needs root (Postfix's master, the daemons' accounts)"; exit 1; }
for v in MESSAGES SESSIONS SIZE IDLE; do
  case ${!v} in ''|*[!0-9]*) say "submission: SUB_$v must be a number"; exit 1 ;; esac
done
rm -rf "$SW"
mkdir -p "$LOG"
chmod 755 "$WORK" "$SW"

pf() { LD_LIBRARY_PATH=$PF_LIB "$PFX/usr/sbin/postfix" -c "$PFI/etc" "$@"; }
pf_pid() { tr -d ' \n' < "$PFI/spool/pid/master.pid" 2>/dev/null; }
cleanup() {
  [ -d "$PFI/etc" ] && pf stop >/dev/null 2>&1
  if [ -n "$TG_MASTER" ] && kill -0 "$TG_MASTER" 2>/dev/null; then
    kill -TERM "$TG_MASTER"
    for _ in $(seq 1 150); do kill -0 "$TG_MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$TG_MASTER" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- accounts, certificate, the Postfix package
sh "$top/scripts/accounts.sh" >/dev/null 2>&1
getent group postdrop >/dev/null || groupadd --system postdrop
for u in postfix tgbench; do
  getent passwd "$u" >/dev/null ||
    useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$u"
done
timeout 60 openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey ec \
  -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$SW/key.pem" -out "$SW/cert.pem" \
  >/dev/null 2>&1 || { say "submission: openssl req failed"; exit 1; }
chmod 644 "$SW/key.pem"
if ! [ -x "$PF_LIB/sbin/smtpd" ]; then
  mkdir -p "$WORK/dl"
  ( cd "$WORK/dl" && rm -f postfix_*.deb && timeout 300 apt-get -q download postfix ) \
    >"$LOG/apt.log" 2>&1 || { say "submission: apt-get download postfix failed"; exit 1; }
  rm -rf "$PFX.tmp" && dpkg -x "$WORK"/dl/postfix_*.deb "$PFX.tmp" && rm -rf "$PFX" &&
    mv "$PFX.tmp" "$PFX"
fi
command -v saslpasswd2 >/dev/null || { say "submission: saslpasswd2 missing (sasl2-bin)"; exit 1; }

# ---- Tegami: the MSA with TLS and AUTH, queue_store bdb (durable), local delivery
TG_DIR=$SW/tegami
TG_PORT=$($SANDBOX freeport); TG_MSA=$($SANDBOX freeport)
mkdir -p "$TG_DIR" && chmod 755 "$TG_DIR"
printf 'postmaster: root\n' > "$TG_DIR/aliases"
sh "$top/scripts/mkconf.sh" "$TG_DIR" "$TG_PORT" "$BIN" "msa_listen=127.0.0.1:$TG_MSA" \
  "tls_cert_file=$SW/cert.pem" "tls_key_file=$SW/key.pem" >/dev/null
printf '%s\n' "$PASSWORD" | "$BIN/tegami-passwd" -c "$TG_DIR/tegami.conf" add benchuser \
  >"$LOG/tegami-passwd.log" 2>&1 || { say "submission: tegami-passwd failed"; exit 1; }

# ---- Postfix: the submission listener, TLS required, Cyrus SASL with a sasldb
PF_PORT=$($SANDBOX freeport)
mkdir -p "$PFI/etc/sasl" "$PFI/meta" "$PFI/spool" "$PFI/data" "$PFI/mail"
cp "$PFX/etc/postfix/postfix-files" "$PFI/meta/"
: > "$PFI/meta/dynamicmaps.cf"
chown postfix "$PFI/data"; chmod 700 "$PFI/data"
chgrp mail "$PFI/mail"; chmod 2775 "$PFI/mail"
chgrp postdrop "$PFX/usr/sbin/postqueue" "$PFX/usr/sbin/postdrop"
chmod 2755 "$PFX/usr/sbin/postqueue" "$PFX/usr/sbin/postdrop"
printf '%s' "$PASSWORD" | saslpasswd2 -p -c -f "$PFI/etc/sasl/sasldb2" -u bench.test benchuser ||
  { say "submission: saslpasswd2 failed"; exit 1; }
chown postfix "$PFI/etc/sasl/sasldb2"; chmod 600 "$PFI/etc/sasl/sasldb2"
# Debian's Postfix reads the Cyrus configuration from $PFI/etc/sasl/smtpd.conf.
cat > "$PFI/etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PFI/etc/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
cat > "$PFI/etc/main.cf" <<EOF
# Postfix submission instance for tests/bench/submission.sh.
compatibility_level = 3.6
queue_directory = $PFI/spool
data_directory = $PFI/data
meta_directory = $PFI/meta
command_directory = $PFX/usr/sbin
daemon_directory = $PF_LIB/sbin
shlib_directory = $PF_LIB
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$PF_LIB
maillog_file_prefixes = $PFI
maillog_file = $PFI/maillog
myhostname = localhost.localdomain
mydomain = localdomain
mydestination = localhost, localhost.localdomain
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
mail_spool_directory = $PFI/mail
mailbox_size_limit = 0
default_process_limit = 1200
biff = no
smtpd_tls_cert_file = $SW/cert.pem
smtpd_tls_key_file = $SW/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $PFI/etc/sasl
smtpd_sasl_local_domain = bench.test
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
EOF
cat > "$PFI/etc/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
local     unix  - n n -     - local
virtual   unix  - n n -     - virtual
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
pf check >"$LOG/postfix-check.log" 2>&1 || { say "submission: postfix check failed"; cat "$LOG/postfix-check.log"; exit 1; }

# ---- helpers
greets() {  # PORT: waits up to 20 s for a 220
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$1),2); sys.exit(0 if s.recv(3)==b'220' else 1)" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
start_tegami() {
  setsid "$BIN/tegami-master" -c "$TG_DIR/tegami.conf" -f </dev/null >>"$TG_DIR/master.log" 2>&1 &
  TG_MASTER=$!
  greets "$TG_MSA"
}
stop_tegami() {
  kill -TERM "$TG_MASTER" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$TG_MASTER" 2>/dev/null || break; sleep 0.1; done
  TG_MASTER=""
}
start_postfix() {
  timeout 120 env LD_LIBRARY_PATH="$PF_LIB" "$PFX/usr/sbin/postfix" -c "$PFI/etc" start \
    >>"$LOG/postfix-start.log" 2>&1 && greets "$PF_PORT"
}
stop_postfix() { pf stop >>"$LOG/postfix-start.log" 2>&1; sleep 1; }
# mem NAME PORT ROOTPID -> KiB per idle TLS session
mem() {
  local before after ready=$SW/idle-ready.$1 held idler
  # A few sessions first, so that what every first TLS session allocates once (the
  # context's caches, libraries paged in) is not counted per session.
  $TOOL idle "$2" 5 "$ready.warm" 0 >/dev/null 2>&1
  sleep 2
  before=$($TOOL pss "$3")
  rm -f "$ready"
  $TOOL idle "$2" "$IDLE" "$ready" 60 &
  idler=$!
  for _ in $(seq 1 600); do [ -f "$ready" ] && break; sleep 0.1; done
  sleep 1
  after=$($TOOL pss "$3")
  held=$(cut -d' ' -f1 "$ready" 2>/dev/null)
  kill "$idler" 2>/dev/null; wait "$idler" 2>/dev/null
  if [ -n "$held" ] && [ "$held" -gt 0 ]; then echo $(( (after - before) / held )); fi
}
# rate NAME PORT -> messages/second
rate() {
  local out n secs
  out=$($TOOL load "$2" benchuser "$PASSWORD" tgbench@localhost "$MESSAGES" "$SESSIONS" "$SIZE" \
        2>>"$LOG/$1-load.log")
  n=${out% *}; secs=${out#* }
  [ "${n:-0}" -gt 0 ] || return 0
  [ "$n" = "$MESSAGES" ] || echo "  $1: only $n of $MESSAGES messages accepted (see $LOG/$1-load.log)" >&2
  python3 -c "print('%.1f' % ($n / $secs))"
}

say "submission: $MESSAGES messages of $SIZE bytes, $SESSIONS sessions, a new connection per" \
    "message with STARTTLS and AUTH PLAIN; $IDLE idle TLS sessions"
TG_RATE=""; PF_RATE=""; TG_MEM=""; PF_MEM=""
if start_tegami; then
  TG_MEM=$(mem tegami "$TG_MSA" "$TG_MASTER")
  TG_RATE=$(rate tegami "$TG_MSA")
  stop_tegami
else
  say "  tegami: did not start (see $TG_DIR/master.log)"
fi
if start_postfix; then
  PF_MEM=$(mem postfix "$PF_PORT" "$(pf_pid)")
  PF_RATE=$(rate postfix "$PF_PORT")
  stop_postfix
else
  say "  postfix: did not start (see $PFI/maillog)"
fi
say "  tegami:  ${TG_RATE:-?} msg/s, ${TG_MEM:-?} KiB/idle TLS session"
say "  postfix: ${PF_RATE:-?} msg/s, ${PF_MEM:-?} KiB/idle TLS session"
if [ -n "$TG_RATE" ] && [ -n "$PF_RATE" ]; then
  python3 -c "print('submission ratio tegami/postfix: %.2f' % ($TG_RATE / $PF_RATE))"
  say "memory per idle TLS session: tegami ${TG_MEM:-?} KiB, postfix ${PF_MEM:-?} KiB"
  exit 0
fi
say "submission ratio tegami/postfix: not measured"
exit 1
