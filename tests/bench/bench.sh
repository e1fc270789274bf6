#!/bin/bash
# bench.sh - Tegami and Postfix side by side on this machine (`make bench`).
#
# Both servers listen on 127.0.0.1 only, each in a sandbox under the work directory
# (default ./bench-work). Postfix comes from the Debian package, extracted with dpkg -x and
# never installed; its smtp-source is the load generator for both. Postfix needs root (its
# master runs as root, its daemons as user postfix, with group postdrop; the script creates
# postfix, postdrop, tegami and the recipient tgbench as system accounts when missing);
# without root, Tegami is measured alone. The memory test and the load runs each start the
# servers afresh; the load runs alternate between them.
#
# Equal work: each server durably queues a message before answering 250 to its DATA
# (Postfix fsyncs its queue file, its default; Tegami's queue_store=bdb commits before the
# reply), then delivers it into the mbox of the same local user (tgbench when run as root),
# in a mailbox directory inside its own sandbox.
#
# Measured, per server:
#   accept rate   messages / wall time of smtp-source (SESSIONS parallel sessions, a new
#                 connection per message, SIZE-byte bodies); delivery then drains and the
#                 mbox is counted, so a fast-but-broken run shows;
#   CPU/message   CPU time of all the server's processes, exited ones included, from the
#                 start of the load until the last message is in the mbox, per message;
#                 counted by a cpuacct cgroup when one can be made, else from /proc
#                 (live processes' utime+stime plus the cutime+cstime of what they reaped);
#   memory        summed PSS (/proc/PID/smaps_rollup) of its processes holding IDLE idle
#                 sessions minus the same with none, per session, on a freshly started server.
# Reported figures are medians over RUNS runs.
#
# Then the workloads admins see, each run once per server (BENCH_WORKLOAD_RUNS), servers
# alternating, each printed with its ratio:
#   persistent    BENCH_PERSIST_MESSAGES over SESSIONS connections (smtp-source -d: about
#                 1,000 messages per connection with the defaults);
#   10 rcpts      BENCH_RCPT_MESSAGES messages of SIZE bytes to 10 recipients each (0..10 +
#                 the recipient, aliases of it on both servers; smtp-source -r 10);
#   100 KiB       BENCH_BIG_MESSAGES messages of BENCH_BIG_SIZE bytes, a connection each;
#   latency       end of data -> 250, p50/p99, of BENCH_LATENCY_MESSAGES messages offered at
#                 BENCH_LATENCY_RATE msg/s (the same for both servers) over 8 persistent
#                 sessions (benchtool.py latency), and Tegami alone at BENCH_LATENCY_HIGH_RATE;
#   idle at scale PSS per idle session with BENCH_IDLE_LARGE sessions, Tegami only
#                 (Postfix would need a process per session).
# With the defaults the whole script takes about 9 minutes on the 2-core development
# machine (a run at about a third of the counts took 4); BENCH_MAX_SECONDS (900) bounds
# it: no new step starts after it. The submission, relay and big-bodies cases follow
# (big bodies: about 2 minutes, Tegami and Postfix). System calls per message:
# tests/bench/syscalls.sh.
#
# Environment (all optional):
#   BENCH_MESSAGES=20000 BENCH_SESSIONS=20 BENCH_SIZE=1024 BENCH_RUNS=3
#   BENCH_WARMUP=500           messages sent before the measured runs (not counted)
#   BENCH_IDLE_SESSIONS=1000   0 skips the memory test
#   BENCH_MEMORY_STORE_RUNS=1  extra Tegami runs with queue_store=memory (0 skips them)
#   BENCH_SERVERS="tegami postfix"
#   BENCH_PERF=0               1: one extra Tegami run under `perf record -g`, report in
#                              the work directory (bench-work/perf/)
#   BENCH_PERF_CALLGRAPH=fp    perf's --call-graph mode (dwarf gives user-space stacks for
#                              code built without frame pointers, at a larger data file)
#   BENCH_WORKLOAD_RUNS=1      0 skips the workloads below
#   BENCH_PERSIST_MESSAGES=20000 BENCH_RCPT_MESSAGES=5000 BENCH_BIG_MESSAGES=2000
#   BENCH_BIG_SIZE=102400 BENCH_LATENCY_RATE=400 BENCH_LATENCY_HIGH_RATE=2000
#   BENCH_LATENCY_MESSAGES=4000 BENCH_IDLE_LARGE=10000 (0 skips it)
#   BENCH_RUN_TIMEOUT=300 BENCH_DRAIN_TIMEOUT=300 BENCH_STALL_TIMEOUT=30  (seconds)
#   BENCH_MAX_SECONDS=900      no new run starts after this much time
#   BENCH_WORK=./bench-work BENCH_BINDIR=build/bin BENCH_PORT=3525
#   BENCH_BIG=1                0 skips the big-bodies case (tests/bench/bigbodies.sh; its
#                              BENCH_BIGBODY_* variables are described there)
#   BENCH_TEGAMI_CONF="key=value ..."  extra tegami.conf lines for every Tegami instance
#                              (e.g. smtpd_data_buffer_size=1m: bodies held whole)
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
WORK=${BENCH_WORK:-$top/bench-work}
BINDIR=${BENCH_BINDIR:-$top/build/bin}
MESSAGES=${BENCH_MESSAGES:-20000}
SESSIONS=${BENCH_SESSIONS:-20}
SIZE=${BENCH_SIZE:-1024}
RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-500}
IDLE=${BENCH_IDLE_SESSIONS:-1000}
MEM_RUNS=${BENCH_MEMORY_STORE_RUNS:-1}
SERVERS=${BENCH_SERVERS:-tegami postfix}
PERF=${BENCH_PERF:-0}
PERF_CG=${BENCH_PERF_CALLGRAPH:-fp}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-300}
STALL=${BENCH_STALL_TIMEOUT:-30}
MAX_SECONDS=${BENCH_MAX_SECONDS:-900}
BASE_PORT=${BENCH_PORT:-3525}
WL_RUNS=${BENCH_WORKLOAD_RUNS:-1}
PERSIST_N=${BENCH_PERSIST_MESSAGES:-20000}
RCPT_N=${BENCH_RCPT_MESSAGES:-5000}
BIG_N=${BENCH_BIG_MESSAGES:-2000}
BIG_SIZE=${BENCH_BIG_SIZE:-102400}
LAT_RATE=${BENCH_LATENCY_RATE:-400}
LAT_HIGH=${BENCH_LATENCY_HIGH_RATE:-2000}
LAT_N=${BENCH_LATENCY_MESSAGES:-4000}
IDLE_LARGE=${BENCH_IDLE_LARGE:-10000}
PY=${PYTHON:-python3}
# The interpreter itself, not a wrapper script (pyenv shims), so that a helper's PID is the
# process to signal.
PY=$("$PY" -c 'import sys; print(sys.executable)') || { echo "bench: python3 is needed" >&2; exit 2; }

