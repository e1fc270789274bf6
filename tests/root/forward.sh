#!/bin/bash
# forward.sh - root only: ~/.forward files and the users programs run as, with users
# this test creates (tgfwd1..tgfwd4, homes under the test directory). Checks: a safe
# .forward with "\user" keeps a copy in the user's mbox (owned by the user, mode 0600)
# and runs its |program as that user with a clean environment; a group-writable
# .forward and one owned by another user are ignored with a log line (mail goes to the
# mailbox); a .forward naming its own user delivers to the mailbox; an alias |program
# runs as default_user (nobody), not root.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"

require_root
id tegami >/dev/null 2>&1 ||
  useradd --system --no-create-home --shell /usr/sbin/nologin tegami
make_test_dir tegami-fwd
mkdir -p "$DIR/home" "$DIR/smrsh" "$DIR/out"
chmod 755 "$DIR/home" "$DIR/smrsh"
chmod 1777 "$DIR/out"
for u in tgfwd1 tgfwd2 tgfwd3 tgfwd4; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
  usermod -d "$DIR/home/$u" "$u"
  mkdir -p "$DIR/home/$u"
  chown "$u:" "$DIR/home/$u"
  chmod 755 "$DIR/home/$u"
done
cat >"$DIR/record.sh" <<'EOF'
#!/bin/sh
{ echo "uid=$(id -u)"; env | sort; echo ---; cat; } > "$1"
EOF
chmod 755 "$DIR/record.sh"
ln -s "$DIR/record.sh" "$DIR/smrsh/tg-record"

# tgfwd1: safe, keeps a copy and runs a program; tgfwd2: group-writable; tgfwd3: owned
# by tgfwd1; tgfwd4: names itself.
printf '\\tgfwd1, "|tg-record %s/fwd1.txt"\n' "$DIR/out" >"$DIR/home/tgfwd1/.forward"
chown tgfwd1: "$DIR/home/tgfwd1/.forward"; chmod 644 "$DIR/home/tgfwd1/.forward"
echo tgfwd1 >"$DIR/home/tgfwd2/.forward"
chown tgfwd2: "$DIR/home/tgfwd2/.forward"; chmod 664 "$DIR/home/tgfwd2/.forward"
echo tgfwd2 >"$DIR/home/tgfwd3/.forward"
chown tgfwd1: "$DIR/home/tgfwd3/.forward"; chmod 644 "$DIR/home/tgfwd3/.forward"
echo tgfwd4 >"$DIR/home/tgfwd4/.forward"
chown tgfwd4: "$DIR/home/tgfwd4/.forward"; chmod 600 "$DIR/home/tgfwd4/.forward"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'postmaster: tgfwd1\nprog-root-test: "|tg-record %s/alias.txt"\n' "$DIR/out" >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "smrsh_dir=$DIR/smrsh" >/dev/null ||
  { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite started as root greets" "$(cat "$DIR/master.log")"
  finish
fi

send() {  # rcpt token
  python3 - "$PORT" "$1" "$2" <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.sendmail("fwd-sender@example.org", [sys.argv[2]],
           "Subject: %s\r\n\r\nbody-%s-end\r\n" % (sys.argv[3], sys.argv[3]))
s.quit()
EOF
}
for u in tgfwd1 tgfwd2 tgfwd3 tgfwd4; do
  send "$u@localhost" "$u" || not_ok "sending to $u"
done
send prog-root-test@localhost alias || not_ok "sending to prog-root-test"
wait_for() {  # file pattern
  for _ in $(seq 1 100); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

M=$DIR/mail
wait_for "$DIR/out/fwd1.txt" body-tgfwd1-end
rec=$(cat "$DIR/out/fwd1.txt" 2>/dev/null)
check ".forward program of tgfwd1 ran" "$(tail -n 20 "$DIR/master.log")" grep -q body-tgfwd1-end <<<"$rec"
check ".forward program ran as tgfwd1 (uid $(id -u tgfwd1))" "$rec" \
  grep -qx "uid=$(id -u tgfwd1)" <<<"$rec"
check ".forward program's environment is clean" "$rec" \
  eval '! grep -qE "^(TEGAMI|SUDO|SSH|TERM|LD_)" <<<"$rec" && grep -qx "PATH=/usr/bin:/bin" <<<"$rec" && grep -qx "HOME=$DIR/home/tgfwd1" <<<"$rec"'
wait_for "$M/tgfwd1" body-tgfwd1-end
check "\\tgfwd1 in the .forward keeps a copy in the mbox" "$(ls -la "$M")" grep -q body-tgfwd1-end "$M/tgfwd1"
st=$(stat -c '%U %a' "$M/tgfwd1" 2>&1)
check "mbox of tgfwd1 owned by tgfwd1, mode 600 ($st)" "$st" [ "$st" = "tgfwd1 600" ]

wait_for "$M/tgfwd2" body-tgfwd2-end
check "group-writable .forward of tgfwd2 ignored: mail in its mbox" "$(ls -la "$M")" \
  grep -q body-tgfwd2-end "$M/tgfwd2"
check "group-writable .forward ignored with a log line" "$(grep -i forward "$DIR/master.log")" \
  grep -q "ignoring the .forward of tgfwd2: .*writable by group or others" "$DIR/master.log"
check "tgfwd2's mail did not follow its .forward" "" eval '! grep -q body-tgfwd2-end "$M/tgfwd1"'

wait_for "$M/tgfwd3" body-tgfwd3-end
check ".forward of tgfwd3 owned by tgfwd1 ignored: mail in its mbox" "$(ls -la "$M")" \
  grep -q body-tgfwd3-end "$M/tgfwd3"
check "foreign-owned .forward ignored with a log line" "$(grep -i forward "$DIR/master.log")" \
  grep -q "ignoring the .forward of tgfwd3: .*owned by uid $(id -u tgfwd1)" "$DIR/master.log"

wait_for "$M/tgfwd4" body-tgfwd4-end
n=$(grep -c body-tgfwd4-end "$M/tgfwd4" 2>/dev/null)
check "a .forward naming its own user delivers once to the mailbox ($n)" "$(tail -n 20 "$DIR/master.log")" [ "$n" = 1 ]

wait_for "$DIR/out/alias.txt" body-alias-end
rec=$(cat "$DIR/out/alias.txt" 2>/dev/null)
check "alias |program runs as default_user nobody (uid $(id -u nobody))" "$rec" \
  grep -qx "uid=$(id -u nobody)" <<<"$rec"
finish
