#!/bin/bash
# run.sh - `make run`: starts the suite in the foreground under ./run on 127.0.0.1
# (MTA on port 2525, or $TEGAMI_PORT; MSA on 2587 and implicit TLS on 2465, or
# $TEGAMI_MSA_PORT / $TEGAMI_SMTPS_PORT, with a self-signed certificate kept in
# run/tls), prints how to send a first message and where it
# lands, and stops cleanly on Ctrl-C. Needs no root; as root the daemons run as the
# `tegami` user (created here if missing) and deliver as the recipient.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
port=${TEGAMI_PORT:-2525}
msa_port=${TEGAMI_MSA_PORT:-2587}
smtps_port=${TEGAMI_SMTPS_PORT:-2465}
dir=$top/run
# A self-signed certificate for the sandbox, made once and kept across runs.
tls=$dir/tls
mkdir -p "$tls"
if [ ! -s "$tls/cert.pem" ] || [ ! -s "$tls/key.pem" ]; then
  echo "run: making a self-signed certificate for localhost in $tls"
  openssl req -x509 -nodes -days 3650 -subj /CN=localhost -newkey rsa:2048 \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
fi
chmod 600 "$tls/key.pem"
conf=$(scripts/mkconf.sh "$dir" "$port" "$top/build/bin" "msa_listen=127.0.0.1:$msa_port" \
  "smtps_listen=127.0.0.1:$smtps_port" "tls_cert_file=$tls/cert.pem" "tls_key_file=$tls/key.pem")

if [ "$(id -u)" = 0 ]; then
  sh "$top/scripts/accounts.sh"
  if ! runuser -u tegami-smtpd -- test -x "$top/build/bin/tegami-smtpd" || ! runuser -u tegami-smtpd -- test -x "$dir"; then
    echo "run: the daemons' users cannot reach $top (a parent directory is not searchable," >&2
    echo "     e.g. /root is 0700). Clone into a world-searchable directory, or run as" >&2
    echo "     an ordinary user: the sandbox needs no root." >&2
    exit 77
  fi
  rcpt=nobody
  chgrp tegami-smtpd "$tls/key.pem" && chmod 640 "$tls/key.pem"  # smtpd reads it as tegami-smtpd
  note="(as root each daemon runs as its own tegami-* user and local delivery becomes the recipient; mail for root needs an alias)"
else
  rcpt=$(id -un)
  note="(not root: every process runs as $rcpt)"
fi
# One AUTH user for the submission listeners, its password made once and kept.
auth_login=demo
pwfile=$dir/auth-$auth_login.password
if [ ! -s "$pwfile" ]; then
  (umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
fi
auth_pw=$(cat "$pwfile")
if ! "$top/build/bin/tegami-passwd" -c "$conf" list 2>/dev/null | grep -qw "$auth_login"; then
  printf '%s\n' "$auth_pw" | "$top/build/bin/tegami-passwd" -c "$conf" add "$auth_login" >/dev/null
fi
if [ -f "$dir/master.pid" ] && kill -0 "$(cat "$dir/master.pid")" 2>/dev/null; then
  echo "run: Tegami is already running (pid $(cat "$dir/master.pid")); stop it with: kill $(cat "$dir/master.pid")" >&2
  exit 75
fi

cat <<MSG

Tegami is starting under $dir $note
  MTA (SMTP, STARTTLS, no relaying): 127.0.0.1:$port      configuration: $conf
  MSA (submission, STARTTLS, AUTH):  127.0.0.1:$msa_port
  SMTPS (submission, implicit TLS):  127.0.0.1:$smtps_port   certificate: $tls/cert.pem (self-signed)

Send a first message from another terminal:
  swaks --server 127.0.0.1:$port --to $rcpt@localhost --from you@example.org
or over TLS:
  swaks --server 127.0.0.1:$port --tls --to $rcpt@localhost --from you@example.org
or:
  python3 -c "import smtplib; smtplib.SMTP('127.0.0.1', $port).sendmail('you@example.org', ['$rcpt@localhost'], 'Subject: hello\r\n\r\nfirst message\r\n')"
or submit on the MSA with STARTTLS and AUTH as the sandbox user $auth_login (password $auth_pw,
kept in $pwfile), or on $smtps_port with implicit TLS (--tls-on-connect):
  swaks --server 127.0.0.1:$msa_port --tls --auth PLAIN --auth-user $auth_login --auth-password '$auth_pw' \\
        --from $auth_login@localhost --to $rcpt@localhost
or through the sendmail command (the MSP: client queue $dir/clientmqueue, then smtpd's
local socket $dir/msp/submit):
  printf 'Subject: hello\n\nfirst message\n' | $top/build/bin/sendmail -C $conf -i $rcpt

It lands in: $dir/mail/$rcpt   (mbox; set mailbox_format = maildir in $conf for $dir/maildirs/$rcpt/)

Mail for other domains goes to their MX hosts. Behind a port-25 block, send it through
a smarthost instead: add to $conf
  smarthost = [smtp.example.net]:587       (STARTTLS; [host]:465 for TLS from the start)
  authinfo = text:$dir/authinfo
and write $dir/authinfo (makemap hash $dir/authinfo < file for a hash map):
  AuthInfo:smtp.example.net "U:you@example.net" "P:your-password" "M:PLAIN LOGIN"
then reload with: kill -HUP \$(cat $dir/master.pid)
Logs follow below. Press Ctrl-C to stop.

MSG
exec "$top/build/bin/tegami-master" -c "$conf" -f
