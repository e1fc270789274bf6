#!/bin/sh
# accounts.sh [BASE] - creates the daemons' system accounts when missing: BASE-smtpd,
# BASE-queue, BASE-local, BASE-auth and BASE-remote (BASE defaults to "tegami", the
# default of the `user` key; see tegami.conf(5) for the *_user keys). Each has its own
# group, no home and no login shell. Also the MSP's group smmsp (msp_group: the local
# submission socket and the client queue belong to it; sendmail is setgid to it).
# Idempotent; needs root. Used by `make install`,
# `make run`, the root tests, the integration harness and the benchmark.
set -eu
base=${1:-tegami}
if [ "$(id -u)" != 0 ]; then
  echo "accounts.sh: needs root to create the ${base}-* accounts" >&2
  exit 77
fi
for d in smtpd queue local auth remote; do
  u=$base-$d
  getent passwd "$u" >/dev/null && continue
  echo "accounts: creating the system user $u"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$u"
done
if ! getent group smmsp >/dev/null; then
  echo "accounts: creating the MSP group smmsp"
  groupadd --system smmsp
fi
