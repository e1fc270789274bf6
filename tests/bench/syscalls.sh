#!/bin/bash
# syscalls.sh - system calls per message of tegami-smtpd and tegami-queue, each counted
# with `strace -c -f` while Postfix's smtp-source sends a bounded load to a fresh sandbox.
#
# Usage: tests/bench/syscalls.sh [MESSAGES [SIZE [key=value...]]]
#   MESSAGES (default 1000), SIZE in bytes (default 1024), extra tegami.conf lines
#   (e.g. smtpd_data_buffer_size=1m to hold bodies whole). 20 sessions, a connection per
#   message. Needs strace (Debian: strace) and smtp-source from tests/bench/bench.sh's
#   extracted Postfix package (bench-work/postfix-pkg; run `make bench` once, or set
#   BENCH_WORK). strace slows the traced processes: the counts are exact, the time is not.
# Prints, per process, the calls per message by system call, largest first.
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
N=${1:-1000}
SIZE=${2:-1024}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
WORK=${BENCH_WORK:-$top/bench-work}
BINDIR=${BENCH_BINDIR:-$top/build/bin}
PF=$WORK/postfix-pkg
bt() { python3 "$here/benchtool.py" "$@"; }

case $N$SIZE in *[!0-9]*) echo "syscalls: MESSAGES and SIZE are numbers" >&2; exit 2 ;; esac
[ -x "$PF/usr/sbin/smtp-source" ] || { echo "syscalls: no $PF/usr/sbin/smtp-source (run make bench once)" >&2; exit 2; }
command -v strace >/dev/null || { echo "syscalls: strace is not installed" >&2; exit 2; }
RCPT=$(id -un)
# As root the mail goes to tgbench (root's own is refused), made here as bench.sh makes it.
if [ "$(id -u)" = 0 ]; then
  sh "$top/scripts/accounts.sh" >/dev/null
  getent passwd tgbench >/dev/null ||
    useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin tgbench
  RCPT=tgbench
fi

dir=$(mktemp -d /tmp/tegami-syscalls.XXXXXX)
chmod 755 "$dir"
MPID="" S1="" S2=""
cleanup() {
  set +e
  for p in $S1 $S2; do kill -INT "$p" 2>/dev/null; done
  [ -n "$MPID" ] && { kill -TERM "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; }
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(bt free-port 4790)
"$top/scripts/mkconf.sh" "$dir/tg" "$port" "$BINDIR" "$@" >/dev/null
"$BINDIR/tegami-master" -c "$dir/tg/tegami.conf" -f >"$dir/master.log" 2>&1 &
MPID=$!
bt wait-banner "$port" 30 || { echo "syscalls: tegami did not start"; tail -5 "$dir/master.log"; exit 1; }
smtpd="" queue=""
for k in $(cat "/proc/$MPID/task/$MPID/children"); do
  case $(cat "/proc/$k/comm") in
    tegami-smtpd) smtpd=$k ;;
    tegami-queue) queue=$k ;;
  esac
done
[ -n "$smtpd" ] && [ -n "$queue" ] || { echo "syscalls: smtpd or queue not found"; exit 1; }
src() {
  LD_LIBRARY_PATH=$PF/usr/lib/postfix timeout 300 "$PF/usr/sbin/smtp-source" -s 20 -m "$1" \
    -l "$SIZE" -f bench@localhost -t "$RCPT@localhost" -M localhost "127.0.0.1:$port"
}
src 100  # warm-up: caches, the first log file
sleep 1
strace -c -f -p "$smtpd" -o "$dir/smtpd.strace" 2>/dev/null & S1=$!
strace -c -f -p "$queue" -o "$dir/queue.strace" 2>/dev/null & S2=$!
sleep 1
src "$N"
sleep 2  # the last replies and the deliveries' state changes
kill -INT "$S1" "$S2"; wait "$S1" "$S2" 2>/dev/null || true
S1="" S2=""
echo "syscalls: $N messages of $SIZE bytes, 20 sessions, a connection per message${*:+; $*}"
for f in smtpd queue; do
  echo "== tegami-$f: calls per message"
  awk -v n="$N" 'NR > 2 && $0 !~ /^-/ && NF >= 4 {
      calls = ($4 ~ /^[0-9]+$/) ? $4 : 0
      printf "  %-16s %8.2f\n", ($NF == "total" ? "TOTAL" : $NF), calls / n
    }' "$dir/$f.strace" | sort -k2 -nr
done
