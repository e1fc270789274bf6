#!/bin/bash
# profile.sh - where the accept path's time goes, per process, for one or more builds side
# by side: CPU ms per message (on-CPU time from /proc, nanosecond schedstat), system calls
# per message (strace -c -f) and the hottest symbols (perf record -g, perf report
# --no-children), for tegami-master, -smtpd, -queue and -local.
#
# Usage: tests/bench/profile.sh [-n MESSAGES] [-r ROUNDS] [-s SIZE] [-m MODES]
#                               [NAME=BINDIR...] [-- key=value...]
#   NAME=BINDIR   builds to compare (default: new=build/bin). CPU rounds alternate the builds
#                 (A B A B ...) so that the shared machine's noise falls on both alike.
#   -n MESSAGES   per measured run (default 2000), after a warm-up of 200
#   -r ROUNDS     CPU rounds per build (default 3; the median is printed)
#   -s SIZE       body bytes (default 1024)
#   -m MODES      comma-separated: cpu, syscalls, perf (default cpu,syscalls,perf)
#   key=value     extra tegami.conf lines for every sandbox
# Load: Postfix's smtp-source from bench.sh's extracted package (bench-work/postfix-pkg, or
# BENCH_WORK), 20 sessions, a connection per message, one recipient delivered to an mbox by
# tegami-local: bench.sh's headline case. Each run waits until every message is delivered
# (so CPU includes local delivery and the queue's state changes). strace slows the traced
# processes (its counts are exact, its times are not); perf samples at 4999 Hz.
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=2000 ROUNDS=3 SIZE=1024 MODES=cpu,syscalls,perf
while getopts n:r:s:m: o; do
  case $o in
    n) N=$OPTARG ;; r) ROUNDS=$OPTARG ;; s) SIZE=$OPTARG ;; m) MODES=$OPTARG ;;
    *) echo "usage: profile.sh [-n N] [-r ROUNDS] [-s SIZE] [-m MODES] [NAME=BINDIR...] [-- key=value...]" >&2; exit 2 ;;
  esac
done
# getopts itself takes a "--" that comes straight after the options: what follows it is
# then key=value lines, not builds.
ended=0
[ "$OPTIND" -gt 1 ] && [ "${!OPTIND-}" != -- ] && prev=$((OPTIND - 1)) && [ "${!prev}" = -- ] && ended=1
shift $((OPTIND - 1))
NAMES=() BINS=()
while [ "$ended" = 0 ] && [ $# -gt 0 ] && [ "$1" != -- ]; do
  case $1 in
    *=*) NAMES+=("${1%%=*}"); BINS+=("$(cd "${1#*=}" && pwd)") ;;
    *) echo "profile: $1: want NAME=BINDIR" >&2; exit 2 ;;
  esac
  shift
done
[ "${1:-}" = -- ] && shift
[ ${#NAMES[@]} -gt 0 ] || { NAMES=(new); BINS=("$top/build/bin"); }
case $N$ROUNDS$SIZE in *[!0-9]*) echo "profile: -n, -r and -s take numbers" >&2; exit 2 ;; esac
WORK=${BENCH_WORK:-$top/bench-work}
PF=$WORK/postfix-pkg
bt() { python3 "$here/benchtool.py" "$@"; }
[ -x "$PF/usr/sbin/smtp-source" ] || { echo "profile: no $PF/usr/sbin/smtp-source (run make bench once, or set BENCH_WORK)" >&2; exit 2; }
case ,$MODES, in *,syscalls,*) command -v strace >/dev/null || { echo "profile: strace is not installed" >&2; exit 2; } ;; esac
case ,$MODES, in *,perf,*) command -v perf >/dev/null || { echo "profile: perf is not installed (Debian: linux-perf)" >&2; exit 2; } ;; esac
RCPT=$(id -un)
# As root the mail goes to tgbench (root's own is refused), made here as bench.sh makes it.
if [ "$(id -u)" = 0 ]; then
  sh "$top/scripts/accounts.sh" >/dev/null
  getent passwd tgbench >/dev/null ||
    useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tgbench
  RCPT=tgbench
