#!/bin/bash
# lmtp.sh - LMTP delivery through the suite (tests/interop/lmtp_test.py): a Python LMTP
# server for the per-recipient cases and Dovecot's LMTP server (dovecot-core,
# dovecot-lmtpd; a separate instance the test starts) for interop. Env: TEGAMI_BIN,
# TEGAMI_SRC. The last line is "N passed, N failed"; the exit status is non-zero on any
# failure or a hang (bounded).
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 240 python3 "$SRC/tests/interop/lmtp_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - lmtp_test.py did not finish within 240 s"
  echo "0 passed, 1 failed"
fi
exit $rc
