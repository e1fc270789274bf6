#!/bin/bash
# deferred.sh - intake rate and queue memory with a large deferred queue (issue 14 item 0):
# the same run of smtp-source into the real suite twice, first with an empty queue, then
# with DEFERRED recipients already deferred in the store (written by build/tests/queue-fill
# through the store's own put(), retries spread over the next day). The messages sent go
# to a domain whose mailertable route defers them at once (error:4.4.1), so they join the
# deferred queue and local delivery takes no CPU from intake. Prints for each run: start
# time to the greeting, smtp-source's accept rate, tegami-queue's VmRSS and VmHWM, and the
# messages the queue holds in memory at the end (from its log).
#
# Usage: tests/bench/deferred.sh [DEFERRED [INTAKE [RCPTS_PER_MESSAGE]]]
#   defaults 1000000 20000 1. Env: BENCH_WORK (default ./bench-work; smtp-source comes
#   from the Postfix package bench.sh extracts there, fetched if missing), BENCH_SESSIONS
#   (20), BENCH_SIZE (1024), TEGAMI_BIN. Bounded: each smtp-source run has 300 s.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEFERRED=${1:-1000000}
INTAKE=${2:-20000}
PER=${3:-1}
WORK=${BENCH_WORK:-$top/bench-work}
SESSIONS=${BENCH_SESSIONS:-20}
SIZE=${BENCH_SIZE:-1024}
BINDIR=${TEGAMI_BIN:-$top/build/bin}
FILL=$top/build/tests/queue-fill
PFX=$WORK/postfix-pkg
SMTP_SOURCE=$PFX/usr/sbin/smtp-source
for n in "$DEFERRED" "$INTAKE" "$PER"; do
  case $n in '' | *[!0-9]*) echo "deferred.sh: counts must be numbers" >&2; exit 64 ;; esac
done
[ "$PER" -ge 1 ] && [ "$DEFERRED" -ge "$PER" ] || { echo "deferred.sh: bad counts" >&2; exit 64; }
mkdir -p "$WORK"
(cd "$top" && make -s -j2 build/tests/queue-fill) || exit 70
if [ ! -x "$SMTP_SOURCE" ]; then
  mkdir -p "$WORK/dl"
  (cd "$WORK/dl" && rm -f postfix_*.deb && timeout 300 apt-get -q download postfix >/dev/null) ||
    { echo "deferred.sh: apt-get download postfix failed" >&2; exit 69; }
  rm -rf "$PFX.tmp" && dpkg -x "$WORK"/dl/postfix_*.deb "$PFX.tmp" && mv "$PFX.tmp" "$PFX"
fi
DIR=$WORK/deferred
PORT=$(python3 "$here/benchtool.py" free-port 27000)
MASTER=""

cleanup() {
  [ -n "$MASTER" ] && kill -TERM "$MASTER" 2>/dev/null && wait "$MASTER" 2>/dev/null
  MASTER=""
}
trap cleanup EXIT

start() {
  local t0 t1
  t0=$(python3 "$here/benchtool.py" now)
  "$BINDIR/tegami-master" -c "$DIR/tegami.conf" -f >>"$DIR/master.log" 2>&1 &
  MASTER=$!
  python3 "$here/benchtool.py" wait-banner "$PORT" 600 ||
    { echo "deferred.sh: no greeting; $(tail -3 "$DIR/master.log")" >&2; exit 1; }
  t1=$(python3 "$here/benchtool.py" now)
  START_S=$(python3 -c "print('%.2f' % ($t1 - $t0))")
}

stop() {
  kill -TERM "$MASTER" 2>/dev/null
  wait "$MASTER" 2>/dev/null
  MASTER=""
}

queue_pid() {
  local p
  for p in $(ps -o pid= --ppid "$MASTER"); do
    grep -q tegami-queue "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return; }
  done
}

mem() {  # VmRSS and VmHWM of tegami-queue, MiB
  local p
  p=$(queue_pid)
  awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "RSS %.1f MiB (peak %.1f MiB)", r / 1024, h / 1024 }' \
    "/proc/$p/status"
}

intake() {  # -> RATE (msg/s accepted)
  local t0 t1
  t0=$(python3 "$here/benchtool.py" now)
  LD_LIBRARY_PATH=$PFX/usr/lib/postfix timeout -k 5 300 "$SMTP_SOURCE" -s "$SESSIONS" \
    -m "$INTAKE" -l "$SIZE" -f bench@localhost -t someone@deferred.test -M localhost \
    "127.0.0.1:$PORT" >"$DIR/smtp-source.log" 2>&1 || { echo "deferred.sh: smtp-source failed:" \
      "$(tail -1 "$DIR/smtp-source.log")" >&2; exit 1; }
  t1=$(python3 "$here/benchtool.py" now)
  RATE=$(python3 -c "print('%.0f' % ($INTAKE / ($t1 - $t0)))")
}

run() {  # run LABEL
  start
  local before
  before=$(mem)
  intake
  sleep 2
  echo "$1: start to greeting ${START_S} s; before intake $before; $INTAKE messages accepted" \
    "at $RATE msg/s; after intake $(mem)"
  stop
}

rm -rf "$DIR"
mkdir -p "$DIR"
echo "deferred.test error:4.4.1:451 4.4.1 deferred for the benchmark" >"$DIR/mailertable"
chmod 755 "$DIR"
chmod 644 "$DIR/mailertable"
"$top/scripts/mkconf.sh" "$DIR/suite" "$PORT" "$BINDIR" "mailertable=text:$DIR/mailertable" \
  "queue_retry_min=3600s" "queue_retry_max=3600s" "trusted_networks=127.0.0.0/8" >/dev/null
DIR=$DIR/suite
run "empty queue"
owner=$(stat -c %u:%g "$DIR/spool")
t0=$(python3 "$here/benchtool.py" now)
"$FILL" "$DIR/spool" $((DEFERRED / PER)) "$PER" "$SIZE" || exit 1
t1=$(python3 "$here/benchtool.py" now)
chown -R "$owner" "$DIR/spool"
echo "filled: $DEFERRED deferred recipients ($((DEFERRED / PER)) messages) in" \
  "$(python3 -c "print('%.0f' % ($t1 - $t0))") s; store $(du -sh "$DIR/spool" | cut -f1)"
run "$DEFERRED deferred"
grep -c "status=deferred" "$DIR/master.log" | sed 's/^/deferred log lines: /'
