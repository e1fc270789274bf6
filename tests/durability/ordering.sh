#!/bin/bash
# ordering.sh - the syscall-ordering test (tests/durability/ordering.py on the checker
# tests/durability/trace_check.py): first the checker against synthetic traces, both
# ways, then the real suite under strace with log-file switches and first deliveries
# into new mbox files and new Maildirs. Needs strace (scripts/deps.sh test).
# Env: TEGAMI_BIN, TEGAMI_SRC. Last line "N passed, N failed"; non-zero exit on failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
# shellcheck source=tests/lib/tap.sh
. "$SRC/tests/lib/tap.sh"
if ! command -v strace >/dev/null 2>&1; then
  not_ok "strace is installed (scripts/deps.sh test)"
  finish
fi
tap_relay trace_check.py < <(python3 -u "$SRC/tests/durability/trace_check.py" --self-test; echo "exit $?")
tap_relay ordering.py < <(timeout -k 20 400 python3 -u "$SRC/tests/durability/ordering.py"; echo "exit $?")
finish
