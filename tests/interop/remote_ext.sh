#!/bin/bash
# remote_ext.sh - SMTP extensions the peer offers or withholds (tests/interop/remote_ext_test.py):
# Postfix's smtp-sink and a small Python server that offers SIZE and SMTPUTF8. Env: TEGAMI_BIN,
# TEGAMI_SRC, REMOTE_PF_DIR. The last line is "N passed, N failed"; the exit status is
# non-zero on any failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 180 python3 "$SRC/tests/interop/remote_ext_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - remote_ext_test.py did not finish within 180 s"
  echo "0 passed, 1 failed"
fi
exit $rc
