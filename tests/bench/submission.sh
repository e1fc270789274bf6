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
# $WORK/postfix-pkg (shared with bench.sh; tests/bench/lib.sh) and never installed; it needs root.
# The load is build/tests/submission-load (tests/bench/submission_load.cpp, built here
# if missing): SUB_SESSIONS threads, each connection EHLO, STARTTLS, EHLO, AUTH PLAIN,
# SUB_PER messages, QUIT; SUB_RESUME=1 offers the previous connection's TLS session.
# CPU per message is the CPU time (user + system, reaped children included) of each
# server's whole process tree over the load, divided by the accepted messages.
# Env: SUB_MESSAGES=1000 SUB_SESSIONS=8 SUB_SIZE=2000 SUB_IDLE=100 SUB_PER=1 SUB_RESUME=0,
# BENCH_WORK (default bench-work at the top of the tree), TEGAMI_BIN. Exit 1 when a server
# could not be measured.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
BIN=${TEGAMI_BIN:-$top/build/bin}
WORK=$(mkdir -p "${BENCH_WORK:-$top/bench-work}" && cd "${BENCH_WORK:-$top/bench-work}" && pwd)
MESSAGES=${SUB_MESSAGES:-1000}
SESSIONS=${SUB_SESSIONS:-8}
SIZE=${SUB_SIZE:-2000}
IDLE=${SUB_IDLE:-100}
PER=${SUB_PER:-1}
RESUME=${SUB_RESUME:-0}
LOAD=$top/build/tests/submission-load
PASSWORD=bench-Submission-pw
TOOL="python3 $here/submission_tool.py"
SANDBOX="python3 $top/tests/interop/tegami_sandbox.py"
SW=$WORK/submission
LOG=$SW/logs
PF_TAG=submission
PF_LOGDIR=$LOG
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
TG_MASTER=""
say() { echo "$@"; }
[ "$(id -u)" = 0 ] || { say "submission: needs root (Postfix's master, the daemons' accounts)"; exit 1; }
for v in MESSAGES SESSIONS SIZE IDLE PER RESUME; do
  case ${!v} in ''|*[!0-9]*) say "submission: SUB_$v must be a number"; exit 1 ;; esac
done
rm -rf "$SW"
mkdir -p "$LOG"
chmod 755 "$WORK" "$SW"
[ -x "$LOAD" ] || (cd "$top" && make -s -j2 build/tests/submission-load) ||
  { say "submission: cannot build build/tests/submission-load"; exit 1; }

cleanup() {
  [ -n "$PFI" ] && [ -d "$PFI/etc" ] && postfix_cmd stop >/dev/null 2>&1
  if [ -n "$TG_MASTER" ] && kill -0 "$TG_MASTER" 2>/dev/null; then
    kill -TERM "$TG_MASTER"
    for _ in $(seq 1 150); do kill -0 "$TG_MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$TG_MASTER" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- accounts, certificate, the Postfix package
postfix_accounts
timeout 60 openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey ec \
  -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$SW/key.pem" -out "$SW/cert.pem" \
  >/dev/null 2>&1 || { say "submission: openssl req failed"; exit 1; }
chmod 644 "$SW/key.pem"
postfix_fetch || exit 1
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
postfix_instance "$SW/postfix" "$PF_PORT" "mynetworks = 127.0.0.1/32" \
  "smtpd_tls_cert_file = $SW/cert.pem" "smtpd_tls_key_file = $SW/key.pem" \
  "smtpd_tls_security_level = encrypt" "smtpd_tls_auth_only = yes" \
  "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" "smtpd_sasl_path = smtpd" \
  "cyrus_sasl_config_path = $SW/postfix/etc/sasl" "smtpd_sasl_local_domain = bench.test" \
  "smtpd_relay_restrictions = permit_sasl_authenticated, reject" \
  "smtpd_recipient_restrictions = permit_sasl_authenticated, reject" || exit 1
mkdir -p "$PFI/etc/sasl"
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
postfix_check || exit 1

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
start_postfix() { postfix_start && postfix_wait 20; }
stop_postfix() { postfix_stop; sleep 1; }
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
# rate NAME PORT ROOTPID -> "messages/second CPU-ms/message resumed-connections"
rate() {
  local out n secs resumed cpu0 cpu1 flags=""
  [ "$RESUME" = 1 ] && flags=--resume
  cpu0=$($TOOL cpu "$3")
  out=$("$LOAD" $flags "$2" benchuser "$PASSWORD" tgbench@localhost "$MESSAGES" "$SESSIONS" \
        "$SIZE" "$PER" 2>>"$LOG/$1-load.log")
  cpu1=$($TOOL cpu "$3")
  read -r n secs resumed <<<"$out"
  [ "${n:-0}" -gt 0 ] || return 0
  [ "$n" = "$MESSAGES" ] || echo "  $1: only $n of $MESSAGES messages accepted (see $LOG/$1-load.log)" >&2
  python3 -c "print('%.1f %.2f %s' % ($n / $secs, ($cpu1 - $cpu0) * 1000 / $n, '$resumed'))"
}

say "submission: $MESSAGES messages of $SIZE bytes, $SESSIONS sessions, $PER message(s) per" \
    "connection with STARTTLS and AUTH PLAIN (TLS resumption: $RESUME); $IDLE idle TLS sessions"
TG_RATE=""; PF_RATE=""; TG_MEM=""; PF_MEM=""; TG_CPU=""; PF_CPU=""; TG_RES=""; PF_RES=""
if start_tegami; then
  TG_MEM=$(mem tegami "$TG_MSA" "$TG_MASTER")
  read -r TG_RATE TG_CPU TG_RES <<<"$(rate tegami "$TG_MSA" "$TG_MASTER")"
  stop_tegami
else
  say "  tegami: did not start (see $TG_DIR/master.log)"
fi
if start_postfix; then
  PF_MEM=$(mem postfix "$PF_PORT" "$(postfix_master_pid)")
  read -r PF_RATE PF_CPU PF_RES <<<"$(rate postfix "$PF_PORT" "$(postfix_master_pid)")"
  stop_postfix
else
  say "  postfix: did not start (see $PFI/maillog)"
fi
say "  tegami:  ${TG_RATE:-?} msg/s, ${TG_CPU:-?} ms CPU/msg, ${TG_MEM:-?} KiB/idle TLS session, ${TG_RES:-0} resumed"
say "  postfix: ${PF_RATE:-?} msg/s, ${PF_CPU:-?} ms CPU/msg, ${PF_MEM:-?} KiB/idle TLS session, ${PF_RES:-0} resumed"
if [ -n "$TG_RATE" ] && [ -n "$PF_RATE" ]; then
  python3 -c "print('submission ratio tegami/postfix: %.2f' % ($TG_RATE / $PF_RATE))"
  say "memory per idle TLS session: tegami ${TG_MEM:-?} KiB, postfix ${PF_MEM:-?} KiB"
  exit 0
fi
say "submission ratio tegami/postfix: not measured"
exit 1
