#!/bin/bash
# limits.sh - per-user sending limits end to end (tests/interop/limits_test.py: smtplib
# and raw SMTP on 127.0.0.1, raw SMTP on the MSP socket) against the real suite in a
# sandbox. Env: TEGAMI_BIN, TEGAMI_SRC. The last line is "N passed, N failed"; the exit
# status is non-zero on any failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 240 python3 "$SRC/tests/interop/limits_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - limits_test.py did not finish within 240 s"
  echo "0 passed, 1 failed"
fi
exit $rc
