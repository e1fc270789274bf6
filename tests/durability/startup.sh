#!/bin/bash
# startup.sh - start-up order and the unrecoverable store (tests/durability/startup.py):
# smtpd only after the queue is ready; a store that lost its newest log file makes the
# queue log one fatal line (file, LSN, recovery steps) and exit 65, and master stop
# restarting it after 5 tries; moving the environment aside gives a working suite.
# Env: TEGAMI_BIN, TEGAMI_SRC. Last line "N passed, N failed"; non-zero exit on failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
# shellcheck source=tests/lib/tap.sh
. "$SRC/tests/lib/tap.sh"
tap_relay startup.py < <(timeout -k 20 240 python3 -u "$SRC/tests/durability/startup.py"; echo "exit $?")
finish
