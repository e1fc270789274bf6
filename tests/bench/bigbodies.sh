#!/bin/bash
# bigbodies.sh - the big-bodies case of `make bench` (issue 12 item 3): CLIENTS clients at
# once each send one message of SIZE octets (a MIME message with a base64 attachment,
# every line 78 octets; benchtool.py big-bodies): all connect and reach DATA's 354, wait
# at a barrier, then all stream their body, and every one must be answered 250 (a 4xx
# or 5xx is a failure of the run, printed). Measured, on a freshly started server: the
# VmHWM (peak resident set, /proc/PID/status) of each process at the end, summed by kind,
# the sum of all of them (which overstates: the peaks are not simultaneous), and the peak
# of the summed VmRSS sampled every 50 ms (benchtool.py rss-watch) from before the first
# connection until the last message is in the mbox. Kernel socket buffers and the page
# cache are not in any of them; what a process holds in its own buffers is.
# Prints
#   big bodies: 200 x 10 MB, peak RSS smtpd X MiB, queue Y MiB, suite Z MiB (sum of peaks W MiB), N/200 accepted in T s
# then each process kind's peak, and the same for Postfix (its smtpd and cleanup are one
# process per connection: their peaks are summed) unless BENCH_BIGBODY_POSTFIX=0. The goal
# is a Tegami suite under 256 MiB.
#
# Tegami and Postfix both run with their defaults (message_size_limit 10240000 on both,
# a durable queue) on 127.0.0.1, delivering into one local mbox. Postfix comes from the
# Debian package (tests/bench/lib.sh), never installed, and needs root (a message it
# accepts but defers, as its local may under this load, is reported, not failed); without root
# Tegami is measured alone, delivering to the caller's mbox. Needs about 2 x CLIENTS x
# SIZE octets free in the work directory (queue + mbox; a server's sandbox is removed
# once it is measured).
#
# Env: BENCH_BIGBODY_CLIENTS (200), BENCH_BIGBODY_SIZE (10000000), BENCH_BIGBODY_TIMEOUT
# (120 s for the clients; as long again for delivery), BENCH_BIGBODY_POSTFIX (1),
# BENCH_WORK (./bench-work), TEGAMI_BIN (build/bin), BENCH_PORT_BIG (3725).
# Called by tests/bench/bench.sh (BENCH_BIG=0 skips it there), or alone. Exit 0 when
# every message was accepted and delivered on every server measured, 1 otherwise, 77
# when it cannot run (not enough disk).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
WORK=$(mkdir -p "${BENCH_WORK:-$top/bench-work}" && cd "${BENCH_WORK:-$top/bench-work}" && pwd)
BINDIR=${TEGAMI_BIN:-$top/build/bin}
CLIENTS=${BENCH_BIGBODY_CLIENTS:-200}
SIZE=${BENCH_BIGBODY_SIZE:-10000000}
TIMEOUT=${BENCH_BIGBODY_TIMEOUT:-120}
WITH_POSTFIX=${BENCH_BIGBODY_POSTFIX:-1}
B=$WORK/bigbodies
export PF_TAG="big bodies"
PF_LOGDIR=$B/logs
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
bt() { python3 "$here/benchtool.py" "$@"; }
say() { echo "$@"; }
mib() { awk "BEGIN { printf \"%.1f\", $1 / 1024 }"; }
for v in CLIENTS SIZE TIMEOUT WITH_POSTFIX; do
  case ${!v} in '' | *[!0-9]*) echo "bigbodies.sh: BENCH_BIGBODY_$v must be a number" >&2; exit 64 ;; esac
