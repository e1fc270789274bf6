#!/bin/bash
# msa_headers.sh - the MSA adds a missing Message-ID and Date (RFC 6409 8.2, 8.3):
# tests/interop/msa_headers_test.py with smtplib against the real suite in a sandbox.
# Env: TEGAMI_BIN, TEGAMI_SRC. The last line is "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 120 python3 "$SRC/tests/interop/msa_headers_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - msa_headers_test.py did not finish within 120 s"
  echo "0 passed, 1 failed"
fi
exit $rc
