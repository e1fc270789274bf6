#!/bin/bash
# msp.sh - root only: the MSP's privileges. Installs into a scratch DESTDIR and checks
# that nothing installed is set-user-ID and that sendmail is 2755 root:smmsp; then, with
# a set-group-ID sendmail whose built-in configuration is a sandbox's, checks that the
# submitting process keeps the MSP group only in the parent that parses nothing (the
# child reading the message has given it up: real = effective = saved gid), that a
# client-queue file is 0660 root-group smmsp and unreadable to another ordinary user,
# and that another user can neither run the client queue nor change the main queue.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and, last,
# "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/root_env.sh"
as_user() {  # user command...
  local u=$1; shift
  (cd /tmp && setpriv --reuid="$u" --regid="$u" --init-groups -- "$@")
}

require_root
getent group smmsp >/dev/null || groupadd --system smmsp
for u in tegami tgtest1 tgtest2 tgtest3; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
SMMSP=$(getent group smmsp | cut -d: -f3)
make_test_dir tegami-rootmsp

# ---- the installed tree
DEST=$DIR/dest
if (cd "$SRC" && sh scripts/install.sh "$DEST" /usr/local /usr/local/sbin /usr/local/libexec \
      /usr/local/etc /usr/local/share/man build) >"$DIR/install.log" 2>&1; then
  ok "install.sh into a scratch DESTDIR"
else
  not_ok "install.sh into a scratch DESTDIR" "$(cat "$DIR/install.log")"
fi
suid=$(find "$DEST" -type f -perm -4000 2>/dev/null)
[ -z "$suid" ] && ok "nothing installed is set-user-ID" || not_ok "nothing installed is set-user-ID" "$suid"
st=$(stat -c '%a %U %G' "$DEST/usr/local/sbin/sendmail" 2>/dev/null)
[ "$st" = "2755 root smmsp" ] && ok "sendmail is 2755 root:smmsp" || not_ok "sendmail is 2755 root:smmsp ($st)"
sgid=$(find "$DEST" -type f -perm -2000 | sed "s|$DEST||")
[ "$sgid" = "/usr/local/sbin/sendmail" ] && ok "sendmail is the only set-group-ID program" ||
  not_ok "sendmail is the only set-group-ID program" "$sgid"
[ "$(readlink "$DEST/usr/local/sbin/mailq")" = sendmail ] && ok "mailq is a link to sendmail" || not_ok "mailq is a link to sendmail"

