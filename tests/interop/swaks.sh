#!/bin/bash
# swaks.sh - interop with swaks, a real third-party SMTP client: plain and pipelined
# transactions, refused recipients (unknown user, relaying), an 8-bit body and a large
# message, against the real suite in a sandbox on 127.0.0.1; checks the delivered bytes.
# Env: TEGAMI_BIN (built programs), TEGAMI_SRC (source tree). Prints "ok - ..." /
# "not ok - ..." and, last, "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
MASTER=""

. "$SRC/tests/lib/tap.sh"
check() {  # name condition-command...
  local name=$1; shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

cleanup() {
  if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
    kill -TERM "$MASTER" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$MASTER" 2>/dev/null
  fi
  [ -n "${TEGAMI_KEEP:-}" ] || rm -rf "$DIR"
}

if ! command -v swaks >/dev/null 2>&1; then
  not_ok "swaks is installed"
  finish
fi
DIR=$(mktemp -d /tmp/tegami-swaks.XXXXXX) || exit 1
chmod 755 "$DIR"
trap cleanup EXIT
trap 'exit 1' INT TERM
USER_TO=$($HELPER user)
PORT=$($HELPER freeport)
printf 'postmaster: %s\n' "$USER_TO" >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" >/dev/null || { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
MBOX=$DIR/mail/$USER_TO
SW=(timeout 30 swaks --server "127.0.0.1:$PORT" --helo client.example.org --timeout 20)

if ! greets "$PORT" "$MASTER"; then
  not_ok "suite greets on 127.0.0.1:$PORT" "$(cat "$DIR/master.log")"
  finish
fi
ok "suite greets on 127.0.0.1:$PORT"

# Waits (at most 20 s) until the mailbox holds token; then the message must be there once.
delivered() {  # token
  local i
  for i in $(seq 1 100); do
    grep -q -F -- "$1" "$MBOX" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# The message holding token, as delivered, equals the expected file (LF line ends, From_
# lines quoted, and the empty line that ends each mbox entry). swaks --data sends the
# file and then "\r\n.\r\n", so each message gains one empty line at its end.
same_bytes() {  # token expected-file
  $HELPER extract "$MBOX" "$1" >"$DIR/got" 2>"$DIR/extract.err" && cmp -s "$DIR/got" "$2"
}
show_diff() { diff <(od -c "$2" | head -60) <(od -c "$DIR/got" | head -60) || true; cat "$DIR/extract.err"; }

# ---- refusals

out=$("${SW[@]}" --to "no-such-user-tg1@localhost" --from a@example.org 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q '<\*\* *550 5\.1\.1' <<<"$out"; then
  ok "unknown local user refused with 550 5.1.1"
else
  not_ok "unknown local user refused with 550 5.1.1 (swaks exit $rc)" "$out"
fi

out=$("${SW[@]}" --to "someone@example.com" --from a@example.org 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q '<\*\* *550 5\.7\.1' <<<"$out"; then
  ok "other domain refused with 550 5.7.1 (no relay)"
else
  not_ok "other domain refused with 550 5.7.1 (swaks exit $rc)" "$out"
fi

out=$("${SW[@]}" --pipeline --to "$USER_TO@localhost,no-such-user-tg2@localhost" \
  --from a@example.org --header "Subject: swaks-mixed-rcpt" --body "mixed recipients" 2>&1)
rc=$?
if grep -q '550 5\.1\.1' <<<"$out" && grep -q 'queued as' <<<"$out" && delivered swaks-mixed-rcpt; then
  ok "pipelined with one unknown recipient: the good one is delivered"
else
  not_ok "pipelined with one unknown recipient: the good one is delivered (swaks exit $rc)" "$out"
fi

# ---- plain transaction, exact bytes

cat >"$DIR/plain.eml" <<EOF
From: Sender <a@example.org>
To: $USER_TO@localhost
Subject: swaks-plain-token
Message-Id: <swaks-plain@example.org>

first line
From the start of a line
.leading dot
..two dots
.
last line
EOF
{
  sed -e 's/^From the/>From the/' "$DIR/plain.eml"
  printf '\n\n'
} >"$DIR/plain.want"
out=$("${SW[@]}" --to "$USER_TO@localhost" --from a@example.org --data "$DIR/plain.eml" 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -Eq '<- *250 2\.0\.0 Ok: queued as [0-9A-Za-z]{16}$' <<<"$out"; then
  ok "plain message accepted (250 2.0.0 Ok: queued as ID)"
else
  not_ok "plain message accepted (swaks exit $rc)" "$out"
fi
if delivered swaks-plain-token && same_bytes swaks-plain-token "$DIR/plain.want"; then
  ok "plain message delivered byte for byte (dot-unstuffed, From_ quoted, LF)"
else
  not_ok "plain message delivered byte for byte" "$(show_diff x "$DIR/plain.want")"
fi
qid=$(sed -nE 's/.*queued as ([0-9A-Za-z]{16})$/\1/p' <<<"$out" | head -n 1)
for _ in $(seq 1 50); do grep -q "$qid: to=<$USER_TO@localhost>, relay=local" "$DIR/master.log" && break; sleep 0.1; done
if [ -n "$qid" ] && grep -q "$qid: from=<a@example.org>" "$DIR/master.log" &&
  grep "$qid: to=<$USER_TO@localhost>, relay=local" "$DIR/master.log" | grep -q 'status=sent'; then
  ok "log names the queue id in from= and to=... status=sent"
else
  not_ok "log names the queue id ($qid) in from= and to=... status=sent" "$(tail -n 20 "$DIR/master.log")"
fi

# ---- pipelining

out=$("${SW[@]}" --pipeline --to "$USER_TO@localhost,postmaster@localhost" --from b@example.org \
  --header "Subject: swaks-pipelined-token" --body "pipelined body" 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q 'PIPELINING' <<<"$out" && grep -q 'queued as' <<<"$out"; then
  ok "pipelined transaction accepted"
else
  not_ok "pipelined transaction accepted (swaks exit $rc)" "$out"
fi
check "pipelined message delivered" delivered swaks-pipelined-token

# ---- 8-bit body

printf 'From: a@example.org\nTo: %s@localhost\nSubject: swaks-8bit-token\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\nd\xc3\xa9j\xc3\xa0 vu \xe6\x89\x8b\xe7\xb4\x99\nlatin-1 byte \xe9 and \xff\n' \
  "$USER_TO" >"$DIR/8bit.eml"
{ cat "$DIR/8bit.eml"; printf '\n\n'; } >"$DIR/8bit.want"
out=$("${SW[@]}" --to "$USER_TO@localhost" --from a@example.org --data "$DIR/8bit.eml" 2>&1)
rc=$?
if [ $rc -eq 0 ] && delivered swaks-8bit-token && same_bytes swaks-8bit-token "$DIR/8bit.want"; then
  ok "8-bit body delivered byte for byte"
else
  not_ok "8-bit body delivered byte for byte (swaks exit $rc)" "$out
$(show_diff x "$DIR/8bit.want")"
fi

# ---- a large message (about 2 MB)

{
  printf 'From: a@example.org\nTo: %s@localhost\nSubject: swaks-large-token\n\n' "$USER_TO"
  for i in $(seq 1 25000); do printf 'line %06d %s\n' "$i" "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"; done
} >"$DIR/large.eml"
{ cat "$DIR/large.eml"; printf '\n\n'; } >"$DIR/large.want"
out=$("${SW[@]}" --to "$USER_TO@localhost" --from a@example.org --data "$DIR/large.eml" --hide-all 2>&1)
rc=$?
if [ $rc -eq 0 ] && delivered swaks-large-token && delivered "line 025000 " &&
  same_bytes swaks-large-token "$DIR/large.want"; then
  ok "2 MB message delivered byte for byte"
else
  not_ok "2 MB message delivered byte for byte (swaks exit $rc)" "$out"
fi

# ---- clean stop

kill -TERM "$MASTER"
stopped=0
for _ in $(seq 1 150); do
  if ! kill -0 "$MASTER" 2>/dev/null; then stopped=1; break; fi
  sleep 0.1
done
wait "$MASTER" 2>/dev/null
if [ $stopped = 1 ] && ! pgrep -g "$MASTER" >/dev/null 2>&1; then
  ok "SIGTERM stops master and its children within 15 s"
else
  not_ok "SIGTERM stops master and its children within 15 s" "$(tail -n 20 "$DIR/master.log")"
fi
# Every message sent above, counted after the suite stopped (so a late duplicate, one
# delivered again after the first copy was seen, counts too).
once=1
counts=""
for t in swaks-mixed-rcpt swaks-plain-token swaks-pipelined-token swaks-8bit-token swaks-large-token; do
  n=$(grep -c -F -- "Subject: $t" "$MBOX" 2>/dev/null)
  counts="$counts $t=$n"
  $HELPER extract "$MBOX" "$t" >/dev/null 2>&1 || once=0
  [ "$n" = 1 ] || once=0
done
check "each message delivered exactly once ($counts )" [ "$once" = 1 ]
finish
