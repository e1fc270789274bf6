#!/bin/bash
# bodies.sh - accept rate of large bodies, a connection per message: Tegami built from two
# trees (A/B: BODIES_OLD_BINDIR, e.g. a copy of build/bin before a change, and
# BODIES_BINDIR) and Postfix (tests/bench/lib.sh), runs alternating, smtp-source as the
# load for all. For each size: msg/s accepted (messages / smtp-source wall time), CPU ms
# per message of all the server's processes (from the start of the load until the last
# message is in the mbox: tree handle, live processes plus reaped children) and octets
# written per message by write system calls (/proc/PID/io wchar: files, memfds and sockets
# alike) of Tegami's queue process (Tegami's local apart) and of Postfix's whole tree (its
# IPC and mbox appends included). write_bytes is not used: on ext4 it is charged at
# writeback, to whoever causes it, and does not add up per process.
# Needs root (Postfix). Short and bounded: it is not `make bench`.
#
# Env: BODIES_BINDIR (build/bin) BODIES_OLD_BINDIR ("" skips the A side)
#      BODIES_SERVERS ("old new postfix") BODIES_RUNS (2)
#      BODIES_CASES ("102400:1000:20 10000000:30:10": SIZE:MESSAGES:SESSIONS)
#      BODIES_WORK (./bench-work/bodies) BODIES_PORT (3625) BODIES_TIMEOUT (300 s a run)
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
WORK=${BODIES_WORK:-$top/bench-work/bodies}
NEW_BIN=${BODIES_BINDIR:-$top/build/bin}
OLD_BIN=${BODIES_OLD_BINDIR:-}
SERVERS=${BODIES_SERVERS:-old new postfix}
RUNS=${BODIES_RUNS:-2}
CASES=${BODIES_CASES:-102400:1000:20 10000000:30:10}
BASE_PORT=${BODIES_PORT:-3625}
RUN_TIMEOUT=${BODIES_TIMEOUT:-300}
PY=$(python3 -c 'import sys; print(sys.executable)')

[ "$(id -u)" = 0 ] || { echo "bodies: needs root (Postfix)" >&2; exit 2; }
[ -n "$OLD_BIN" ] || SERVERS=${SERVERS/old/}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 755 "$WORK"
LOGDIR=$WORK/logs
mkdir -p "$LOGDIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bt() { "$PY" "$here/benchtool.py" "$@"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

export PF_TAG=bodies
export PF_LOGDIR=$LOGDIR
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
postfix_fetch
postfix_accounts
BUSER=tgbench

# wchar of a process tree (live processes only).
tree_wbytes() {
  "$PY" - "$1" <<'EOF'
import os, sys
root = int(sys.argv[1])
kids = {}
for n in os.listdir("/proc"):
    if n.isdigit():
        try:
            st = open("/proc/%s/stat" % n).read()
        except OSError:
            continue
        kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(n))
total, todo = 0, [root]
while todo:
    p = todo.pop()
    todo += kids.get(p, [])
    try:
        for line in open("/proc/%d/io" % p):
            if line.startswith("wchar:"):
                total += int(line.split()[1])
    except OSError:
        pass
print(total)
EOF
}
child_pid() { # child_pid MASTER NAME
  local p
  for p in $(pgrep -P "$1"); do
    grep -q "$2" "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}

TG_PID=""
PF_UP=0
cleanup() {
  set +e
  [ -n "$TG_PID" ] && { kill -TERM "$TG_PID"; wait "$TG_PID"; }
  [ "$PF_UP" = 1 ] && postfix_stop 15
}
trap cleanup EXIT

# start SERVER PORT -> HANDLE MBOX WPID (the process whose write_bytes is counted)
start() {
  local s=$1 port=$2 dir=$WORK/$1
  case $s in
    old | new)
      local bin=$NEW_BIN
      [ "$s" = old ] && bin=$OLD_BIN
      rm -rf "$dir"
      "$top/scripts/mkconf.sh" "$dir" "$port" "$bin" "message_size_limit=60m" >/dev/null
      "$bin/tegami-master" -c "$dir/tegami.conf" -f >"$dir/master.log" 2>&1 &
      TG_PID=$!
      bt wait-banner "$port" 30
      HANDLE=tree:$TG_PID
      MBOX=$dir/mail/$BUSER
      WPID=$(child_pid "$TG_PID" tegami-queue)
      LPID=$(child_pid "$TG_PID" tegami-local)
      ;;
    postfix)
      postfix_instance "$dir" "$port" "message_size_limit = 62914560" "myorigin = \$myhostname"
      postfix_start
      PF_UP=1
      postfix_wait 30
      HANDLE=tree:$(postfix_master_pid)
      MBOX=$dir/mail/$BUSER
      WPID=$(postfix_master_pid)
      LPID=""
      ;;
  esac
}
stop() {
  if [ "$1" = postfix ]; then
    postfix_stop 15
    PF_UP=0
  else
    kill -TERM "$TG_PID"
    wait "$TG_PID" || true
    TG_PID=""
  fi
}