# ---- a sandbox and a set-group-ID sendmail configured for it
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'postmaster: tgtest1\n' >"$DIR/aliases"
CONF=$(sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "client_queue_interval=0") || { not_ok "mkconf.sh"; finish; }
mkdir -p "$DIR/etc/tegami" "$DIR/bin"
cp "$CONF" "$DIR/etc/tegami/tegami.conf"
LIBS=$(sed -n 's/^PKG_LIBS = //p' "$SRC/config.mk")
# shellcheck disable=SC2086
if g++ -std=c++20 -O1 -I"$SRC" -DTEGAMI_SYSCONFDIR="\"$DIR/etc\"" -DTEGAMI_LIBEXECDIR='"/usr/libexec"' \
     -DTEGAMI_SBINDIR='"/usr/sbin"' -c "$SRC/lib/conf/params.cpp" -o "$DIR/params.o" &&
   g++ -o "$DIR/bin/sendmail" "$SRC"/build/obj/msp/sendmail/*.o "$DIR/params.o" "$SRC/build/libtegami.a" $LIBS; then
  chown root:smmsp "$DIR/bin/sendmail" && chmod 2755 "$DIR/bin/sendmail"
  SM=$DIR/bin/sendmail
else
  not_ok "build a sandbox sendmail"; finish
fi
setsid "$BIN/tegami-master" -c "$CONF" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
for _ in $(seq 1 100); do [ -S "$DIR/msp/submit" ] && break; sleep 0.1; done
st=$(stat -c '%a %G' "$DIR/msp/submit" "$DIR/msp" "$DIR/clientmqueue" 2>/dev/null | tr '\n' ' ')
[ "$st" = "660 smmsp 750 smmsp 770 smmsp " ] &&
  ok "MSP socket 0660, its directory 0750 and the client queue 0770, all group smmsp" ||
  not_ok "MSP socket, directory and client queue modes ($st)" "$(tail -5 "$DIR/master.log")"

# ---- the group is held by the parent only
mkfifo "$DIR/in"
chmod 666 "$DIR/in"
(as_user tgtest2 "$SM" -i tgtest1 <"$DIR/in" >/dev/null 2>&1) &
SUBMIT=$!
exec 7>"$DIR/in"  # the writer end stays open: the child blocks reading the message
parent="" child=""
for _ in $(seq 1 50); do
  parent=$(pgrep -u tgtest2 -f "^$SM -i tgtest1" | head -1)
  [ -n "$parent" ] && child=$(pgrep -P "$parent" | head -1)
  [ -n "$child" ] && break
  sleep 0.1
done
if [ -n "$parent" ] && [ -n "$child" ]; then
  pg=$(awk '/^Gid:/{print $2, $3, $4}' "/proc/$parent/status")
  cg=$(awk '/^Gid:/{print $2, $3, $4}' "/proc/$child/status")
  g2=$(id -g tgtest2)
  [ "$pg" = "$g2 $SMMSP $SMMSP" ] && ok "the waiting parent holds smmsp as its effective group" ||
    not_ok "the waiting parent holds smmsp (Gid $pg)"
  [ "$cg" = "$g2 $g2 $g2" ] && ok "the child reading the message has given the group up (real = effective = saved)" ||
    not_ok "the child has given the group up (Gid $cg)"
else
  not_ok "found the submitting processes (parent '$parent', child '$child')"
fi
printf 'Subject: held\n\nGROUP-CHECK\n' >&7
exec 7>&-
wait "$SUBMIT"
for _ in $(seq 1 100); do grep -q GROUP-CHECK "$DIR/mail/tgtest1" 2>/dev/null && break; sleep 0.1; done
grep -q GROUP-CHECK "$DIR/mail/tgtest1" 2>/dev/null && ok "that submission was delivered" || not_ok "that submission was delivered"

# ---- client-queue files are private; another user can run nothing
kill -TERM "$MASTER"; for _ in $(seq 1 150); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
MASTER=""
printf 'Subject: private\n\nPRIVATE body\n' | as_user tgtest2 "$SM" -i tgtest1 >/dev/null 2>&1
f=$(ls "$DIR"/clientmqueue/qf* 2>/dev/null | head -1)
if [ -n "$f" ]; then
  st=$(stat -c '%a %U %G' "$f")
  [ "$st" = "660 tgtest2 smmsp" ] && ok "a client-queue file is 0660, owned by its submitter, group smmsp" ||
    not_ok "client-queue file mode ($st)"
  as_user tgtest3 cat "$f" >/dev/null 2>&1 && not_ok "another user cannot read a client-queue file" ||
    ok "another user cannot read a client-queue file"
  as_user tgtest3 ls "$DIR/clientmqueue" >/dev/null 2>&1 && not_ok "another user cannot list the client queue directory" ||
    ok "another user cannot list the client queue directory"
  out=$(as_user tgtest3 "$SM" -Ac -q 2>&1); rc=$?
  [ $rc = 77 ] && [ -f "$f" ] && ok "another user cannot run the client queue (EX_NOPERM)" ||
    not_ok "another user cannot run the client queue (exit $rc)" "$out"
  out=$("$SM" -Ac -q 2>&1); rc=$?
  [ $rc = 0 ] && [ -f "$f" ] && ok "root's client-queue run keeps the file while smtpd is down" ||
    not_ok "root's client-queue run with smtpd down (exit $rc)" "$out"
else
  not_ok "smtpd down: the message waits in the client queue"
fi
finish
