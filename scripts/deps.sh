#!/bin/sh
# deps.sh build|test|run - installs the Debian packages Tegami needs, and only those
# that are missing (idempotent). As root it runs apt-get itself; otherwise through
# `sudo -n` when that works; else it prints the exact apt-get line and fails.
set -eu
BUILD="g++ make autoconf pkgconf libevent-dev libssl-dev libdb5.3-dev libcap-dev libcrypt-dev libunbound-dev libcriterion-dev"
RUN="$BUILD swaks openssl"
TEST="$BUILD swaks python3 liblockfile1 clang-format clang-tidy procps dnsmasq-base sasl2-bin libsasl2-modules libcap2-bin passwd strace linux-perf openssl libnet-ssleay-perl libio-socket-ssl-perl s-nail mutt php-cli git git-email libmailtools-perl msmtp nmap dovecot-core dovecot-lmtpd testssl.sh"
case "${1:-build}" in
  build) want=$BUILD ;;
  run) want=$RUN ;;
  test) want=$TEST ;;
  *) echo "usage: $0 build|run|test" >&2; exit 64 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "deps: these Debian packages are missing and installing them needs root:" >&2
  echo "    sudo apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