declare -A ACC CPU WB
# one SERVER PORT SIZE N SESSIONS: one run on a freshly started server
one() {
  local s=$1 port=$2 size=$3 n=$4 sess=$5 t0 t1 t2 c0 c1 w0 w1 l0=0 l1=0 got
  start "$s" "$port"
  rm -f "$MBOX"
  # warm-up: a few small messages (first deliveries create the mailbox)
  LD_LIBRARY_PATH=$PF_LIB "$SMTP_SOURCE" -s 2 -m 4 -l 1024 -f bench@localhost \
    -t "$BUSER@localhost" -M localhost "127.0.0.1:$port" >/dev/null 2>&1
  bt wait-mbox "$MBOX" 4 30 10 >/dev/null
  rm -f "$MBOX"
  sleep 1
  c0=$(bt cpu "$HANDLE")
  w0=$(tree_wbytes "$WPID")
  [ -n "$LPID" ] && l0=$(tree_wbytes "$LPID")
  t0=$(bt now)
  LD_LIBRARY_PATH=$PF_LIB timeout -k 5 "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$sess" -m "$n" \
    -l "$size" -f bench@localhost -t "$BUSER@localhost" -M localhost "127.0.0.1:$port" \
    >"$LOGDIR/source-$s-$size.log" 2>&1 || echo "  ($s: smtp-source failed: $(tail -1 "$LOGDIR/source-$s-$size.log"))"
  t1=$(bt now)
  got=$(bt wait-mbox "$MBOX" "$n" "$RUN_TIMEOUT" 60)
  t2=$(bt now)
  c1=$(bt cpu "$HANDLE")
  w1=$(tree_wbytes "$WPID")
  [ -n "$LPID" ] && l1=$(tree_wbytes "$LPID")
  local acc cpu wb lwb
  acc=$(calc '%.1f' "$n / ($t1 - $t0)")
  cpu=$(calc '%.2f' "($c1 - $c0) * 1000 / $n")
  wb=$(calc '%.0f' "($w1 - $w0) / $n")
  lwb=$(calc '%.0f' "($l1 - $l0) / $n")
  echo "  $s $size: $n msgs in $(calc '%.2f' "$t1 - $t0") s = $acc msg/s accepted;" \
    "delivered $got after $(calc '%.2f' "$t2 - $t0") s; CPU $cpu ms/msg;" \
    "wchar $wb B/msg ($([ "$s" = postfix ] && echo 'all of postfix' || echo queue))$([ -n "$LPID" ] && echo ", local $lwb B/msg")"
  ACC[$s:$size]+="$acc "
  CPU[$s:$size]+="$cpu "
  WB[$s:$size]+="$wb "
  stop "$s"
}

port=$(bt free-port "$BASE_PORT")
for c in $CASES; do
  IFS=: read -r size n sess <<<"$c"
  echo "== $size-byte bodies: $n messages, $sess sessions, a connection each, $RUNS run(s)"
  for ((r = 1; r <= RUNS; r++)); do
    order=$SERVERS
    [ $((r % 2)) = 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for s in $order; do one "$s" "$port" "$size" "$n" "$sess"; done
  done
  for s in $SERVERS; do
    # shellcheck disable=SC2086
    echo "  $s $size: accepted msg/s ${ACC[$s:$size]}(median $(calc '%.1f' "$(bt median ${ACC[$s:$size]})"))," \
      "CPU ms/msg ${CPU[$s:$size]}, wchar B/msg ${WB[$s:$size]}"
  done
done