for v in MESSAGES SESSIONS SIZE RUNS WARMUP IDLE MEM_RUNS PERF RUN_TIMEOUT DRAIN_TIMEOUT \
         STALL MAX_SECONDS BASE_PORT WL_RUNS PERSIST_N RCPT_N BIG_N BIG_SIZE LAT_RATE LAT_HIGH \
         LAT_N IDLE_LARGE; do
  case ${!v} in
    ''|*[!0-9]*) echo "bench: BENCH_$v must be a number, not '${!v}'" >&2; exit 2 ;;
  esac
done
[ "$RUNS" -ge 1 ] && [ "$MESSAGES" -ge 1 ] && [ "$SESSIONS" -ge 1 ] ||
  { echo "bench: BENCH_RUNS, BENCH_MESSAGES and BENCH_SESSIONS must be at least 1" >&2; exit 2; }

# (In the background, run "$PY" "$here/benchtool.py" itself, so that $! is the helper.)
bt() { "$PY" "$here/benchtool.py" "$@"; }
say() { printf "%s\n" "$*"; }
stamp() { printf "[%4ss] %s\n" "$(elapsed)" "$*"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

is_root=0; [ "$(id -u)" = 0 ] && is_root=1
START=$(bt now)
elapsed() { calc '%d' "$(bt now) - $START"; }
over_time() { [ "$(elapsed)" -ge "$MAX_SECONDS" ]; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 755 "$WORK"
LOGDIR=$WORK/logs
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

# Idle sessions need descriptors on both ends; the servers inherit this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- cleanup

CGROUPS=()        # cgroup directories this run made
TG_PIDS=()        # Tegami masters this run started
TG_HANDLES=()
PF_RUNNING=0
HOLDER_PID=""
PERF_PID=""
SOURCE_PID=""

kill_handle() {   # SIGKILL every process still in a server's handle
  local h=$1 p
  for p in $(bt pids "$h" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
}

wait_gone() {     # wait_gone HANDLE SECONDS: until no process is left in the handle
  local h=$1 i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -z "$(bt pids "$h" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM HUP
  set +e
  [ "$rc" = 0 ] || say "bench: stopping after an error or a signal (exit $rc); cleaning up"
  for p in $SOURCE_PID $HOLDER_PID $PERF_PID; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < ${#TG_PIDS[@]}; i++)); do
    [ -n "${TG_PIDS[$i]}" ] && stop_tegami "$i"
  done
  [ "$PF_RUNNING" = 1 ] && stop_postfix
  for cg in "${CGROUPS[@]}"; do
    kill_handle "cgroup:$cg"
    wait_gone "cgroup:$cg" 5
    rmdir "$cg" 2>/dev/null
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- cgroups

# A cpuacct cgroup (v1) or a cgroup v2 directory below this shell's own, one per server
# instance, so that CPU of processes that have already exited is still counted.
CG_BASE=""
if [ "$is_root" = 1 ]; then
  if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
    rel=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3; exit }' /proc/self/cgroup)
    CG_BASE=/sys/fs/cgroup/cpuacct${rel%/}
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    rel=$(awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup)
    CG_BASE=/sys/fs/cgroup${rel%/}
  fi
  [ -n "$CG_BASE" ] && [ -w "$CG_BASE" ] || CG_BASE=""
fi

new_cgroup() {    # new_cgroup NAME -> prints the directory, or nothing without cgroups
  [ -n "$CG_BASE" ] || return 0
  local d=$CG_BASE/tegami-bench-$$-$1
  if mkdir "$d" 2>/dev/null; then
    # Probe: can a process be moved in? (v2 refuses when the parent has controllers on.)
    if (echo "$BASHPID" > "$d/cgroup.procs") 2>/dev/null; then
      echo "$d"
      return 0
    fi
    rmdir "$d" 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------- Postfix package

# The package, the accounts and the instance's config: tests/bench/lib.sh.
PF_TAG=bench
PF_LOGDIR=$LOGDIR
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

# ---------------------------------------------------------------- accounts

# The recipient: one system user on both servers when root, else whoever runs this.
BUSER=$(id -un)
ensure_accounts() {
  [ "$is_root" = 1 ] || return 0
  postfix_accounts
  BUSER=tgbench
}

# The 10-recipient workload's addresses (smtp-source -r prefixes a number to the
# recipient): aliases of the recipient on both servers.
bench_aliases() { # bench_aliases [SEPARATOR]: ":" for Tegami (aliases(5)), " " for texthash
  local i sep=${1-:}
  for ((i = 0; i <= 10; i++)); do echo "$i$BUSER$sep $BUSER"; done
}

# ---------------------------------------------------------------- Postfix instance

PFI=$WORK/postfix          # config, queue, data and mail directories of the instance
PF_HANDLE=""
PF_CG=""

# lib.sh's defaults (package defaults except the paths, the loopback listener, the
# process limit and a mailbox size limit off) with the aliases of bench_aliases.
setup_postfix() {
  postfix_instance "$PFI" "$PF_PORT" "myorigin = \$myhostname" \
    "alias_maps = texthash:$PFI/etc/aliases" || return 1
  bench_aliases "" > "$PFI/etc/aliases"
  postfix_check
}

start_postfix() { # start_postfix LABEL
  PF_RUNNING=1
  PF_HANDLE=""
  PF_CG=$(new_cgroup "postfix-$1")
  [ -n "$PF_CG" ] && CGROUPS+=("$PF_CG")
  ( [ -n "$PF_CG" ] && echo "$BASHPID" > "$PF_CG/cgroup.procs"
    postfix_start ) || return 1
  local mp
  mp=$(postfix_master_pid) || { say "bench: postfix master did not stay up"; return 1; }
  if [ -n "$PF_CG" ]; then PF_HANDLE=cgroup:$PF_CG; else PF_HANDLE=tree:$mp; fi
  postfix_wait 30
}

stop_postfix() {
  local h=$PF_HANDLE mp
  if [ -z "$h" ] && mp=$(postfix_master_pid); then h=tree:$mp; fi
  postfix_cmd stop >>"$PF_LOGDIR/postfix-start.log" 2>&1 || true
  if [ -n "$h" ]; then wait_gone "$h" 15 || { kill_handle "$h"; wait_gone "$h" 5 || true; }; fi
  PF_RUNNING=0
  PF_HANDLE=""
}

# ---------------------------------------------------------------- Tegami instance

# Tegami instances by index: directory, port, master PID, handle.
TG_DIRS=()
TG_PORTS=()

tegami_missing() {
  local b
  for b in tegami-master tegami-smtpd tegami-queue tegami-local; do
    [ -x "$BINDIR/$b" ] || { echo "$BINDIR/$b"; return 0; }
  done
  return 1
}

start_tegami() {  # start_tegami INDEX DIR PORT [key=value...] -> sets TG_PIDS[INDEX] etc.
  local i=$1 dir=$2 port=$3
  shift 3
  # A master left over from an interrupted run of this script goes first.
  if [ -f "$dir/master.pid" ]; then
    local old
    old=$(tr -d ' \n' < "$dir/master.pid")
    if [ -n "$old" ] && kill -0 "$old" 2>/dev/null &&
       grep -q tegami-master "/proc/$old/cmdline" 2>/dev/null; then
      kill -TERM "$old" 2>/dev/null || true
      sleep 2
    fi
  fi
  rm -rf "$dir"
  # shellcheck disable=SC2086
  "$top/scripts/mkconf.sh" "$dir" "$port" "$BINDIR" ${BENCH_TEGAMI_CONF:-} "$@" >/dev/null
  bench_aliases >> "$dir/aliases"
  local cg
  cg=$(new_cgroup "tegami-$i-$RANDOM")
  [ -n "$cg" ] && CGROUPS+=("$cg")
  ( [ -n "$cg" ] && echo "$BASHPID" > "$cg/cgroup.procs"
    exec "$BINDIR/tegami-master" -c "$dir/tegami.conf" -f ) >"$dir/master.log" 2>&1 &
  TG_PIDS[$i]=$!
  TG_DIRS[$i]=$dir
  TG_PORTS[$i]=$port
  if [ -n "$cg" ]; then TG_HANDLES[$i]=cgroup:$cg; else TG_HANDLES[$i]=tree:${TG_PIDS[$i]}; fi
  if ! bt wait-banner "$port" 30; then
    say "bench: tegami does not answer on 127.0.0.1:$port; last lines of $dir/master.log:"
    tail -8 "$dir/master.log"
    return 1
  fi
  kill -0 "${TG_PIDS[$i]}" 2>/dev/null || { say "bench: tegami-master exited"; return 1; }
}

stop_tegami() {   # stop_tegami INDEX
  local i=$1 pid=${TG_PIDS[$1]} h=${TG_HANDLES[$1]}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$h" 15 ||
    { say "bench: tegami did not stop on SIGTERM; killing it"; kill_handle "$h"; wait_gone "$h" 5 || true; }
  wait "$pid" 2>/dev/null || true
  TG_PIDS[$i]=""
}

# ---------------------------------------------------------------- measurements

# run_load NAME PORT HANDLE MBOX COUNT QUIET -> R_ACCEPT R_E2E R_CPUMS R_DELIVERED R_OK
run_load() {
  local name=$1 port=$2 handle=$3 mbox=$4 n=$5 quiet=${6:-0}
  local log=$LOGDIR/smtp-source-$name.log c0 cm c1 t0 t1 t2 rc=0
  R_OK=0; R_ACCEPT=0; R_E2E=0; R_CPUMS=0; R_DELIVERED=0
  rm -f "$mbox"   # the server is idle and drained here
  # What earlier runs left to write back (their mailboxes, the file just removed) is
  # written now, outside the measured window, not into the next run's syncs.
  sync
  c0=$(bt cpu "$handle"); t0=$(bt now)
  smtp_source_timed "$port" "$n" "$log" || rc=$?
  t1=$(bt now); cm=$(bt cpu "$handle")
  # In the background, so that a signal to this script is handled at once.
  "$PY" "$here/benchtool.py" wait-mbox "$mbox" "$n" "$DRAIN_TIMEOUT" "$STALL" >"$LOGDIR/delivered" &
  SOURCE_PID=$!
  wait "$SOURCE_PID" || true
  SOURCE_PID=""
  R_DELIVERED=$(cat "$LOGDIR/delivered")
  t2=$(bt now); c1=$(bt cpu "$handle")
  R_ACCEPT=$(calc '%.0f' "$n / ($t1 - $t0)")
  R_E2E=$(calc '%.0f' "$R_DELIVERED / ($t2 - $t0)")
  R_CPUMS=$(calc '%.3f' "($c1 - $c0) * 1000 / $n")
  local note=""
  if [ "$rc" != 0 ]; then
    note=" FAILED: smtp-source exit $rc: $(tail -1 "$log")"
  elif [ "$R_DELIVERED" -lt "$n" ]; then
    note=" FAILED: $R_DELIVERED of $n messages delivered"
  else
    R_OK=1
  fi
  [ "$quiet" = 1 ] && [ "$R_OK" = 1 ] && return 0
  say "  $name: sent $n in $(calc '%.2f' "$t1 - $t0") s = $R_ACCEPT msg/s accepted;" \
      "delivered $R_DELIVERED/$n after $(calc '%.2f' "$t2 - $t0") s = $R_E2E msg/s end to end;" \
      "CPU $(calc '%.2f' "$c1 - $c0") s = $R_CPUMS ms/msg" \
      "($(calc '%.2f' "$cm - $c0") s of it while sending)$note"
}

smtp_source_timed() {  # smtp-source under the per-run time limit
  # SRC_FLAGS (e.g. -d, -r 10) and SRC_SIZE select a workload; empty: the headline case.
  # shellcheck disable=SC2086
  LD_LIBRARY_PATH=$PF_LIB timeout -k 5 "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$SESSIONS" -m "$2" \
    -l "${SRC_SIZE:-$SIZE}" ${SRC_FLAGS:-} -f "bench@localhost" -t "$BUSER@localhost" \
    -M localhost "127.0.0.1:$1" >"$3" 2>&1 &
  SOURCE_PID=$!
  local rc=0
  wait "$SOURCE_PID" || rc=$?
  SOURCE_PID=""
  return "$rc"
}

# mem_test NAME PORT HANDLE -> M_KIB (KiB of PSS per idle session, empty on failure)
# PSS shares each page among all processes mapping it, on the whole machine: the shared
# libraries' part moves a little with whatever else runs, so the anonymous part (heap,
# stacks, copy-on-write data; Pss_Anon) is shown beside it.
mem_test() {      # mem_test NAME PORT HANDLE [SESSIONS]
  local name=$1 port=$2 handle=$3 count=${4:-$IDLE} ready=$WORK/idle-ready.$$ base banon bn
  local loaded lanon ln
  local held failed i
  M_KIB=""
  read -r base banon bn < <(bt pss-settled "$handle")
  rm -f "$ready"
  "$PY" "$here/benchtool.py" idle "$port" "$count" "$ready" 120 &
  HOLDER_PID=$!
  for ((i = 0; i < 3000; i++)); do
    [ -f "$ready" ] && break
    kill -0 "$HOLDER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -f "$ready" ]; then
    say "  $name: the idle sessions could not be opened"
    kill -TERM "$HOLDER_PID" 2>/dev/null || true; wait "$HOLDER_PID" 2>/dev/null || true
    HOLDER_PID=""
    return 0
  fi
  read -r held failed < "$ready"
  read -r loaded lanon ln < <(bt pss-settled "$handle")
  kill -TERM "$HOLDER_PID" 2>/dev/null || true
  wait "$HOLDER_PID" 2>/dev/null || true
  HOLDER_PID=""
  rm -f "$ready"
  local anon_per="?"
  if [ "$held" -gt 0 ]; then
    M_KIB=$(calc '%.1f' "($loaded - $base) / $held")
    anon_per=$(calc '%.1f' "($lanon - $banon) / $held")
  fi
  say "  $name: $held idle sessions held ($failed failed); PSS $base KiB in $bn processes" \
      "before, $loaded KiB in $ln processes with them: ${M_KIB:-?} KiB per session" \
      "(anonymous part: $banon -> $lanon KiB, $anon_per KiB per session)"
}

median() { bt median "$@"; }

# ---------------------------------------------------------------- main

ensure_accounts
have_tegami=0; have_postfix=0
tg_reason=""; pf_reason=""
case " $SERVERS " in *" tegami "*) have_tegami=1 ;; *) tg_reason="not selected (BENCH_SERVERS)" ;; esac
case " $SERVERS " in *" postfix "*) have_postfix=1 ;; *) pf_reason="not selected (BENCH_SERVERS)" ;; esac

postfix_fetch || { say "bench: no smtp-source, nothing can be measured"; exit 1; }

if [ "$have_postfix" = 1 ] && [ "$is_root" != 1 ]; then
  say "bench: Postfix needs root (its master runs as root and its daemons as user postfix);"
  say "bench: not root, so Tegami is benchmarked alone."
  have_postfix=0; pf_reason="not run (needs root)"
fi
if [ "$have_tegami" = 1 ] && missing=$(tegami_missing); then
  say "bench: $missing is not built; Postfix is benchmarked alone."
  have_tegami=0; tg_reason="not run ($missing missing)"
fi
[ "$have_tegami" = 1 ] || [ "$have_postfix" = 1 ] || { say "bench: nothing to benchmark"; exit 1; }

next_port=$BASE_PORT
if [ "$have_postfix" = 1 ]; then
  PF_PORT=$(bt free-port "$next_port"); next_port=$((PF_PORT + 1))
  setup_postfix || { have_postfix=0; pf_reason="not run (set-up failed)"; }
fi
if [ "$have_tegami" = 1 ]; then
  TG_PORT=$(bt free-port "$next_port"); next_port=$((TG_PORT + 1))
  TGM_PORT=$(bt free-port "$next_port"); next_port=$((TGM_PORT + 1))
fi
TG_DIR=$WORK/tegami
TGM_DIR=$WORK/tegami-memory

say "bench: $MESSAGES messages of $SIZE bytes per run, $SESSIONS sessions, a new connection" \
    "per message, $RUNS run(s); $IDLE idle sessions; recipient $BUSER@localhost"
if [ -n "$CG_BASE" ]; then
  say "bench: CPU counted by a cpuacct cgroup per server (all its processes, exited ones included)"
else
  say "bench: CPU counted from /proc over each master's process tree (no usable cgroup):"
  say "bench: live processes plus the children they reaped; double-forked processes are missed"
fi

# Memory: each server freshly started, then stopped again.
TG_MEM=""; PF_MEM=""
if [ "$IDLE" -gt 0 ]; then
  stamp "== memory per idle session ($IDLE sessions, PSS, each server freshly started)"
  if [ "$have_tegami" = 1 ]; then
    if start_tegami 0 "$TG_DIR" "$TG_PORT"; then
      mem_test tegami "$TG_PORT" "${TG_HANDLES[0]}"; TG_MEM=$M_KIB
    else
      have_tegami=0; tg_reason="not run (did not start; see $TG_DIR/master.log)"
    fi
    stop_tegami 0
  fi
  if [ "$have_postfix" = 1 ]; then
    if start_postfix mem; then
      mem_test postfix "$PF_PORT" "$PF_HANDLE"; PF_MEM=$M_KIB
    else
      have_postfix=0; pf_reason="not run (did not start; see $PFI/maillog)"
    fi
    stop_postfix
  fi
fi

# Load: both started afresh, warmed up, then measured in alternating runs.
TG_A=(); TG_C=(); TG_E=(); PF_A=(); PF_C=(); PF_E=()
stamp "== load: $RUNS run(s) of $MESSAGES messages each, servers alternating"
if [ "$have_tegami" = 1 ]; then
  if start_tegami 0 "$TG_DIR" "$TG_PORT"; then
    if [ "$WARMUP" -gt 0 ]; then
      run_load "tegami warm-up" "$TG_PORT" "${TG_HANDLES[0]}" "$TG_DIR/mail/$BUSER" "$WARMUP" 1
      [ "$R_OK" = 1 ] || { have_tegami=0; tg_reason="not run (warm-up failed)"; }
    fi
  else
    have_tegami=0; tg_reason="not run (did not start; see $TG_DIR/master.log)"
  fi
fi
if [ "$have_postfix" = 1 ]; then
  if start_postfix load; then
    if [ "$WARMUP" -gt 0 ]; then
      run_load "postfix warm-up" "$PF_PORT" "$PF_HANDLE" "$PFI/mail/$BUSER" "$WARMUP" 1
      [ "$R_OK" = 1 ] || { have_postfix=0; pf_reason="not run (warm-up failed)"; }
    fi
  else
    have_postfix=0; pf_reason="not run (did not start; see $PFI/maillog)"
  fi
fi
for ((run = 1; run <= RUNS; run++)); do
  if over_time; then say "  (BENCH_MAX_SECONDS=$MAX_SECONDS reached: no further runs)"; break; fi
  stamp "run $run"
  if [ "$have_tegami" = 1 ]; then
    run_load tegami "$TG_PORT" "${TG_HANDLES[0]}" "$TG_DIR/mail/$BUSER" "$MESSAGES"
    [ "$R_OK" = 1 ] && { TG_A+=("$R_ACCEPT"); TG_C+=("$R_CPUMS"); TG_E+=("$R_E2E"); }
  fi
  if [ "$have_postfix" = 1 ]; then
    run_load postfix "$PF_PORT" "$PF_HANDLE" "$PFI/mail/$BUSER" "$MESSAGES"
    [ "$R_OK" = 1 ] && { PF_A+=("$R_ACCEPT"); PF_C+=("$R_CPUMS"); PF_E+=("$R_E2E"); }
  fi
done

# Optional profile: one more Tegami run under perf, not part of the figures.
PERF_NOTE="perf: BENCH_PERF=1 make bench records one extra Tegami run with perf record -g into $WORK/perf/"
if [ "$PERF" = 1 ] && [ "$have_tegami" = 1 ] && [ -n "${TG_PIDS[0]}" ]; then
  if command -v perf >/dev/null; then
    mkdir -p "$WORK/perf"
    stamp "== perf: one extra Tegami run under perf record -g (not part of the figures)"
    rm -f "$WORK"/perf/tegami.perf.data*
    pids=$(bt pids "${TG_HANDLES[0]}" | paste -sd, -)
    timeout -s INT -k 10 "$((RUN_TIMEOUT + DRAIN_TIMEOUT))" \
      perf record --call-graph "$PERF_CG" -o "$WORK/perf/tegami.perf.data" -p "$pids" >"$WORK/perf/record.log" 2>&1 &
    PERF_PID=$!
    sleep 1
    run_load "tegami (perf)" "$TG_PORT" "${TG_HANDLES[0]}" "$TG_DIR/mail/$BUSER" "$MESSAGES"
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
    pr() { perf report -i "$WORK/perf/tegami.perf.data" --stdio --no-children "$@" 2>/dev/null || true; }
    pr -g none --sort comm,dso --percent-limit 0.5 >"$WORK/perf/report-objects.txt"
    pr -g none --sort comm,dso,symbol --percent-limit 0.2 >"$WORK/perf/report.txt"
    pr --percent-limit 1 >"$WORK/perf/report-callgraph.txt"
    top_of() { grep -v '^#' "$1" | grep -v '^[[:space:]]*$' | sed -E 's/([[:space:]]+-)*[[:space:]]*$//' | head -"$2" | sed 's/^/  /'; }
    say "  by process and object ($WORK/perf/report-objects.txt):"
    top_of "$WORK/perf/report-objects.txt" 12
    say "  top symbols ($WORK/perf/report.txt; call graphs in $WORK/perf/report-callgraph.txt):"
    top_of "$WORK/perf/report.txt" 25
    PERF_NOTE="perf: data in $WORK/perf/tegami.perf.data (perf report -i $WORK/perf/tegami.perf.data)"
  else
    say "bench: BENCH_PERF=1 but perf is not installed (Debian: linux-perf)"
  fi
fi

# ---------------------------------------------------------------- workloads

WL_LINES=()
fig() { if [ "$#" -gt 1 ]; then calc "$1" "$(median "${@:2}")"; fi; }
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then calc '%.2f' "$1 / $2"; else echo "n/a"; fi; }

