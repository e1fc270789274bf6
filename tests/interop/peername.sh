#!/bin/bash
# peername.sh - smtpd's client names by forward-confirmed reverse DNS against dnsmasq on
# loopback, and the lookup timeout (tests/interop/peername_test.py). Env: TEGAMI_BIN,
# TEGAMI_SRC. The last line is "N passed, N failed"; the exit status is non-zero on any
# failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 180 python3 "$SRC/tests/interop/peername_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - peername_test.py did not finish within 180 s"
  echo "0 passed, 1 failed"
fi
exit $rc