fi
PROCS="tegami-master tegami-smtpd tegami-queue tegami-local"

dir=$(mktemp -d /tmp/tegami-profile.XXXXXX)
chmod 755 "$dir"
MPID="" TRACERS=""
stop_sandbox() {
  local p
  for p in $TRACERS; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  TRACERS=""
  if [ -n "$MPID" ]; then kill -TERM "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null || true; fi
  MPID=""
  return 0
}
cleanup() { set +e; stop_sandbox; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_sandbox BINDIR: a fresh sandbox, warmed up; sets MPID, PORT, MBOX and PID_<comm>.
start_sandbox() {
  local bin=$1 k c
  rm -rf "$dir/tg"
  PORT=$(bt free-port 4810)
  "$top/scripts/mkconf.sh" "$dir/tg" "$PORT" "$bin" "${EXTRA[@]}" >/dev/null
  "$bin/tegami-master" -c "$dir/tg/tegami.conf" -f >"$dir/master.log" 2>&1 &
  MPID=$!
  bt wait-banner "$PORT" 30 || { echo "profile: tegami did not start"; tail -5 "$dir/master.log"; exit 1; }
  MBOX=$dir/tg/mail/$RCPT
  # shellcheck disable=SC2034  # read through pid_of (indirect expansion)
  PID_tegami_master=$MPID PID_tegami_smtpd="" PID_tegami_queue="" PID_tegami_local=""
  for k in $(cat "/proc/$MPID/task/$MPID/children"); do
    c=$(cat "/proc/$k/comm")
    case $c in tegami-smtpd | tegami-queue | tegami-local) printf -v "PID_${c//-/_}" %s "$k" ;; esac
  done
  [ -n "$PID_tegami_smtpd" ] && [ -n "$PID_tegami_queue" ] && [ -n "$PID_tegami_local" ] ||
    { echo "profile: smtpd, queue or local not found"; exit 1; }
  load 200 >/dev/null
}
pid_of() { local v="PID_${1//-/_}"; echo "${!v}"; }

# load COUNT: COUNT messages through smtp-source, then wait until all are delivered;
# prints the accept rate (msg/s while smtp-source ran).
load() {
  local n=$1 before t0 t1 got
  before=$(bt count-mbox "$MBOX")
  t0=$(bt now)
  LD_LIBRARY_PATH=$PF/usr/lib/postfix timeout 300 "$PF/usr/sbin/smtp-source" -s 20 -m "$n" \
    -l "$SIZE" -f bench@localhost -t "$RCPT@localhost" -M localhost "127.0.0.1:$PORT"
  t1=$(bt now)
  got=$(bt wait-mbox "$MBOX" $((before + n)) 120 10)
  [ "$got" -ge $((before + n)) ] || { echo "profile: only $((got - before)) of $n delivered" >&2; exit 1; }
  sleep 0.3  # the queue's last state changes after the delivery reports
  python3 -c "print(f'{$n / ($t1 - $t0):.0f}')"
}

EXTRA=("$@")
say() { printf '%s\n' "$*"; }
say "profile: $N messages of $SIZE bytes per run, 20 sessions, a connection per message, delivered to an mbox${EXTRA[*]:+; ${EXTRA[*]}}"
for i in "${!NAMES[@]}"; do say "  ${NAMES[$i]} = ${BINS[$i]}"; done

median() { bt median "$@"; }