workload() {      # workload LABEL MESSAGES SIZE SMTP-SOURCE-FLAGS
  local label=$1 n=$2 r ta=() tc=() pa=() pc=() t tcpu p pcpu
  SRC_SIZE=$3 SRC_FLAGS=$4
  for ((r = 1; r <= WL_RUNS; r++)); do
    over_time && break
    if [ "$have_tegami" = 1 ] && [ -n "${TG_PIDS[0]}" ]; then
      run_load "tegami $label" "$TG_PORT" "${TG_HANDLES[0]}" "$TG_DIR/mail/$BUSER" "$n"
      [ "$R_OK" = 1 ] && { ta+=("$R_ACCEPT"); tc+=("$R_CPUMS"); }
    fi
    if [ "$have_postfix" = 1 ] && [ "$PF_RUNNING" = 1 ]; then
      run_load "postfix $label" "$PF_PORT" "$PF_HANDLE" "$PFI/mail/$BUSER" "$n"
      [ "$R_OK" = 1 ] && { pa+=("$R_ACCEPT"); pc+=("$R_CPUMS"); }
    fi
  done
  SRC_SIZE="" SRC_FLAGS=""
  t=$(fig '%.0f' "${ta[@]}"); tcpu=$(fig '%.2f' "${tc[@]}")
  p=$(fig '%.0f' "${pa[@]}"); pcpu=$(fig '%.2f' "${pc[@]}")
  WL_LINES+=("$label: tegami ${t:-n/a} msg/s (${tcpu:-?} ms CPU/msg), postfix ${p:-n/a} msg/s (${pcpu:-?} ms CPU/msg), ratio tegami/postfix: $(ratio "$t" "$p")")
}

