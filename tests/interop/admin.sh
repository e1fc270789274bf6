#!/bin/bash
# admin.sh - `tegami start|stop|reload|status|check|flush` as init scripts and admins
# run them, with the exit codes scripts test (LSB: status 0/1/3, reload 7 when stopped;
# 64 usage, 69 flush without a queue control socket, 78 bad configuration), a stale pid
# file whose pid belongs to another program (never signalled), a master that cannot
# start, and log_file: every daemon's lines in that file, in syslog's layout, whole.
# Env: TEGAMI_BIN (built programs), TEGAMI_SRC (source tree). Prints "ok - ..." /
# "not ok - ..." and, last, "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
DIR=$(mktemp -d /tmp/tegami-admin.XXXXXX) || exit 1
chmod 755 "$DIR"
SLEEPER=""
cleanup() {
  [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
  if [ -f "$DIR/master.pid" ]; then
    "$BIN/tegami" -c "$DIR/tegami.conf" stop >/dev/null 2>&1
  fi
  [ -n "${TEGAMI_KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$SRC/tests/lib/tap.sh"

PORT=$($HELPER freeport)
LOG=$DIR/maillog
CONF=$(sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "log_file=$LOG") || { not_ok "mkconf.sh"; finish; }
T=("$BIN/tegami" -c "$CONF")
printf 'hostname = h\nbogus_key = 1\n' > "$DIR/bad.conf"

# ---- bad inputs
expect_rc "no verb is EX_USAGE" 64 "usage: tegami" "$BIN/tegami"
expect_rc "unknown verb is EX_USAGE" 64 "unknown command \"restart-all\"" "${T[@]}" restart-all
expect_rc "two verbs are EX_USAGE" 64 "usage" "${T[@]}" start stop
for v in start stop reload status check flush; do
  expect_rc "$v with a bad configuration is EX_CONFIG naming file:line" 78 "$DIR/bad.conf:2" "$BIN/tegami" -c "$DIR/bad.conf" $v
done
expect_rc "missing configuration file is EX_CONFIG" 78 "No such file" "$BIN/tegami" -c "$DIR/none.conf" status
sh "$SRC/scripts/mkconf.sh" "$DIR/rel" "$PORT" "$BIN" "log_file=relative.log" >/dev/null
expect_rc "start: a relative log_file is refused by master (78)" 78 "not an absolute path" "$BIN/tegami" -c "$DIR/rel/tegami.conf" start

# ---- stopped
expect_rc "status when never started: 3 (LSB not running)" 3 "not running" "${T[@]}" status
expect_rc "stop when not running: 0" 0 "not running" "${T[@]}" stop
expect_rc "reload when not running: 7 (LSB)" 7 "not running" "${T[@]}" reload
expect_rc "check: a good configuration is 0" 0 "" "${T[@]}" check
out=$("${T[@]}" flush 2>&1); rc=$?
[ $rc != 0 ] && ok "flush when stopped fails (exit $rc: $(head -c 80 <<<"$out"))" || not_ok "flush when stopped" "$out"

# A stale pid file naming a live process that is not master.
sleep 60 & SLEEPER=$!
echo "$SLEEPER" > "$DIR/master.pid"
expect_rc "status with a stale pid file: 1 (LSB dead, pid file left)" 1 "is another program, not tegami-master" "${T[@]}" status
expect_rc "stop with a stale pid file does not signal that pid" 0 "not running" "${T[@]}" stop
kill -0 "$SLEEPER" 2>/dev/null && ok "the unrelated process still runs" || not_ok "the unrelated process still runs"
kill "$SLEEPER"; SLEEPER=""; rm -f "$DIR/master.pid"

# ---- running
expect_rc "start: 0 once the daemons run and the MTA greets" 0 "started (master pid" "${T[@]}" start
greets "$PORT" && ok "the MTA greets right after start returned" || not_ok "MTA greets after start"
out=$("${T[@]}" status); rc=$?
if [ $rc = 0 ] && grep -q "running: master pid [0-9]* since 20" <<<"$out" &&
   grep -q "tegami-smtpd *pid [0-9]* *since" <<<"$out" && grep -q "tegami-queue" <<<"$out" &&
   grep -q "tegami-local" <<<"$out"; then
  ok "status: 0, master and each daemon with pid and start time"
else
  not_ok "status while running (exit $rc)" "$out"
fi
MPID=$(cat "$DIR/master.pid")
expect_rc "start when running: 0, nothing started" 0 "already running (master pid $MPID)" "${T[@]}" start
expect_rc "reload: 0" 0 "reload requested" "${T[@]}" reload
for _ in $(seq 1 50); do grep -q "tegami/smtpd\[[0-9]*\]: configuration reloaded" "$LOG" 2>/dev/null && break; sleep 0.1; done
grep -q "tegami/master\[$MPID\]: reloading" "$LOG" && grep -q "tegami/smtpd\[[0-9]*\]: configuration reloaded" "$LOG" &&
  ok "reload reaches master and the daemons (seen in log_file)" || not_ok "reload logged" "$(tail -5 "$LOG")"
# A second master for the same configuration is refused: start is not fooled.
expect_rc "tegami-master refuses a second instance" 75 "another master is running" "$BIN/tegami-master" -c "$CONF" -f
# flush = sendmail -q: 0 once the queue accepted the request, 69 from a sendmail that
# cannot ask the queue yet (its message says so).
out=$("${T[@]}" flush 2>&1); rc=$?
if [ $rc = 0 ] || { [ $rc = 69 ] && grep -q "not available" <<<"$out"; }; then
  ok "flush while running: sendmail -q's answer (exit $rc)"
else
  not_ok "flush while running (exit $rc)" "$out"
fi
expect_rc "stop: 0 once master has gone" 0 "stopped" "${T[@]}" stop
kill -0 "$MPID" 2>/dev/null && not_ok "master process gone after stop" || ok "master process gone after stop"
expect_rc "status after stop: 3" 3 "not running" "${T[@]}" status

# ---- log_file
for d in master smtpd queue local; do
  grep -q "tegami/$d\[[0-9]*\]: " "$LOG" && ok "log_file has $d's lines" || not_ok "log_file has $d's lines" "$(head -5 "$LOG")"
done
bad=$(grep -Ecv '^[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+ tegami/[a-z]+\[[0-9]+\]: ' "$LOG")
[ "$bad" = 0 ] && ok "every log_file line is whole, in syslog's layout ($(wc -l < "$LOG") lines)" ||
  not_ok "log_file lines in syslog's layout ($bad bad)" "$(grep -Ev '^[A-Z][a-z]{2} ' "$LOG" | head -5)"
# Master cannot start (its port is taken): start says so, non-zero.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(20)' "$PORT" "$DIR/blocker.ready" &
BLOCKER=$!
for _ in $(seq 1 100); do [ -f "$DIR/blocker.ready" ] && break; sleep 0.1; done
if [ -f "$DIR/blocker.ready" ]; then
  out=$("${T[@]}" start 2>&1); rc=$?
  [ $rc != 0 ] && grep -q "master did not start" <<<"$out" && ok "start: master failing to bind is reported, exit $rc" ||
    { not_ok "start with the port taken (exit $rc)" "$out"; "${T[@]}" stop >/dev/null 2>&1; }
  expect_rc "status after a failed start: 1, the pid file left by the dead master" 1 "has exited" "${T[@]}" status
else
  not_ok "a blocker holds the MTA port"
fi
kill "$BLOCKER" 2>/dev/null
rm -f "$DIR/master.pid"

finish
