#!/bin/bash
# protocol.sh - smtpd's SMTP protocol edges with a raw client (tests/interop/protocol_test.py)
# against the real suite in a sandbox on 127.0.0.1. Env: TEGAMI_BIN, TEGAMI_SRC. The last line is
# "N passed, N failed"; the exit status is non-zero on any failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
# -k: a hung run gets SIGTERM (the helper stops master in its finally clause), then SIGKILL.
timeout -k 20 180 python3 "$SRC/tests/interop/protocol_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - protocol_test.py did not finish within 180 s"
  echo "0 passed, 1 failed"
fi
exit $rc