# lat_run NAME PORT MBOX RATE -> L_P50 L_P99 L_MAX L_RATE L_LOST (ms; msg/s; messages)
lat_run() {
  local name=$1 port=$2 mbox=$3 rate=$4 out
  L_P50=""; L_P99=""; L_MAX=""; L_RATE=""; L_LOST=""
  rm -f "$mbox"
  sync  # earlier runs' writeback stays out of the measured window
  out=$(timeout -k 5 "$RUN_TIMEOUT" "$PY" "$here/benchtool.py" latency "$port" "$rate" "$LAT_N" \
        "$SIZE" bench@localhost "$BUSER@localhost" 8 2>>"$LOGDIR/latency.log") || true
  read -r L_P50 L_P99 L_MAX L_RATE L_LOST <<<"$out"
  say "  $name at $rate msg/s offered: p50 ${L_P50:-?} ms, p99 ${L_P99:-?} ms, max ${L_MAX:-?} ms," \
      "${L_RATE:-?} msg/s answered, ${L_LOST:-?} not answered 250"
  bt wait-mbox "$mbox" "$LAT_N" "$DRAIN_TIMEOUT" "$STALL" >/dev/null  # drained before the next step
  [ "$L_P50" != nan ] || L_P50=""
}

if [ "$WL_RUNS" -gt 0 ] && ! over_time; then
  stamp "== workloads (each $WL_RUNS run(s) per server, alternating)"
  [ "$PERSIST_N" -gt 0 ] && ! over_time &&
    workload "persistent sessions ($((PERSIST_N / SESSIONS)) messages per connection)" "$PERSIST_N" "$SIZE" "-d"
  [ "$RCPT_N" -gt 0 ] && ! over_time &&
    workload "$SIZE bytes x 10 recipients" "$RCPT_N" "$SIZE" "-r 10"
  [ "$BIG_N" -gt 0 ] && ! over_time &&
    workload "$BIG_SIZE-byte bodies" "$BIG_N" "$BIG_SIZE" ""
  if [ "$LAT_N" -gt 0 ] && ! over_time; then
    tl=""; pl=""
    if [ "$have_tegami" = 1 ] && [ -n "${TG_PIDS[0]}" ]; then
      lat_run tegami "$TG_PORT" "$TG_DIR/mail/$BUSER" "$LAT_RATE"
      [ -n "$L_P50" ] && tl="p50 $L_P50 ms / p99 $L_P99 ms"; tp99=$L_P99
    fi
    if [ "$have_postfix" = 1 ] && [ "$PF_RUNNING" = 1 ]; then
      lat_run postfix "$PF_PORT" "$PFI/mail/$BUSER" "$LAT_RATE"
      [ -n "$L_P50" ] && pl="p50 $L_P50 ms / p99 $L_P99 ms"; pp99=$L_P99
    fi
    WL_LINES+=("end of data -> 250 at $LAT_RATE msg/s offered (8 persistent sessions, $SIZE bytes): tegami ${tl:-n/a}, postfix ${pl:-n/a}, p99 ratio postfix/tegami: $(ratio "${pp99:-}" "${tl:+${tp99:-}}")")
    if [ "$LAT_HIGH" -gt 0 ] && [ "$have_tegami" = 1 ] && [ -n "${TG_PIDS[0]}" ] && ! over_time; then
      lat_run tegami "$TG_PORT" "$TG_DIR/mail/$BUSER" "$LAT_HIGH"
      WL_LINES+=("end of data -> 250 at $LAT_HIGH msg/s offered, tegami alone: p50 ${L_P50:-?} ms / p99 ${L_P99:-?} ms (${L_RATE:-?} msg/s answered)")
    fi
  fi
