#!/bin/bash
# remote_postfix.sh - tegami-remote against a real Postfix (tests/root/remote_postfix_test.py):
# MX delivery over STARTTLS byte for byte, the OP25B smarthost on a submission port
# (STARTTLS + Cyrus SASL AUTH) and on 465 (implicit TLS). Root only. Env: TEGAMI_BIN,
# TEGAMI_SRC, REMOTE_PF_DIR. The last line is "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 240 python3 "$SRC/tests/root/remote_postfix_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - remote_postfix_test.py did not finish within 240 s"
  echo "0 passed, 1 failed"
fi
exit $rc
