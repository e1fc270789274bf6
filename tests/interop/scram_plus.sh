#!/bin/bash
# scram_plus.sh - SCRAM-SHA-256-PLUS with RFC 9266 tls-exporter channel binding end to
# end: tests/interop/scram_plus_test.py drives openssl s_client (which computes the
# exporter bytes) against the MSA of a sandbox. Env: TEGAMI_BIN, TEGAMI_SRC. The last
# line is "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
timeout -k 20 150 python3 "$SRC/tests/interop/scram_plus_test.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - scram_plus_test.py did not finish within 150 s"
  echo "0 passed, 1 failed"
fi
exit $rc