fi

[ "$have_tegami" = 1 ] && stop_tegami 0
[ "$have_postfix" = 1 ] && stop_postfix

# Sessions at scale: a freshly started Tegami holding BENCH_IDLE_LARGE idle sessions.
TG_MEM_LARGE=""
if [ "$IDLE_LARGE" -gt 0 ] && [ "$have_tegami" = 1 ] && ! over_time; then
  stamp "== memory per idle session at $IDLE_LARGE sessions (tegami only)"
  if start_tegami 0 "$TG_DIR" "$TG_PORT"; then
    mem_test "tegami ($IDLE_LARGE)" "$TG_PORT" "${TG_HANDLES[0]}" "$IDLE_LARGE"; TG_MEM_LARGE=$M_KIB
  fi
  stop_tegami 0
  WL_LINES+=("memory per idle session at $IDLE_LARGE sessions (PSS): tegami ${TG_MEM_LARGE:-n/a} KiB (postfix not run: a process per session; at $IDLE: see the headline lines)")
fi

# The protocol path alone: Tegami with its queue in memory (not durable, not comparable).
TGM_A=(); TGM_C=()
if [ "$have_tegami" = 1 ] && [ "$MEM_RUNS" -gt 0 ] && ! over_time; then
  stamp "== tegami with queue_store=memory (no durable store; not comparable with Postfix)"
  if start_tegami 1 "$TGM_DIR" "$TGM_PORT" queue_store=memory; then
    [ "$WARMUP" -gt 0 ] &&
      run_load "tegami-memory warm-up" "$TGM_PORT" "${TG_HANDLES[1]}" "$TGM_DIR/mail/$BUSER" "$WARMUP" 1
    for ((run = 1; run <= MEM_RUNS; run++)); do
      over_time && break
      run_load tegami-memory "$TGM_PORT" "${TG_HANDLES[1]}" "$TGM_DIR/mail/$BUSER" "$MESSAGES"
      [ "$R_OK" = 1 ] && { TGM_A+=("$R_ACCEPT"); TGM_C+=("$R_CPUMS"); }
    done
  else
    say "  tegami with queue_store=memory did not start (see $TGM_DIR/master.log)"
  fi
  stop_tegami 1
