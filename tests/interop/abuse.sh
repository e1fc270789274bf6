#!/bin/bash
# abuse.sh - the abuse defences end to end (tests/interop/abuse_test.py: smtplib and a
# raw client on 127.0.0.x): error sleep, harvest tarpit, per-address session and
# connection-rate limits, trusted networks exempt. Env: TEGAMI_BIN, TEGAMI_SRC. The last
# line is "N passed, N failed"; non-zero exit on any failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 180 python3 "$SRC/tests/interop/abuse_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - abuse_test.py did not finish within 180 s"
  echo "0 passed, 1 failed"
fi
exit $rc
