#!/bin/bash
# remote.sh - remote delivery against real servers on loopback (tests/interop/remote_test.py):
# dnsmasq for MX/A/AAAA/null MX, Postfix's smtp-sink as the receiving MX. Env: TEGAMI_BIN,
# TEGAMI_SRC, REMOTE_PF_DIR. The last line is "N passed, N failed"; the exit status is
# non-zero on any failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 240 python3 "$SRC/tests/interop/remote_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - remote_test.py did not finish within 240 s"
  echo "0 passed, 1 failed"
fi
exit $rc