fi

# ---------------------------------------------------------------- summary

figures() {       # figures NAME REASON MEM ACCEPT... -- CPU...
  local name=$1 reason=$2 mem=$3
  shift 3
  local a=() c=() x seen=0
  for x in "$@"; do
    if [ "$x" = -- ]; then seen=1; elif [ "$seen" = 0 ]; then a+=("$x"); else c+=("$x"); fi
  done
  if [ -n "$reason" ]; then say "$name: $reason"; return; fi
  local rate cpu
  if [ "${#a[@]}" -gt 0 ]; then
    rate=$(calc '%.0f' "$(median "${a[@]}")"); cpu=$(calc '%.2f' "$(median "${c[@]}")")
  else
    rate="no successful run:"; cpu="?"
  fi
  say "$name: $rate msg/s, $cpu ms CPU/msg, ${mem:-?} KiB/idle session"
}

stamp "== summary"
say "work: both servers durably queue each message before the 250 (Postfix fsyncs its queue"
say "      file, Tegami commits queue_store=bdb), then deliver it into the local mbox of user"
say "      $BUSER; msg/s = accepted by smtp-source ($SESSIONS sessions, new connection per"
say "      message, $SIZE-byte bodies) over ${#TG_A[@]} tegami / ${#PF_A[@]} postfix run(s), medians;"
say "      CPU/msg = all of the server's processes until the last message is delivered;"
say "      KiB/idle session = PSS growth with $IDLE idle sessions open / sessions held."
say "logs: $LOGDIR, $TG_DIR/master.log, $PFI/maillog"
if [ "${#TGM_A[@]}" -gt 0 ]; then
  say "tegami (queue_store=memory, not durable, not comparable): $(calc '%.0f' "$(median "${TGM_A[@]}")") msg/s," \
      "$(calc '%.2f' "$(median "${TGM_C[@]}")") ms CPU/msg"
