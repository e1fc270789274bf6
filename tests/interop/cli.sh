#!/bin/bash
# cli.sh - the command-line programs as scripts and init systems call them: sendmail's
# daemon and check modes, its refusals and exit codes (sysexits), tegami-config's print,
# check and man-page modes, and tegami-master's refusals (bad config, second master).
# Env: TEGAMI_BIN (built programs), TEGAMI_SRC (source tree). Prints "ok - ..." /
# "not ok - ..." and, last, "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
DIR=$(mktemp -d /tmp/tegami-cli.XXXXXX)
chmod 755 "$DIR"
MASTER_PID=""
cleanup() {
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null && sleep 0.5
  [ -f "$DIR/master.pid" ] && kill -9 "$(cat "$DIR/master.pid")" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

. "$SRC/tests/lib/tap.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT=$(free_port)
CONF=$(sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN")
printf 'hostname = h.example\nbogus_key = 1\n' > "$DIR/bad.conf"
printf 'hostname = h.example\nmessage_size_limit = 12q\n' > "$DIR/badvalue.conf"

# Bad inputs first.
expect_rc "sendmail: unknown flag is EX_USAGE" 64 "illegal option -- Z" "$BIN/sendmail" -Z
expect_rc "sendmail -bC: unknown key is EX_CONFIG with file:line" 78 "$DIR/bad.conf:2:" "$BIN/sendmail" -bC -C "$DIR/bad.conf"
expect_rc "sendmail -bd: bad config refused before starting" 78 "bad size" "$BIN/sendmail" -bd -C "$DIR/badvalue.conf"
expect_rc "sendmail without recipients is EX_USAGE" 64 "Recipient names must be specified" "$BIN/sendmail" -C "$CONF" -i
expect_rc "sendmail -ba: refused as unsupported" 64 "not supported" "$BIN/sendmail" -ba
expect_rc "tegami-config: unknown key is EX_CONFIG" 78 "unknown key \"bogus_key\"" "$BIN/tegami-config" -c "$DIR/bad.conf"
expect_rc "tegami-config: missing file is EX_CONFIG" 78 "No such file" "$BIN/tegami-config" -c "$DIR/none.conf"
expect_rc "tegami-config: unknown option is EX_USAGE" 64 "usage" "$BIN/tegami-config" -Z
expect_rc "tegami-config: unknown key asked for" 64 "unknown key" "$BIN/tegami-config" -c "$CONF" no_such_key
expect_rc "tegami-master: bad value is EX_CONFIG" 78 "$DIR/badvalue.conf:2:" "$BIN/tegami-master" -c "$DIR/badvalue.conf" -f

# Good inputs.
expect_rc "sendmail -bC: good config" 0 "configuration ok" "$BIN/sendmail" -bC -C "$CONF"
expect_rc "sendmail -d0.1 prints the version" 0 "Version" "$BIN/sendmail" -d0.1
expect_rc "tegami-config -q checks quietly" 0 "" "$BIN/tegami-config" -q -c "$CONF"
expect_rc "tegami-config -n shows what differs" 0 "mta_listen = 127.0.0.1:$PORT" "$BIN/tegami-config" -n -c "$CONF"
expect_rc "tegami-config KEY prints one key" 0 "hostname = localhost.localdomain" "$BIN/tegami-config" -c "$CONF" hostname
expect_rc "tegami-config -d prints the defaults" 0 "queue_dir = /var/spool/tegami" "$BIN/tegami-config" -d
expect_rc "tegami-config -m prints the man page" 0 ".TH TEGAMI.CONF 5" "$BIN/tegami-config" -m

# sendmail -bd starts master in the background; a second master is refused.
"$BIN/sendmail" -bd -C "$CONF" >/dev/null 2>&1
rc=$?
if [ $rc = 0 ] && greets "$PORT" && [ -f "$DIR/master.pid" ]; then
  MASTER_PID=$(cat "$DIR/master.pid")
  ok "sendmail -bd starts master in the background (pid $MASTER_PID)"
else
  not_ok "sendmail -bd starts master in the background (exit $rc)"
fi
expect_rc "a second master is refused (EX_TEMPFAIL)" 75 "another master is running" "$BIN/tegami-master" -c "$CONF" -f
if [ -n "$MASTER_PID" ]; then
  kill "$MASTER_PID"
  for _ in $(seq 1 100); do kill -0 "$MASTER_PID" 2>/dev/null || break; sleep 0.1; done
  if ! kill -0 "$MASTER_PID" 2>/dev/null && [ ! -f "$DIR/master.pid" ]; then
    ok "SIGTERM stops master and removes its pid file"; MASTER_PID=""
  else
    not_ok "SIGTERM stops master and removes its pid file"
  fi
fi

finish
