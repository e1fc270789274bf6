# msp_env.sh - sourced by the sendmail command-line tests (tests/interop/msp.sh,
# callers.sh, msp_modes.sh): a sandbox suite and a sendmail to call it through.
#
# As root the suite runs privileged and every caller runs as the ordinary user tgtest2
# through a set-group-ID sendmail whose built-in configuration is the sandbox's (and a
# mailq/hoststat/purgestat link to it); as an ordinary user everything runs as that user
# and sendmail is given -C by a wrapper that keeps argv[0]. The caller's HOME is
# $DIR/home (where sendmail saves dead.letter).
#
# Needs SRC, BIN and tests/lib/tap.sh sourced. Sets DIR CONF PORT SM MBOX USER_TO CALLER
# ROOT MASTER. msp_env_setup [EXTRA_KEY=VALUE...] (@DIR@ in a value is the sandbox
# directory) returns non-zero when the suite did not start. msp_env_cleanup is for the caller's EXIT trap.
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
MASTER=""
DIR=""

msp_env_cleanup() {
  msp_stop_master
  [ -n "$DIR" ] && [ -z "${TEGAMI_KEEP:-}" ] && rm -rf "$DIR"
}
msp_start_master() {
  setsid "$BIN/tegami-master" -c "$CONF" -f </dev/null >>"$DIR/master.log" 2>&1 &
  MASTER=$!
  greets "$PORT" "$MASTER" && for _ in $(seq 1 50); do
    [ -S "$DIR/msp/submit" ] && [ -S "$DIR/msp/control" ] && return 0
    sleep 0.1
  done
  return 1
}
msp_stop_master() {
  stop_master "$MASTER"
  MASTER=""
}
as_caller() {  # command... : runs as the ordinary caller, from a neutral directory
  if [ "$ROOT" = 1 ]; then
    (cd /tmp && setpriv --reuid=tgtest2 --regid=tgtest2 --init-groups -- env HOME="$DIR/home" "$@")
  else
    (cd /tmp && env HOME="$DIR/home" "$@")
  fi
}
# wait_mail TOKEN [COUNT]: waits (10 s at most) until the mailbox holds TOKEN COUNT times.
wait_mail() {
  local want=${2:-1} n
  for _ in $(seq 1 100); do
    n=$(grep -ac -- "$1" "$MBOX" 2>/dev/null)
    [ "${n:-0}" -ge "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
message_of() {  # TOKEN: the delivered message holding TOKEN
  $HELPER extract "$MBOX" "$1" 2>/dev/null
}

msp_env_setup() {
  ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1
  DIR=$(mktemp -d /tmp/tegami-mspenv.XXXXXX) || return 1
  chmod 755 "$DIR"
  USER_TO=$($HELPER user)
  PORT=$($HELPER freeport)
  mkdir -p "$DIR/home" "$DIR/bin" "$DIR/etc/tegami"
  printf 'postmaster: %s\nroot: %s\n' "$USER_TO" "$USER_TO" >"$DIR/aliases"
  set -- "${@//@DIR@/$DIR}"  # extra settings may name files in the sandbox
  CONF=$(sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "client_queue_interval=2s" "$@") ||
    return 1
  MBOX=$DIR/mail/$USER_TO
  SM=$DIR/bin/sendmail
  if [ "$ROOT" = 1 ]; then
    getent group smmsp >/dev/null || groupadd --system smmsp
    id tgtest2 >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin tgtest2
    chown tgtest2 "$DIR/home"
    cp "$CONF" "$DIR/etc/tegami/tegami.conf"
    local libs
    libs=$(sed -n 's/^PKG_LIBS = //p' "$SRC/config.mk")
    # shellcheck disable=SC2086
    g++ -std=c++20 -O1 -I"$SRC" -DTEGAMI_SYSCONFDIR="\"$DIR/etc\"" \
      -DTEGAMI_LIBEXECDIR='"/usr/libexec"' -DTEGAMI_SBINDIR='"/usr/sbin"' \
      -c "$SRC/lib/conf/params.cpp" -o "$DIR/params.o" &&
      g++ -o "$SM" "$SRC"/build/obj/msp/sendmail/*.o "$DIR/params.o" "$SRC/build/libtegami.a" \
        $libs || return 1
    chown root:smmsp "$SM"
    chmod 2755 "$SM"
    for l in mailq hoststat purgestat; do ln -sf sendmail "$DIR/bin/$l"; done
    CALLER=tgtest2
  else
    printf '#!/bin/bash\nexec -a "${0##*/}" %s -C %s "$@"\n' "$BIN/sendmail" "$CONF" >"$SM"
    chmod 755 "$SM"
    for l in mailq hoststat purgestat; do cp "$SM" "$DIR/bin/$l"; done
    CALLER=$(id -un)
  fi
  msp_start_master
}