fi
# Accepting fast and delivering later is not the same as finishing fast: the rate until
# the last message was in the mailbox, beside the headline.
e2e=""
[ "${#TG_E[@]}" -gt 0 ] && e2e="tegami $(calc '%.0f' "$(median "${TG_E[@]}")") msg/s"
[ "${#PF_E[@]}" -gt 0 ] && e2e="${e2e:+$e2e, }postfix $(calc '%.0f' "$(median "${PF_E[@]}")") msg/s"
[ -n "$e2e" ] && say "end to end (until the last message is in the mbox), medians: $e2e"
say "$PERF_NOTE"
[ "$have_tegami" = 1 ] && [ "${#TG_A[@]}" = 0 ] && tg_reason="" # printed as a failed line
figures tegami "$tg_reason" "$TG_MEM" "${TG_A[@]}" -- "${TG_C[@]}"
figures postfix "$pf_reason" "$PF_MEM" "${PF_A[@]}" -- "${PF_C[@]}"
for l in "${WL_LINES[@]}"; do say "$l"; done
if [ "${#TG_A[@]}" -gt 0 ] && [ "${#PF_A[@]}" -gt 0 ]; then
  say "accept ratio tegami/postfix: $(calc '%.2f' "$(median "${TG_A[@]}") / $(median "${PF_A[@]}")")"
else
  say "accept ratio tegami/postfix: n/a (both servers need a successful run)"
fi
# The submission case (STARTTLS + AUTH PLAIN on the MSA vs Postfix with Cyrus sasldb).
if [ "${BENCH_SUBMISSION:-1}" = 1 ]; then BENCH_WORK=$WORK TEGAMI_BIN=$BINDIR bash "$here/submission.sh" || say "submission case: not measured"; fi
# The relay case (tests/bench/relay.sh, its own servers and smtp-sink): prints "relay ratio tegami/postfix".
BENCH_WORK=$WORK TEGAMI_BIN=$BINDIR bash "$here/relay.sh" || say "relay: not measured (exit $?; see $WORK/relay)"
# Big bodies at once (tests/bench/bigbodies.sh: 200 clients x 10 MB, about a minute a
# server): peak RSS of smtpd, queue and the whole suite, "big bodies: ..." lines.
if [ "${BENCH_BIG:-1}" = 1 ]; then
  BENCH_WORK=$WORK TEGAMI_BIN=$BINDIR bash "$here/bigbodies.sh" || say "big bodies: not measured or failed (exit $?; see $WORK/bigbodies)"
fi
