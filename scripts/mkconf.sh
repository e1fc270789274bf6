#!/bin/sh
# mkconf.sh DIR PORT [BINDIR] [EXTRA_KEY=VALUE...]
# Writes DIR/tegami.conf: a self-contained sandbox (queue, sockets, mailboxes and pid
# file under DIR; MTA on 127.0.0.1:PORT; local domains localhost and the host name)
# and creates DIR/mail. msa_listen and smtps_listen are empty unless given. Used by `make run`, the integration tests and the benchmark.
# Extra arguments are written as "key = value" lines after the defaults.
set -eu
dir=$1; port=$2; bindir=${3:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
shift 2; [ $# -gt 0 ] && shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/mail" "$dir/maildirs"
if [ "$(id -u)" = 0 ]; then
  # As root, local delivers as each recipient: mbox files are made in a root:mail 2775
  # directory (as /var/mail on Debian), Maildirs in a sticky world-writable one (each
  # recipient creates its own, 0700), standing in for the users' home directories.
  chgrp mail "$dir/mail" 2>/dev/null || true
  chmod 2775 "$dir/mail"
  chmod 1777 "$dir/maildirs"
fi
{
  echo "# Tegami sandbox configuration, written by scripts/mkconf.sh"
  echo "hostname = localhost.localdomain"
  echo "local_domains = localhost, localhost.localdomain, \$hostname"
  echo "queue_dir = $dir/spool"
  echo "run_dir = $dir/sock"
  echo "pid_file = $dir/master.pid"
  echo "libexec_dir = $bindir"
  echo "aliases = $dir/aliases"
  echo "mail_spool_dir = $dir/mail"
  echo "maildir = $dir/maildirs/%u/"
  echo "auth_db = $dir/passwd.db"
  echo "auth_dir = $dir/auth"
  echo "mta_listen = 127.0.0.1:$port"
  # The submission listeners stay off (their defaults bind 587/465 on every address)
  # unless an extra argument sets them.
  for k in msa_listen smtps_listen; do
    case " $* " in *" $k="*) ;; *) echo "$k =" ;; esac
  done
  echo "client_queue_dir = $dir/clientmqueue"
  echo "msp_socket = $dir/msp/submit"
  echo "queue_control_socket = $dir/msp/control"
  echo "sendmail_path = $bindir/sendmail"
  for kv in "$@"; do echo "$kv" | sed 's/=/ = /'; done
} > "$dir/tegami.conf"
[ -f "$dir/aliases" ] || printf '# aliases for the sandbox\npostmaster: %s\n' "$(id -un)" > "$dir/aliases"
echo "$dir/tegami.conf"
