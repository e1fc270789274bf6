#!/bin/bash
# relay.sh - the relay case of `make bench` (issue 14 item 6): smtp-source sends MESSAGES
# messages to the server, which relays every one to Postfix's smtp-sink on loopback;
# the figure is messages per second end to end (from the first connection until the sink
# has them all). Tegami (smarthost = the sink, trusted_networks = loopback) and Postfix
# (relayhost = the sink, mynetworks = loopback), both with their durable defaults (a
# message is on stable storage before its 250), in the same run, for BENCH_SIZE-byte
# messages and then for 100 KiB ones. Prints
#   relay ratio tegami/postfix: X.XX
#   relay 100k ratio tegami/postfix: X.XX
# Postfix comes from the Debian package, extracted with dpkg -x under BENCH_WORK
# (tests/bench/lib.sh, as for bench.sh; fetched with apt-get download when missing), never
# installed; it needs root. Called by tests/bench/bench.sh, or alone.
#
# Env: BENCH_WORK (./bench-work), BENCH_RELAY_MESSAGES (5000), BENCH_RELAY_BIG_MESSAGES
# (1000), BENCH_SESSIONS (20), BENCH_SIZE (1024), TEGAMI_BIN, BENCH_RUN_TIMEOUT (300 s per
# run), BENCH_STALL_TIMEOUT (30 s without progress at the sink), BENCH_RELAY_ONLY
# (tegami: skip the Postfix runs, for quick A/B runs of two builds). After each Tegami run
# it prints the CPU time per message of each Tegami process kind (utime+stime from
# /proc, summed over its processes). Exit 0 when every run
# delivered everything, 1 otherwise, 77 when it cannot run (not root, no package).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
WORK=${BENCH_WORK:-$top/bench-work}
N=${BENCH_RELAY_MESSAGES:-5000}
NBIG=${BENCH_RELAY_BIG_MESSAGES:-1000}
SESSIONS=${BENCH_SESSIONS:-20}
SIZE=${BENCH_SIZE:-1024}
BINDIR=${TEGAMI_BIN:-$top/build/bin}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
STALL=${BENCH_STALL_TIMEOUT:-30}
ONLY=${BENCH_RELAY_ONLY:-}
R=$WORK/relay
PF_TAG=relay
PF_LOGDIR=$R
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
bt() { python3 "$here/benchtool.py" "$@"; }
say() { echo "$@"; }
for n in "$N" "$NBIG" "$SESSIONS" "$SIZE"; do
  case $n in '' | *[!0-9]* | 0) echo "relay.sh: counts must be positive numbers" >&2; exit 64 ;; esac
done
[ "$(id -u)" = 0 ] || { say "relay: skipped (Postfix needs root)"; exit 77; }
postfix_fetch >/dev/null || { say "relay: skipped (apt-get download postfix failed)"; exit 77; }
postfix_accounts
rm -rf "$R"
mkdir -p "$R"
chmod 755 "$R"

SINK_PID="" TG_PID=""
SINK_PORT=$(bt free-port 28000)
TG_PORT=$(bt free-port $((SINK_PORT + 1)))
PF_PORT=$(bt free-port $((TG_PORT + 1)))