done
[ "$CLIENTS" -ge 1 ] || { echo "bigbodies.sh: BENCH_BIGBODY_CLIENTS must be at least 1" >&2; exit 64; }
rm -rf "$B"
mkdir -p "$PF_LOGDIR"
chmod 755 "$WORK" "$B"
need=$((CLIENTS * SIZE * 2 / 1024 + 262144)) # KiB: queue + mbox, and 256 MiB to spare
avail=$(df -Pk "$B" | awk 'NR == 2 { print $4 }')
[ "${avail:-0}" -ge "$need" ] ||
  { say "big bodies: skipped: $((need / 1024)) MiB free needed in $B, $((${avail:-0} / 1024)) MiB there"; exit 77; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

is_root=0
[ "$(id -u)" = 0 ] && is_root=1
BUSER=$(id -un)
if [ "$is_root" = 1 ]; then
  postfix_accounts
  BUSER=tgbench
fi
[ "$is_root" = 1 ] || WITH_POSTFIX=0
if [ "$WITH_POSTFIX" = 1 ] && ! postfix_fetch >/dev/null; then
  say "big bodies: postfix not measured (apt-get download postfix failed)"
  WITH_POSTFIX=0
fi

WATCH_PID="" PF_UP=0
cleanup() {
  [ -n "$WATCH_PID" ] && kill -TERM "$WATCH_PID" 2>/dev/null
  tegami_stop
  [ "$PF_UP" = 1 ] && postfix_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# measure NAME HANDLE PORT MBOX: the clients against a freshly started server ->
# M_OK M_FAIL M_SECS M_DELIVERED M_DSECS and the rss-watch report in $B/rss-NAME
measure() {
  local name=$1 handle=$2 port=$3 mbox=$4 t0 out rc=0
  rm -f "$mbox" "$B/rss-$name"
  python3 "$here/benchtool.py" rss-watch "$handle" "$B/rss-$name" $((TIMEOUT * 2 + 60)) &
  WATCH_PID=$!
  t0=$(bt now)
  out=$(timeout -k 5 $((TIMEOUT + 10)) python3 "$here/benchtool.py" big-bodies "$port" "$CLIENTS" \
    "$SIZE" bench@localhost "$BUSER@localhost" "$TIMEOUT" 2>"$PF_LOGDIR/load-$name.log") || rc=$?
  read -r M_OK M_FAIL M_SECS <<<"$out"
  M_OK=${M_OK:-0} M_FAIL=${M_FAIL:-$CLIENTS} M_SECS=${M_SECS:-?}
  [ "$rc" = 0 ] || sed "s/^/  $name: /" "$PF_LOGDIR/load-$name.log" | head -5
  M_DELIVERED=$(bt wait-mbox "$mbox" "$M_OK" "$TIMEOUT" 30)
  M_DSECS=$(awk "BEGIN { printf \"%.1f\", $(bt now) - $t0 }")
  kill -TERM "$WATCH_PID" 2>/dev/null
  wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=""
}

# rss NAME KEY... -> the report's value for "peak-rss-sum", "hwm-sum" or "kind K" (KiB)
rss() {
  local f=$B/rss-$1
  shift
  awk -v k="$*" '{ key = ($1 == "kind") ? $1 " " $2 : $1; v = ($1 == "kind") ? $3 : $2 }
    key == k { print v; found = 1 } END { if (!found) print 0 }' "$f" 2>/dev/null
}

# kinds NAME: "kind peak MiB (N processes)" for every kind, in one line
kinds() {
  awk '$1 == "kind" { printf "%s%s %.1f%s", sep, $2, $3 / 1024, ($4 > 1) ? " (" $4 " processes)" : ""; sep = ", " }' \
    "$B/rss-$1" 2>/dev/null
}

# at_peak NAME: what the summed RSS was made of at its peak (rss-watch's at-peak lines)
at_peak() {
  awk '$1 == "at-peak" { a += $4; f += $5; s += $6 }
    END { printf "%.1f MiB anonymous (heap, stacks), %.1f MiB mapped files (libraries, bodies), %.1f MiB shared memory", a / 1024, f / 1024, s / 1024 }' \
    "$B/rss-$1" 2>/dev/null
}

# report NAME LABEL SMTPD-KIND QUEUE-KIND STRICT: the summary line and the per-kind line;
# STRICT 1: a message accepted but not delivered within the wait fails the run (Postfix
# may defer one under this load: its local gives up on a mailbox lock held too long)
report() {
  local name=$1 label=$2 ok=0
  [ -f "$B/rss-$name" ] || { say "big bodies$label: not measured (no RSS samples)"; return 1; }
  say "big bodies$label: $CLIENTS x $(awk "BEGIN { printf \"%g\", $SIZE / 1e6 }") MB," \
    "peak RSS smtpd $(mib "$(rss "$name" kind "$3")") MiB, queue $(mib "$(rss "$name" kind "$4")") MiB," \
    "suite $(mib "$(rss "$name" peak-rss-sum)") MiB (sum of peaks $(mib "$(rss "$name" hwm-sum)") MiB)," \
    "$M_OK/$CLIENTS accepted in $M_SECS s"
  say "  $name peaks (VmHWM, MiB): $(kinds "$name"); delivered $M_DELIVERED/$M_OK after $M_DSECS s"
  say "  $name at the peak of the sum: $(at_peak "$name")"
  [ "$M_OK" = "$CLIENTS" ] && { [ "$M_DELIVERED" = "$M_OK" ] || [ "$5" = 0 ]; } && ok=1
  [ "$M_FAIL" = 0 ] || say "  $name: FAILED: $M_FAIL of $CLIENTS messages not accepted (see $PF_LOGDIR/load-$name.log)"
  [ "$M_DELIVERED" = "$M_OK" ] ||
    say "  $name: $([ "$5" = 1 ] && echo "FAILED: ")$M_DELIVERED of $M_OK accepted messages delivered within the wait"
  [ "$ok" = 1 ]
}

say "big bodies: $CLIENTS clients at once, one message of $SIZE octets each (78-octet lines)," \
  "recipient $BUSER@localhost"
status=0
TG_PORT=$(bt free-port "${BENCH_PORT_BIG:-3725}")
if tegami_start "$B/tegami" "$TG_PORT" "$BINDIR"; then
  measure tegami "tree:$TG_PID" "$TG_PORT" "$B/tegami/mail/$BUSER"
  tegami_stop
  report tegami "" smtpd queue 1 || status=1
  tg_suite=$(rss tegami peak-rss-sum)
  if [ "$tg_suite" -lt 262144 ]; then
    say "  tegami suite under 256 MiB: yes ($(mib "$tg_suite") MiB)"
  else
    say "  tegami suite under 256 MiB: NO ($(mib "$tg_suite") MiB)"
  fi
else
  status=1
fi
rm -rf "$B/tegami/spool" "$B/tegami/mail"
if [ "$WITH_POSTFIX" = 1 ]; then
  PF_PORT_BIG=$(bt free-port $((TG_PORT + 1)))
  if postfix_instance "$B/postfix" "$PF_PORT_BIG" "myorigin = \$myhostname" && postfix_check &&
    postfix_start && PF_UP=1 && postfix_wait 30; then
    measure postfix "tree:$(postfix_master_pid)" "$PF_PORT_BIG" "$B/postfix/mail/$BUSER"
    postfix_stop
    PF_UP=0
    report postfix " (postfix)" smtpd cleanup 0 || status=1
    say "  (postfix: smtpd and cleanup are one process per connection; \"queue\" above is cleanup," \
      "which writes the queue file)"
  else
    say "big bodies (postfix): not measured (did not start; see $B/postfix/maillog)"
    status=1
  fi
  rm -rf "$B/postfix/spool" "$B/postfix/mail"
fi
exit "$status"
