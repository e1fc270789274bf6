#!/bin/bash
# crash.sh - the crash test (tests/crash/crash.py): load with SIGKILLs of the queue and
# smtpd, then of the whole suite, against the real suite in sandboxes on 127.0.0.1.
# Env: TEGAMI_BIN, TEGAMI_SRC. The last line is "N passed, N failed"; the exit status is
# non-zero on any failure or when the run does not end within its bound.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export TEGAMI_SRC=$SRC TEGAMI_BIN=${TEGAMI_BIN:-$SRC/build/bin}
# -k: a hung run gets SIGTERM (the helper stops master in its finally clauses), then SIGKILL.
timeout -k 20 450 python3 -u "$SRC/tests/crash/crash.py"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  echo "not ok - crash.py did not finish within 450 s"
  echo "0 passed, 1 failed"
fi
exit $rc