# ------------------------------------------------------------------ CPU per message
if [[ ,$MODES, == *,cpu,* ]]; then
  declare -A CPU=() RATE=()
  for ((r = 1; r <= ROUNDS; r++)); do
    for i in "${!NAMES[@]}"; do
      start_sandbox "${BINS[$i]}"
      bt cpu-by-process "$MPID" >"$dir/c0"
      rate=$(load "$N")
      bt cpu-by-process "$MPID" >"$dir/c1"
      stop_sandbox
      RATE[$i]="${RATE[$i]:-} $rate"
      line="  round $r ${NAMES[$i]}: $rate msg/s;"
      total=0
      for p in $PROCS; do
        ms=$(awk -v p="$p" -v n="$N" 'FNR == NR { if ($1 == p) a = $2; next }
               $1 == p { printf "%.4f", ($2 - a) * 1000 / n }' "$dir/c0" "$dir/c1")
        CPU[$i,$p]="${CPU[$i,$p]:-} ${ms:-0}"
        total=$(python3 -c "print(f'{$total + ${ms:-0}:.4f}')")
        line+=" ${p#tegami-} ${ms:-?}"
      done
      CPU[$i,all]="${CPU[$i,all]:-} $total"
      say "$line; all $total ms/msg"
    done
  done
  say "== CPU ms per message, median of $ROUNDS (accept rate msg/s is wall clock: noisy)"
  printf '  %-10s' build; for p in $PROCS all; do printf ' %9s' "${p#tegami-}"; done; printf ' %9s\n' msg/s
  for i in "${!NAMES[@]}"; do
    printf '  %-10s' "${NAMES[$i]}"
    for p in $PROCS all; do
      # shellcheck disable=SC2086
      printf ' %9.3f' "$(median ${CPU[$i,$p]})"
    done
    # shellcheck disable=SC2086
    printf ' %9.0f\n' "$(median ${RATE[$i]})"
  done
fi

# ------------------------------------------------------------------ syscalls per message
if [[ ,$MODES, == *,syscalls,* ]]; then
  for i in "${!NAMES[@]}"; do
    start_sandbox "${BINS[$i]}"
    for p in $PROCS; do
      # The process and the children it already has (local's idle delivery processes,
      # started during the warm-up); -f follows those it starts later.
      pids=$(pid_of "$p")
      if [ "$p" = tegami-local ]; then
        pids+=" $(cat "/proc/$pids/task/$pids/children" 2>/dev/null || true)"
      fi
      # shellcheck disable=SC2046
      strace -c -f $(printf -- '-p %s ' $pids) -o "$dir/$p.strace" 2>/dev/null &
      TRACERS+=" $!"
    done
    sleep 1
    load "$N" >/dev/null
    stop_sandbox
    say "== system calls per message, ${NAMES[$i]} (strace -c -f, top 12 per process)"
    for p in $PROCS; do
      awk -v n="$N" -v p="${p#tegami-}" 'NR > 2 && $0 !~ /^-/ && NF >= 4 {
          calls = ($4 ~ /^[0-9]+$/) ? $4 : 0
          if ($NF == "total") total = calls; else printf "%s %.2f\n", $NF, calls / n
        } END { printf "TOTAL %.2f\n", total / n }' "$dir/$p.strace" |
        sort -k2 -nr | head -13 |
        awk -v p="${p#tegami-}" '{ s = s sprintf(" %s %s", $1, $2) } END { printf "  %-7s%s\n", p, s }'
    done
  done
fi

# ------------------------------------------------------------------ perf profile
if [[ ,$MODES, == *,perf,* ]]; then
  for i in "${!NAMES[@]}"; do
    start_sandbox "${BINS[$i]}"
    for p in $PROCS; do
      pids=$(pid_of "$p")
      if [ "$p" = tegami-local ]; then  # and its idle delivery processes, as for strace
        for k in $(cat "/proc/$pids/task/$pids/children" 2>/dev/null || true); do pids+=",$k"; done
      fi
      perf record -q -g -F 4999 -p "$pids" -o "$dir/$p.perf" >/dev/null 2>&1 &
      TRACERS+=" $!"
    done
    sleep 1
    load "$N" >/dev/null
    stop_sandbox
    say "== perf report --no-children, ${NAMES[$i]}: top symbols per process (% of its samples)"
    for p in $PROCS; do
      say "  -- $p"
      perf report -i "$dir/$p.perf" --no-children --stdio -g none --percent-limit 1.5 \
          --sort dso,symbol 2>/dev/null |
        awk '/^ *[0-9.]+%/ { sym = ""; for (f = 4; f <= NF && $f != "-"; f++) sym = sym " " $f
               printf "    %7s  %-18s %s\n", $1, substr($2, 1, 18), substr(sym, 2, 90) }' | head -14
    done
  done
fi
