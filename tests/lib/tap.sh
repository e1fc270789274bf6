# tap.sh - sourced by the shell test scripts: "ok - ..." / "not ok - ..." lines with the
# detail of a failure indented under it, and finish, which prints the closing
# "N passed, N failed" line and exits non-zero if anything failed.
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {  # name [detail]
  failed=$((failed + 1)); echo "not ok - $1"
  [ $# -gt 1 ] && printf '%s\n' "$2" | tail -n 25 | sed 's/^/#   /'
  return 0
}
# check NAME DETAIL COMMAND... - ok when COMMAND succeeds, else not ok with DETAIL.
check() {
  local name=$1 detail=$2; shift 2
  if "$@"; then ok "$name"; else not_ok "$name" "$detail"; fi
}
# expect_rc NAME WANT-RC WANT-TEXT COMMAND... - ok when COMMAND exits WANT-RC and, when
# WANT-TEXT is not empty, what it printed (stdout and stderr) holds WANT-TEXT; else not ok
# with that output. stdin is the file $IN (default /dev/null); with EXPECT_VIA set (a
# function such as as_caller) the command runs as EXPECT_VIA COMMAND...
expect_rc() {
  local name=$1 want=$2 text=$3 out rc; shift 3
  out=$(${EXPECT_VIA:+"$EXPECT_VIA"} "$@" 2>&1 <"${IN:-/dev/null}"); rc=$?
  if [ "$rc" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" <<<"$out"; }; then
    ok "$name"
  else
    not_ok "$name (exit $rc, want $want)" "$out"
  fi
}
# stop_master PID - SIGTERM, up to 15 s for a clean stop, then SIGKILL its process group.
stop_master() {
  local pid=$1 _
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}

# greets PORT [PID] - waits (at most 10 s) for the SMTP greeting "220" on 127.0.0.1:PORT;
# gives up at once if process PID (the master under test) has ended.
greets() {
  local port=$1 pid=${2:-} line _
  for _ in $(seq 1 50); do
    if { exec 9<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      line=""
      read -r -t 3 line <&9 || true
      printf 'QUIT\r\n' >&9 2>/dev/null
      exec 9>&-
      [ "${line:0:3}" = 220 ] && return 0
    fi
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}

# tap_relay NAME - reads a helper program's "ok - ..." / "not ok - ..." lines (and its
# "# ..." notes) from stdin into this script's results; its own "N passed, N failed"
# line is dropped, and a last line "exit N" with N != 0 counts as a failure when no
# result said so (a helper that died or hit its time bound).
tap_relay() {
  local name=$1 line
  while IFS= read -r line; do
    case $line in
      "ok - "*) ok "${line#ok - }" ;;
      "not ok - "*) not_ok "${line#not ok - }" ;;
      [0-9]*" passed, "*" failed") ;;
      "exit 0") ;;
      "exit "*) [ "$failed" = 0 ] && not_ok "$name ended with status ${line#exit } (124: over its time bound)" ;;
      *) echo "$line" ;;
    esac
  done
}

# smtp_send PORT RCPT TOKEN [SIZE] - one message to RCPT through 127.0.0.1:PORT (smtplib),
# subject TOKEN and a body of about SIZE octets (a line when no SIZE); prints the queue ID
# from the 250 reply.
smtp_send() {
  python3 - "$1" "$2" "$3" "${4:-0}" <<'PY'
import smtplib, sys
port, rcpt, token, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = "".join("%s %06d %s\r\n" % (token, i, "y" * 60) for i in range(size // 75 + 1)) \
    if size else "body %s\r\n" % token
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("test.example.org")
s.mail("test@example.org")
s.rcpt(rcpt)
code, msg = s.data("Subject: %s\r\n\r\n%s" % (token, body))
print(msg.decode().split()[-1])
s.quit()
PY
}
# queue_result LOG QID - the queue's last delivery line (the one with delay=) for QID in LOG.
queue_result() { grep "tegami/queue.*$2: to=<" "$1" | grep 'delay=' | tail -n 1; }
# wait_queue_result LOG QID - waits (at most 20 s) for that line.
wait_queue_result() {
  local _
  for _ in $(seq 1 100); do
    [ -n "$(queue_result "$1" "$2")" ] && return 0
    sleep 0.2
  done
  return 1
}
