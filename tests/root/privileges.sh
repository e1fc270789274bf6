#!/bin/bash
# privileges.sh - root only: the privilege split of a running suite, read from /proc.
# Starts the suite as root in a sandbox on a free loopback port and checks: only master
# has uid 0; each daemon runs as its own account (tegami-smtpd, tegami-queue,
# tegami-local, tegami-auth); smtpd, queue and auth hold no capability at all; local
# holds exactly CAP_SETUID and CAP_SETGID and the mail group; every daemon has
# NoNewPrivs; the daemons refuse to start as root on their own; queue_dir belongs to
# tegami-queue and auth_dir to tegami-auth; smtpd's account can neither list the queue
# nor read the credential store, and can reach only the queue and auth sockets; a
# message for an ordinary user is delivered into an mbox owned by that user with mode
# 0600; mail for root (no alias) is refused with 550 5.1.1.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and, last,
# "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"

require_root
sh "$SRC/scripts/accounts.sh" >/dev/null
id tgtest1 >/dev/null 2>&1 ||
  useradd --no-create-home --shell /usr/sbin/nologin tgtest1
MAIL_GID=$(getent group mail | cut -d: -f3)

make_test_dir tegami-root
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'postmaster: tgtest1\n' >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" >/dev/null || { not_ok "mkconf.sh"; finish; }
printf 'root-test-secret\n' | "$BIN/tegami-passwd" -c "$DIR/tegami.conf" add rootuser >/dev/null 2>&1 ||
  not_ok "tegami-passwd add as root"

# ---- the daemons refuse to run as root on their own
for d in smtpd queue remote local auth; do
  out=$(timeout 10 "$BIN/tegami-$d" -c "$DIR/tegami.conf" -f 2>&1 </dev/null)
  rc=$?
  check "tegami-$d started as root on its own refuses to run (exit $rc)" "$out" \
    eval "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
done

setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!

# A small SMTP client: sends each argument as a line (CRLF added) and prints every reply
# line; after a 354 the lines up to "." are message data.
smtp() {  # lines...
  python3 - "$PORT" "$@" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline().decode("utf-8", "replace").rstrip("\r\n")
        print(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3]
reply()
data = False
for cmd in sys.argv[2:]:
    s.sendall(cmd.encode() + b"\r\n")
    if data and cmd != ".":
        continue
    data = reply() == "354"
s.close()
EOF
}

if ! greets "$PORT" "$MASTER"; then
  not_ok "suite started as root greets on 127.0.0.1:$PORT" "$(cat "$DIR/master.log")"
  finish
fi
ok "suite started as root greets on 127.0.0.1:$PORT"

field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
capset() { printf '%d' "0x$(field "$1" "$2")"; }

check "master runs as uid 0" "$(field "$MASTER" Uid)" [ "$(field "$MASTER" Uid | awk '{print $1}')" = 0 ]

declare -A PID
for p in $(pgrep -P "$MASTER"); do
  PID[$(cat "/proc/$p/comm")]=$p
done
for d in smtpd queue remote local auth; do
  p=${PID[tegami-$d]:-}
  TG_UID=$(id -u "tegami-$d")
  TG_GID=$(id -g "tegami-$d")
  if [ -z "$p" ]; then
    not_ok "tegami-$d is a child of master" "$(ps -o pid,user,comm --ppid "$MASTER")"
    continue
  fi
  uids=$(field "$p" Uid)
  gids=$(field "$p" Gid)
  check "tegami-$d: every uid is tegami-$d ($TG_UID)" "Uid: $uids" \
    [ "$uids" = "$(printf '%s %s %s %s' "$TG_UID" "$TG_UID" "$TG_UID" "$TG_UID")" ]
  check "tegami-$d: every gid is tegami-$d's group ($TG_GID)" "Gid: $gids" \
    [ "$gids" = "$(printf '%s %s %s %s' "$TG_GID" "$TG_GID" "$TG_GID" "$TG_GID")" ]
  check "tegami-$d: NoNewPrivs 1" "$(field "$p" NoNewPrivs)" [ "$(field "$p" NoNewPrivs)" = 1 ]
  groups=" $(field "$p" Groups) "
  check "tegami-$d: not in group root" "Groups:$groups" eval '! grep -q " 0 " <<<"$groups"'
  caps="CapInh=$(field "$p" CapInh) CapPrm=$(field "$p" CapPrm) CapEff=$(field "$p" CapEff) CapAmb=$(field "$p" CapAmb)"
  if [ "$d" = local ]; then
    check "tegami-local: CapEff and CapPrm are exactly CAP_SETUID|CAP_SETGID (0xc0)" "$caps" \
      eval "[ $(capset "$p" CapEff) = 192 ] && [ $(capset "$p" CapPrm) = 192 ]"
    check "tegami-local: CapInh and CapAmb hold nothing beyond 0xc0" "$caps" \
      eval "[ $(($(capset "$p" CapInh) & ~192)) = 0 ] && [ $(($(capset "$p" CapAmb) & ~192)) = 0 ]"
    check "tegami-local: keeps the mail group ($MAIL_GID)" "Groups:$groups" \
      eval 'grep -q " $MAIL_GID " <<<"$groups"'
  else
    check "tegami-$d: no capabilities at all" "$caps" \
      [ "$(capset "$p" CapInh)$(capset "$p" CapPrm)$(capset "$p" CapEff)$(capset "$p" CapAmb)" = 0000 ]
    check "tegami-$d: not in the mail group" "Groups:$groups" \
      eval '! grep -q " $MAIL_GID " <<<"$groups"'
  fi
