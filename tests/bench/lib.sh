# shellcheck shell=bash
# lib.sh - the Postfix instance the benchmark cases compare Tegami with, and a plain Tegami
# sandbox; sourced by tests/bench/bench.sh, submission.sh, relay.sh and bigbodies.sh (bash
# only, not run by itself).
#
# Postfix comes from the Debian package, extracted with apt-get download + dpkg -x into
# $WORK/postfix-pkg (shared by every case) and never installed. An instance is a config,
# queue, data and mail directory of its own with the package's defaults except the paths,
# a loopback listener and what the case overrides. Postfix needs root: its master runs as
# root and its daemons as user postfix with group postdrop.
#
# The caller sets before sourcing:
#   WORK       the bench work directory (absolute)
#   top        the top of the source tree (for scripts/accounts.sh)
#   PF_TAG     the prefix of this file's messages ("bench", "submission", "relay")
#   PF_LOGDIR  where apt.log, postfix-check.log and postfix-start.log go
# and gets:
#   PFX PF_LIB SMTP_SOURCE SMTP_SINK   the extracted package
#   PFI PF_PORT                        the instance (set by postfix_instance)
#
# Functions:
#   postfix_fetch                 extract the package when it is missing
#   postfix_accounts              groups postdrop and mail, users postfix and tgbench, and
#                                 Tegami's daemon accounts (scripts/accounts.sh)
#   postfix_instance DIR PORT [ARG...]
#                                 a fresh instance in DIR listening on 127.0.0.1:PORT; each
#                                 ARG "key = value" sets a main.cf parameter (replacing the
#                                 default of the same key), "master.cf: NAME TYPE ..." sets a
#                                 master.cf service (replacing the one of the same name and
#                                 type); the case adds its own files to $PFI/etc, then
#   postfix_check                 postfix check (status 1, and the log shown, when it fails)
#   postfix_cmd ARG...            postfix(1) on the instance
#   postfix_master_pid            the running master's PID (status 1 when none)
#   postfix_start                 postfix start (status 1 when it fails)
#   postfix_wait [SECONDS]        until the listener greets with 220 (default 30 s)
#   postfix_stop [SECONDS]        postfix stop, then until the master is gone (default 15 s)
#   tegami_start DIR PORT BINDIR [KEY=VALUE...]
#                                 a fresh Tegami sandbox in DIR (scripts/mkconf.sh, each
#                                 KEY=VALUE a tegami.conf line) listening on 127.0.0.1:PORT,
#                                 its master in the background (TG_PID, log DIR/master.log),
#                                 until it greets with 220 (status 1 after 30 s)
#   tegami_stop [SECONDS]         SIGTERM to that master, then until it is gone (default
#                                 15 s; then SIGKILL to what is left of its tree)

PFX=$WORK/postfix-pkg
PF_LIB=$PFX/usr/lib/postfix
SMTP_SOURCE=$PFX/usr/sbin/smtp-source
SMTP_SINK=$PFX/usr/sbin/smtp-sink
PFI=""
PF_PORT=""
TG_PID=""

postfix_fetch() {
  if [ -x "$SMTP_SOURCE" ] && [ -x "$SMTP_SINK" ] && [ -x "$PF_LIB/sbin/master" ] &&
    [ -x "$PF_LIB/sbin/smtpd" ]; then
    return 0
  fi
  echo "$PF_TAG: fetching the postfix package (apt-get download; not installed)"
  mkdir -p "$WORK/dl" "$PF_LOGDIR"
  (
    cd "$WORK/dl" || exit 1
    rm -f postfix_*.deb
    timeout 300 apt-get -q download postfix >"$PF_LOGDIR/apt.log" 2>&1 ||
      { timeout 300 apt-get -q update >>"$PF_LOGDIR/apt.log" 2>&1 &&
        timeout 300 apt-get -q download postfix >>"$PF_LOGDIR/apt.log" 2>&1; }
  ) || { echo "$PF_TAG: apt-get download postfix failed (see $PF_LOGDIR/apt.log)"; return 1; }
  rm -rf "$PFX.tmp"
  dpkg -x "$WORK"/dl/postfix_*.deb "$PFX.tmp" || return 1
  rm -rf "$PFX"
  mv "$PFX.tmp" "$PFX"
}

postfix_accounts() {
  getent group postdrop >/dev/null || groupadd --system postdrop
  getent group mail >/dev/null || groupadd --system mail
  sh "$top/scripts/accounts.sh" >/dev/null 2>&1
  local u
  for u in postfix tgbench; do
    getent passwd "$u" >/dev/null ||
      useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$u"
  done
}

postfix_cmd() { LD_LIBRARY_PATH=$PF_LIB "$PFX/usr/sbin/postfix" -c "$PFI/etc" "$@"; }

