#!/bin/sh
# install.sh DESTDIR PREFIX SBINDIR LIBEXECDIR SYSCONFDIR MANDIR BUILD
# Installs what doc/tegami-files.txt lists, with its modes; owners are set when run as
# root (and the account exists). A config file already present is kept.
set -eu
DESTDIR=$1 PREFIX=$2 SBINDIR=$3 LIBEXECDIR=$4 SYSCONFDIR=$5 MANDIR=$6 BUILD=$7
: "$PREFIX"
cd "$(dirname "$0")/.."
root=0; [ "$(id -u)" = 0 ] && root=1
# The daemons' accounts and the MSP group first, so that the manifest's owners exist
# (root only).
[ $root = 1 ] && [ -z "$DESTDIR" ] && sh scripts/accounts.sh
if [ $root = 1 ] && ! getent group smmsp >/dev/null; then
  echo "install: creating the MSP group smmsp (msp_group; sendmail is setgid to it)"
  groupadd --system smmsp
fi
grep -v '^#' doc/tegami-files.txt | while read -r type path owner group mode src; do
  [ -n "$type" ] || continue
  path=$(echo "$path" | sed "s|\${SBINDIR}|$SBINDIR|; s|\${LIBEXECDIR}|$LIBEXECDIR|; s|\${SYSCONFDIR}|$SYSCONFDIR|; s|\${MANDIR}|$MANDIR|")
  src=$(echo "$src" | sed "s|\${BUILD}|$BUILD|")
  dest=$DESTDIR$path
  case $type in
    d) mkdir -p "$dest"; chmod "$mode" "$dest" ;;
    f) install -D -m "$mode" "$src" "$dest" ;;
    c) if [ -e "$dest" ]; then echo "install: keeping existing $dest"; else install -D -m "$mode" "$src" "$dest"; fi ;;
    l) mkdir -p "$(dirname "$dest")"; ln -sfn "$src" "$dest"; continue ;;
    *) echo "install: bad manifest type $type" >&2; exit 70 ;;
  esac
  if [ $root = 1 ] && getent passwd "$owner" >/dev/null && getent group "$group" >/dev/null; then
    chown "$owner:$group" "$dest"
    chmod "$mode" "$dest"  # chown clears a set-group-ID bit: set the mode again
  fi
done
if ! getent passwd tegami-smtpd >/dev/null; then
  echo "install: create the daemons' accounts before starting: sh scripts/accounts.sh (as root)"
fi
