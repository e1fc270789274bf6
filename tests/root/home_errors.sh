#!/bin/bash
# home_errors.sh - root only: local delivery with maildir = ~/Maildir/ and users the test
# creates. A user whose home directory is missing is deferred with 4.2.0 and the home is
# not created behind the admin's back; a user with a home gets a Maildir of their own
# (0700, file 0600, owned by them); a user whose Maildir is owned by someone else is
# deferred and that Maildir stays as it was; once the admin makes the missing home, the
# deferred message is delivered. The homes' parent is world-writable and sticky (as /tmp),
# so a missing home could be made by the delivery: it must not be.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"

require_root
make_test_dir tegami-home
mkdir -p "$DIR/home"
chmod 1777 "$DIR/home"
for u in tghome1 tghome2 tghome3; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
  usermod -d "$DIR/home/$u" "$u"
done
install -d -o tghome2 -g tghome2 -m 755 "$DIR/home/tghome2"
install -d -o tghome3 -g tghome3 -m 755 "$DIR/home/tghome3"
# tghome3's Maildir belongs to tghome2 (a restored backup, say), mode 0700
install -d -o tghome2 -g tghome2 -m 700 "$DIR/home/tghome3/Maildir" \
  "$DIR/home/tghome3/Maildir/new" "$DIR/home/tghome3/Maildir/cur" "$DIR/home/tghome3/Maildir/tmp"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'postmaster: tghome2\n' >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "queue_retry_min=1s" "queue_retry_max=2s" \
  "mailbox_format=maildir" >/dev/null || { not_ok "mkconf.sh"; finish; }
sed -i 's|^maildir = .*|maildir = ~/Maildir/|' "$DIR/tegami.conf"
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite started as root greets" "$(cat "$DIR/master.log")"
  finish
fi

send() { smtp_send "$PORT" "$1" "$2"; }  # rcpt token -> prints the queue id
result() { queue_result "$DIR/master.log" "$1"; }
wait_result() { wait_queue_result "$DIR/master.log" "$1"; }

q=$(send tghome1@localhost nohome)
wait_result "$q"
r=$(result "$q")
check "a missing home directory defers with 4.2.0" "$r" \
  eval 'grep -q "dsn=4.2.0, status=deferred" <<<"$r" && grep -q "home directory .* is missing" <<<"$r"'
check "the missing home is not created" "$(ls -la "$DIR/home")" [ ! -e "$DIR/home/tghome1" ]

q=$(send tghome2@localhost home)
wait_result "$q"
r=$(result "$q")
check "a user with a home gets the message in ~/Maildir" "$r" grep -q "status=sent" <<<"$r"
f=$(grep -l "body home" "$DIR/home/tghome2/Maildir/new/"* 2>/dev/null | head -n 1)
check "the message file is the user's, mode 0600" "$(stat -c '%U %a' "$f" 2>&1)" \
  [ "$(stat -c '%U %a' "$f" 2>/dev/null)" = "tghome2 600" ]
check "the Maildir is the user's, mode 0700" "$(stat -c '%U %a' "$DIR/home/tghome2/Maildir")" \
  [ "$(stat -c '%U %a' "$DIR/home/tghome2/Maildir")" = "tghome2 700" ]

before=$(find "$DIR/home/tghome3/Maildir" | sort | md5sum)
q=$(send tghome3@localhost foreign)
wait_result "$q"
r=$(result "$q")
check "a Maildir owned by another user is deferred" "$r" grep -q "status=deferred" <<<"$r"
check "the foreign Maildir is unchanged" "" \
  [ "$(find "$DIR/home/tghome3/Maildir" | sort | md5sum)" = "$before" ]

# After the admin makes the home, the deferred message is delivered on its retry.
install -d -o tghome1 -g tghome1 -m 755 "$DIR/home/tghome1"
q1=$(grep -o "tegami/queue.*: to=<tghome1@localhost>" "$DIR/master.log" | head -n 1 | sed 's/.*\]: \([^:]*\): to=.*/\1/')
ok_sent=""
for _ in $(seq 1 50); do
  grep -q "$q1: to=<tghome1@localhost>.*status=sent" "$DIR/master.log" && { ok_sent=1; break; }
  sleep 0.2
done
check "once the home exists, the deferred message is delivered" "$(result "$q1")" [ -n "$ok_sent" ]
finish