postfix_master_pid() {
  local p
  p=$(tr -d ' \n' <"$PFI/spool/pid/master.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# The main.cf defaults of every instance: the paths, loopback only, local delivery to
# mbox files in $PFI/mail, no aliases, the process limit up, no mailbox size limit.
_postfix_main_defaults() {
  cat <<EOF
compatibility_level = 3.6
queue_directory = $PFI/spool
data_directory = $PFI/data
meta_directory = $PFI/meta
command_directory = $PFX/usr/sbin
daemon_directory = $PF_LIB/sbin
shlib_directory = $PF_LIB
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$PF_LIB
maillog_file_prefixes = $PFI
maillog_file = $PFI/maillog
myhostname = localhost.localdomain
mydomain = localdomain
mydestination = localhost, localhost.localdomain
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
mail_spool_directory = $PFI/mail
mailbox_size_limit = 0
default_process_limit = 1200
biff = no
EOF
}

# The services of the package's master.cf that the cases use, without chroot (the
# instance has no chroot tree), and the SMTP listener.
_postfix_master_defaults() {
  cat <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
local     unix  - n n -     - local
virtual   unix  - n n -     - virtual
lmtp      unix  - - n -     - lmtp
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

# _postfix_merge KEYFN < DEFAULTS: the default lines whose key no override has, then the
# overrides (in OVR, in their order). KEYFN prints a line's key.
_postfix_merge() {
  local line k o seen
  while IFS= read -r line; do
    k=$($1 "$line")
    seen=0
    for o in "${OVR[@]}"; do [ "$($1 "$o")" = "$k" ] && seen=1 && break; done
    [ "$seen" = 1 ] || printf '%s\n' "$line"
  done
  [ "${#OVR[@]}" = 0 ] || printf '%s\n' "${OVR[@]}"
}
_postfix_main_key() { local k=${1%%=*}; echo "${k// /}"; }
_postfix_master_key() { local a b; read -r a b _ <<<"$1"; echo "$a $b"; }

postfix_instance() { # postfix_instance DIR PORT [ARG...]
  local dir=$1 arg
  local -a main=() master=() OVR
  PF_PORT=$2
  shift 2
  for arg in "$@"; do
    case $arg in
      master.cf:*) arg=${arg#master.cf:}; master+=("${arg# }") ;;
      *=*) main+=("$arg") ;;
      *) echo "$PF_TAG: postfix_instance: '$arg' is neither key = value nor master.cf: ..."; return 1 ;;
    esac
  done
  # A master left over from an interrupted run goes first.
  PFI=$dir
  if [ -d "$PFI/etc" ] && postfix_master_pid >/dev/null; then
    postfix_cmd stop >/dev/null 2>&1 || true
    sleep 2
  fi
  rm -rf "$PFI"
  mkdir -p "$PFI/etc" "$PFI/meta/postfix-files.d" "$PFI/meta/dynamicmaps.cf.d" \
    "$PFI/spool" "$PFI/data" "$PFI/mail" "$PF_LOGDIR"
  cp "$PFX/etc/postfix/postfix-files" "$PFI/meta/"
  : >"$PFI/meta/dynamicmaps.cf"
  chown postfix "$PFI/data"
  chmod 700 "$PFI/data"
  chgrp mail "$PFI/mail"
  chmod 2775 "$PFI/mail"
  # postqueue and postdrop are set-gid postdrop in a real install; postfix check says so.
  chgrp postdrop "$PFX/usr/sbin/postqueue" "$PFX/usr/sbin/postdrop"
  chmod 2755 "$PFX/usr/sbin/postqueue" "$PFX/usr/sbin/postdrop"
  {
    echo "# Postfix instance for tests/bench ($PF_TAG), written by tests/bench/lib.sh."
    OVR=("${main[@]}")
    _postfix_main_defaults | _postfix_merge _postfix_main_key
  } >"$PFI/etc/main.cf"
  OVR=("${master[@]}")
  _postfix_master_defaults | _postfix_merge _postfix_master_key >"$PFI/etc/master.cf"
}

postfix_check() {
  postfix_cmd check >"$PF_LOGDIR/postfix-check.log" 2>&1 || {
    echo "$PF_TAG: postfix check failed:"
    cat "$PF_LOGDIR/postfix-check.log"
    return 1
  }
}

postfix_start() {
  # postfix(1) writes errors to stderr only on a terminal; they are in maillog too.
  timeout 120 env LD_LIBRARY_PATH="$PF_LIB" "$PFX/usr/sbin/postfix" -c "$PFI/etc" start \
    >>"$PF_LOGDIR/postfix-start.log" 2>&1 || {
    echo "$PF_TAG: postfix start failed; last lines of $PFI/maillog:"
    tail -5 "$PFI/maillog" 2>/dev/null
    return 1
  }
}

postfix_wait() {
  python3 "$top/tests/bench/benchtool.py" wait-banner "$PF_PORT" "${1:-30}" || {
    echo "$PF_TAG: postfix does not answer on 127.0.0.1:$PF_PORT"
    return 1
  }
}

postfix_stop() {
  local mp i
  mp=$(postfix_master_pid) || mp=""
  postfix_cmd stop >>"$PF_LOGDIR/postfix-start.log" 2>&1 || true
  [ -n "$mp" ] || return 0
  for ((i = 0; i < ${1:-15} * 10; i++)); do
    kill -0 "$mp" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

tegami_start() { # tegami_start DIR PORT BINDIR [KEY=VALUE...]
  local dir=$1 port=$2 bin=$3
  shift 3
  rm -rf "$dir"
  "$top/scripts/mkconf.sh" "$dir" "$port" "$bin" "$@" >/dev/null || return 1
  "$bin/tegami-master" -c "$dir/tegami.conf" -f >"$dir/master.log" 2>&1 &
  TG_PID=$!
  python3 "$top/tests/bench/benchtool.py" wait-banner "$port" 30 || {
    echo "$PF_TAG: tegami does not answer on 127.0.0.1:$port; last lines of $dir/master.log:"
    tail -5 "$dir/master.log"
    return 1
  }
}

tegami_stop() { # tegami_stop [SECONDS]
  local i p
  [ -n "$TG_PID" ] || return 0
  kill -TERM "$TG_PID" 2>/dev/null || true
  for ((i = 0; i < ${1:-15} * 10; i++)); do
    kill -0 "$TG_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$TG_PID" 2>/dev/null; then
    for p in $(python3 "$top/tests/bench/benchtool.py" pids "tree:$TG_PID"); do
      kill -KILL "$p" 2>/dev/null || true
    done
  fi
  wait "$TG_PID" 2>/dev/null || true
  TG_PID=""
}