done
others=$(ps -eo uid=,pid=,ppid= | awk -v m="$MASTER" '$3 == m && $1 == 0 { print $2 }')
check "no child of master runs as root" "$others" [ -z "$others" ]

distinct=$(for d in smtpd queue local auth; do echo "${PID[tegami-$d]:+$(field "${PID[tegami-$d]}" Uid | awk '{print $1}')}"; done | sort -u | wc -l)
check "the four daemons run as four different uids" "$distinct" [ "$distinct" = 4 ]

st=$(stat -c '%U %a' "$DIR/spool" 2>&1)
check "queue_dir owned by tegami-queue, mode 700" "$st" [ "$st" = "tegami-queue 700" ]
st=$(stat -c '%U %a' "$DIR/auth" 2>&1)
check "auth_dir owned by tegami-auth, mode 700" "$st" [ "$st" = "tegami-auth 700" ]
st=$(stat -c '%U %a' "$DIR/sock" 2>&1)
check "run_dir owned by root, mode 755" "$st" [ "$st" = "root 755" ]
st=$(stat -c '%U %G %a' "$DIR/passwd.db" 2>&1)
check "auth_db is root:tegami-auth, mode 640" "$st" [ "$st" = "root tegami-auth 640" ]
for s in queue:tegami-queue:tegami-smtpd auth:tegami-auth:tegami-smtpd local:tegami-local:tegami-queue; do
  IFS=: read -r sock owner group <<<"$s"
  st=$(stat -c '%U %G %a' "$DIR/sock/$sock.sock" 2>&1)
  check "$sock.sock is $owner:$group, mode 660" "$st" [ "$st" = "$owner $group 660" ]
done
as() { runuser -u "$1" -- "${@:2}" >/dev/null 2>&1; }
connects() {  # user socket
  runuser -u "$1" -- python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$2" >/dev/null 2>&1
}
check "tegami-smtpd cannot list queue_dir" "" eval '! as tegami-smtpd ls "$DIR/spool"'
check "tegami-smtpd cannot read the credential store" "" eval '! as tegami-smtpd cat "$DIR/passwd.db"'
check "tegami-smtpd cannot list auth_dir" "" eval '! as tegami-smtpd ls "$DIR/auth"'
check "tegami-queue cannot read the credential store" "" eval '! as tegami-queue cat "$DIR/passwd.db"'
check "tegami-auth can read the credential store" "" as tegami-auth cat "$DIR/passwd.db"
check "tegami-smtpd can connect to queue.sock and auth.sock" "" \
  eval 'connects tegami-smtpd "$DIR/sock/queue.sock" && connects tegami-smtpd "$DIR/sock/auth.sock"'
check "tegami-smtpd cannot connect to local.sock" "" eval '! connects tegami-smtpd "$DIR/sock/local.sock"'
check "tegami-local cannot connect to queue.sock or auth.sock" "" \
  eval '! connects tegami-local "$DIR/sock/queue.sock" && ! connects tegami-local "$DIR/sock/auth.sock"'

# ---- delivery as the recipient
out=$(smtp "EHLO root-test.example.org" "MAIL FROM:<a@example.org>" "RCPT TO:<root@localhost>" \
  "RCPT TO:<tgtest1@localhost>" DATA "Subject: root-test" "" "root-test-body" . QUIT 2>&1)
check "RCPT for root (no alias) refused with 550 5.1.1" "$out" grep -q '^550 5\.1\.1' <<<"$out"
check "message for tgtest1 accepted" "$out" grep -q '^250 2\.0\.0 Ok: queued as' <<<"$out"
MBOX=$DIR/mail/tgtest1
for _ in $(seq 1 100); do
  grep -q root-test-body "$MBOX" 2>/dev/null && break
  sleep 0.2
done
check "delivered to $MBOX" "$(tail -n 20 "$DIR/master.log")" grep -q root-test-body "$MBOX"
st=$(stat -c '%U %a' "$MBOX" 2>&1)
check "mbox owned by tgtest1 with mode 600 ($st)" "$st" [ "$st" = "tgtest1 600" ]
check "no mailbox for root" "$(ls -la "$DIR/mail")" [ ! -e "$DIR/mail/root" ]
left=$(find "$DIR/spool" ! -user tegami-queue 2>&1)
check "everything in queue_dir belongs to tegami-queue" "$left" [ -z "$left" ]

# ---- a killed daemon comes back with the same privileges
old=${PID[tegami-smtpd]:-0}
[ "$old" != 0 ] && kill -KILL "$old"
new=""
for _ in $(seq 1 100); do
  new=$(for p in $(pgrep -P "$MASTER"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = tegami-smtpd ] && echo "$p"; done)
  [ -n "$new" ] && [ "$new" != "$old" ] && break
  new=""
  sleep 0.1
done
if [ -n "$new" ]; then
  check "restarted tegami-smtpd runs as tegami-smtpd with no capabilities" \
    "$(field "$new" Uid) $(field "$new" CapEff) $(field "$new" CapPrm)" \
    [ "$(field "$new" Uid | awk '{print $1}')$(capset "$new" CapEff)$(capset "$new" CapPrm)" = "$(id -u tegami-smtpd)00" ]
else
  not_ok "master restarts a killed tegami-smtpd within 10 s" "$(tail -n 20 "$DIR/master.log")"
fi

kill -TERM "$MASTER"
stopped=0
for _ in $(seq 1 150); do
  if ! kill -0 "$MASTER" 2>/dev/null; then stopped=1; break; fi
  sleep 0.1
done
check "SIGTERM stops the suite" "$(tail -n 20 "$DIR/master.log")" [ $stopped = 1 ]
finish
