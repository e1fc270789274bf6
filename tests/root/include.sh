#!/bin/bash
# include.sh - root only: :include: files are read with the permissions sendmail applies,
# with users this test creates (tginc1..tginc3, homes under the test directory). An
# :include: reached from a user's .forward is read as that user: the user's own 0600
# list works; a list the user may not read (root:tegami-local 0640, readable by the local
# daemon's account) is refused with 4.3.0 and the mail waits. An :include: in the
# aliases file is read as the local daemon, so that same list works there. The
# safe-file checks apply to both (a group-writable list is refused).
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"

require_root
sh "$SRC/scripts/accounts.sh" >/dev/null
make_test_dir tegami-inc
mkdir -p "$DIR/home" "$DIR/lists"
chmod 755 "$DIR/home" "$DIR/lists"
for u in tginc1 tginc2 tginc3; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
  usermod -d "$DIR/home/$u" "$u"
  install -d -o "$u" -g "$u" -m 755 "$DIR/home/$u"
done
# tginc1: its own 0600 list naming tginc2
echo tginc2 >"$DIR/home/tginc1/list"
chown tginc1: "$DIR/home/tginc1/list"; chmod 600 "$DIR/home/tginc1/list"
printf ':include:%s/home/tginc1/list\n' "$DIR" >"$DIR/home/tginc1/.forward"
chown tginc1: "$DIR/home/tginc1/.forward"; chmod 644 "$DIR/home/tginc1/.forward"
# a list only the local daemon's group may read, naming tginc2
echo tginc2 >"$DIR/lists/daemon-only"
chown root:tegami-local "$DIR/lists/daemon-only"; chmod 640 "$DIR/lists/daemon-only"
printf ':include:%s/lists/daemon-only\n' "$DIR" >"$DIR/home/tginc3/.forward"
chown tginc3: "$DIR/home/tginc3/.forward"; chmod 644 "$DIR/home/tginc3/.forward"
# a group-writable list, for the aliases file
echo tginc2 >"$DIR/lists/unsafe"
chmod 664 "$DIR/lists/unsafe"
printf 'postmaster: tginc2\nstaff: :include:%s/lists/daemon-only\nloose: :include:%s/lists/unsafe\n' \
  "$DIR" "$DIR" >"$DIR/aliases"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "queue_retry_min=1s" "queue_retry_max=2s" \
  >/dev/null || { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite started as root greets" "$(cat "$DIR/master.log")"
  finish
fi
send() { smtp_send "$PORT" "$1" "$2"; }  # rcpt token -> prints the queue id
result() { queue_result "$DIR/master.log" "$1"; }
wait_result() { wait_queue_result "$DIR/master.log" "$1"; }
M=$DIR/mail

q=$(send tginc1@localhost own-list)
wait_result "$q"
check "a .forward's :include: of the user's own 0600 list is read as the user" "$(result "$q")" \
  eval 'grep -q "status=sent" <<<"$(result "$q")" && grep -q "body own-list" "$M/tginc2"'
check "the .forward replaced tginc1's mailbox" "" eval '! grep -qs "body own-list" "$M/tginc1"'

q=$(send tginc3@localhost daemon-list)
wait_result "$q"
r=$(result "$q")
check "a .forward's :include: the user cannot read is refused, 4.3.0, as that user" "$r" \
  eval 'grep -q "dsn=4.3.0, status=deferred" <<<"$r" && grep -q "read as tginc3" <<<"$r"'
check "nothing delivered from the unreadable list" "" eval '! grep -qs "body daemon-list" "$M/tginc2"'

q=$(send staff@localhost alias-list)
wait_result "$q"
check "an aliases-file :include: is read as the local daemon" "$(result "$q")" \
  eval 'grep -q "status=sent" <<<"$(result "$q")" && grep -q "body alias-list" "$M/tginc2"'

q=$(send loose@localhost loose-list)
wait_result "$q"
r=$(result "$q")
check "a group-writable :include: file is refused by the safe-file checks" "$r" \
  eval 'grep -q "status=deferred" <<<"$r" && grep -q "unsafe" <<<"$r"'
finish
