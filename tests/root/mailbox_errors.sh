#!/bin/bash
# mailbox_errors.sh - root only: the mailbox failures of local delivery give the right
# status and leave the mailbox as it was. The spool is a small tmpfs this test mounts:
# a message that does not fit is deferred with 4.3.1 and the mbox keeps its size; a
# mailbox that is a symbolic link or owned by another user is deferred and its target
# untouched. Users tgmbx1..tgmbx3 are created by the test.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"
MOUNTED=""
cleanup_hook() { [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null; }

require_root
id tegami >/dev/null 2>&1 ||
  useradd --system --no-create-home --shell /usr/sbin/nologin tegami
for u in tgmbx1 tgmbx2 tgmbx3; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
make_test_dir tegami-mbx
mkdir -p "$DIR/mail"
if ! mount -t tmpfs -o size=256k,mode=2775 tmpfs "$DIR/mail"; then
  echo "# skipped: cannot mount a tmpfs"
  finish
fi
MOUNTED=$DIR/mail
chgrp mail "$DIR/mail"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'postmaster: tgmbx1\n' >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "queue_retry_min=1s" "queue_retry_max=2s" \
  >/dev/null || { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite started as root greets" "$(cat "$DIR/master.log")"
  finish
fi

send() { smtp_send "$PORT" "$1" "$2" "$3"; }  # rcpt token size -> prints the queue id
result() { queue_result "$DIR/master.log" "$1"; }
wait_result() { wait_queue_result "$DIR/master.log" "$1"; }

M=$DIR/mail
q=$(send tgmbx1@localhost small 2000)
wait_result "$q"
check "a small message is delivered on the tmpfs" "$(result "$q")" grep -q "status=sent" <<<"$(result "$q")"
before=$(stat -c %s "$M/tgmbx1")
q=$(send tgmbx1@localhost big 400000)
wait_result "$q"
r=$(result "$q")
check "a message that does not fit is deferred with 4.3.1" "$r" \
  eval 'grep -q "dsn=4.3.1, status=deferred" <<<"$r" && grep -q "mail system full" <<<"$r"'
after=$(stat -c %s "$M/tgmbx1")
check "the full mailbox keeps its size ($before -> $after)" "" \
  eval '[ -n "$before" ] && [ "$before" = "$after" ]'
check "no partial entry left: the last line is the small message's" "$(tail -c 200 "$M/tgmbx1")" \
  eval 'grep -q "^small " "$M/tgmbx1" && ! grep -q "^big " "$M/tgmbx1"'

echo "not a mailbox" >"$DIR/target"
chmod 644 "$DIR/target"
ln -s "$DIR/target" "$M/tgmbx2"
q=$(send tgmbx2@localhost link 100)
wait_result "$q"
r=$(result "$q")
check "a symlinked mailbox is deferred, not followed" "$r" \
  eval 'grep -q "status=deferred" <<<"$r" && grep -q "symbolic link" <<<"$r"'
check "the symlink's target is unchanged" "$(cat "$DIR/target")" [ "$(cat "$DIR/target")" = "not a mailbox" ]

printf 'From x Thu Jan  1 00:00:00 1970\n\nold\n\n' >"$M/tgmbx3"
chown tgmbx1 "$M/tgmbx3"
chmod 666 "$M/tgmbx3"  # writable, so that the ownership check is what refuses it
sum=$(md5sum <"$M/tgmbx3")
q=$(send tgmbx3@localhost foreign 100)
wait_result "$q"
r=$(result "$q")
check "a mailbox owned by another user is deferred" "$r" \
  eval 'grep -q "status=deferred" <<<"$r" && grep -q "owned by uid" <<<"$r"'
check "the foreign-owned mailbox is unchanged" "" [ "$(md5sum <"$M/tgmbx3")" = "$sum" ]
finish