cleanup() {
  [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
  [ -n "$PFI" ] && [ -d "$PFI/etc" ] && postfix_cmd stop >/dev/null 2>&1
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  TG_PID="" SINK_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_sink() {  # a fresh sink (its counter starts at 0)
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  : >"$R/sink.out"
  LD_LIBRARY_PATH=$PF_LIB "$SMTP_SINK" -u nobody -c "127.0.0.1:$SINK_PORT" 256 \
    >"$R/sink.out" 2>&1 &
  SINK_PID=$!
  bt wait-banner "$SINK_PORT" 10 >/dev/null || { say "relay: smtp-sink does not answer"; exit 1; }
}

sink_count() {
  tr '\r' '\n' <"$R/sink.out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1
}

# measure NAME PORT COUNT BYTES -> RATE (msg/s end to end; empty when it failed)
measure() {
  local name=$1 port=$2 n=$3 bytes=$4 t0 t1 got=0 last=0 idle=0 deadline
  RATE=""
  start_sink
  t0=$(bt now)
  LD_LIBRARY_PATH=$PF_LIB timeout -k 5 "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$SESSIONS" \
    -m "$n" -l "$bytes" -f bench@localhost -t user@relay.example -M localhost \
    "127.0.0.1:$port" >"$R/source-$name.log" 2>&1 ||
    { say "  $name: smtp-source failed: $(tail -1 "$R/source-$name.log")"; return 1; }
  deadline=$(($(date +%s) + RUN_TIMEOUT))
  while :; do
    got=$(sink_count)
    got=${got:-0}
    [ "$got" -ge "$n" ] && break
    if [ "$got" = "$last" ]; then idle=$((idle + 1)); else idle=0; last=$got; fi
    if [ "$idle" -ge $((STALL * 20)) ] || [ "$(date +%s)" -ge "$deadline" ]; then
      say "  $name: the sink has $got of $n messages: FAILED"
      return 1
    fi
    sleep 0.05
  done
  t1=$(bt now)
  RATE=$(python3 -c "print('%.0f' % ($n / ($t1 - $t0)))")
  say "  $name: $n messages of $bytes bytes relayed in $(python3 -c "print('%.2f' % ($t1 - $t0))") s" \
    "= $RATE msg/s end to end"
}

start_tegami() {
  rm -rf "$R/tegami"
  "$top/scripts/mkconf.sh" "$R/tegami" "$TG_PORT" "$BINDIR" "smarthost=[127.0.0.1]:$SINK_PORT" \
    "trusted_networks=127.0.0.0/8" >/dev/null
  "$BINDIR/tegami-master" -c "$R/tegami/tegami.conf" -f >"$R/tegami/master.log" 2>&1 &
  TG_PID=$!
  bt wait-banner "$TG_PORT" 30 >/dev/null ||
    { say "relay: tegami does not answer: $(tail -3 "$R/tegami/master.log")"; exit 1; }
}

# cpu_ticks: "name ticks" per Tegami process kind under the master (utime+stime).
cpu_ticks() {
  local p
  for p in $TG_PID $(pgrep -P "$TG_PID" 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the parenthesised name: 14 utime, 15 stime (man 5 proc).
    sed 's/^[0-9]* (\([^)]*\)) /\1 /' "/proc/$p/stat" | awk '{print $1, $13 + $14}'
  done | awk '{t[$1] += $2} END {for (k in t) print k, t[k]}' | sort
}

# cpu_report BEFORE AFTER N: CPU ms per message of each process kind.
cpu_report() {
  local hz
  hz=$(getconf CLK_TCK)
  join <(echo "$1") <(echo "$2") | awk -v n="$3" -v hz="$hz" \
    '{printf "    cpu %-14s %.3f ms/msg\n", $1, ($3 - $2) * 1000 / hz / n}'
}

stop_tegami() {
  kill -TERM "$TG_PID" 2>/dev/null
  wait "$TG_PID" 2>/dev/null
  TG_PID=""
}

# lib.sh's defaults with everything relayed to the sink and no local domain.
setup_postfix() {
  postfix_instance "$R/postfix" "$PF_PORT" "myhostname = relay.localdomain" "mydestination =" \
    "relayhost = [127.0.0.1]:$SINK_PORT" "smtp_tls_security_level = none" &&
    postfix_check || exit 1
}

start_postfix() {
  postfix_start || exit 1
  postfix_wait 30 >/dev/null || { say "relay: postfix does not answer"; exit 1; }
}

ratio() {  # ratio TG PF
  if [ -n "$1" ] && [ -n "$2" ]; then python3 -c "print('%.2f' % ($1 / $2))"; else echo "n/a"; fi
}

setup_postfix
ok=1
for kind in small big; do
  if [ "$kind" = small ]; then n=$N bytes=$SIZE label="relay"; else n=$NBIG bytes=102400 label="relay 100k"; fi
  start_tegami
  before=$(cpu_ticks)
  measure "tegami-$kind" "$TG_PORT" "$n" "$bytes" || ok=0
  tg=$RATE
  cpu_report "$before" "$(cpu_ticks)" "$n"
  stop_tegami
  [ "$ONLY" = tegami ] && continue
  start_postfix
  measure "postfix-$kind" "$PF_PORT" "$n" "$bytes" || ok=0
  pf=$RATE
  postfix_stop
  sleep 1
  say "$label ratio tegami/postfix: $(ratio "$tg" "$pf")"
done
[ "$ok" = 1 ]
