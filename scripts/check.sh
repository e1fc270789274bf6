#!/bin/bash
# check.sh - runs every test suite (called by `make check` after the build and lint):
#   unit tests (Criterion, one binary per area), integration tests (Criterion, start the
#   real suite), interop scripts (real third-party clients), the crash test, the
#   durability tests (syscall ordering under strace, start-up order), root-only
#   tests (skipped visibly when not root), then the sanitizer pass (ASan+UBSan build,
#   unit and integration tests again). Prints one line per suite and, last,
#   "N passed, N failed" over the suites; exits non-zero if any failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0; failed=0; skipped=0; failures=""
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"

suite() {  # name command...
  local name=$1; shift
  local log="$log_dir/$(echo "$name" | tr ' /' '__').log"
  local start=$SECONDS
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "PASS  $name ($((SECONDS - start))s) $(tail -n 1 "$log")"
  else
    failed=$((failed + 1)); failures="$failures $name"
    echo "FAIL  $name ($((SECONDS - start))s), last lines of $log:"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
}

skip() { skipped=$((skipped + 1)); echo "SKIP  $1: $2"; }

run_unit() {  # build dir
  local b=$1 rc=0 n=0
  for t in "$b"/tests/unit-*; do
    [ -x "$t" ] || continue
    n=$((n + 1))
    echo "== $t"; "$t" --jobs 2 || rc=1
  done
  echo "unit: $n Criterion binaries ($(ls "$b"/tests/unit-* | xargs -n1 basename | tr '\n' ' '))"
  return $rc
}

export TEGAMI_SRC=$PWD
# As root the daemons run as the tegami user, which must be able to execute them: when
# the source tree is not searchable by others (a clone under /root, say), the suites get
# a copy of the programs in a world-searchable temporary directory.
bin_for() {  # build dir -> directory of programs the suites should run
  if [ "$(id -u)" = 0 ] && ! su -s /bin/sh nobody -c "test -x '$PWD/$1/bin/tegami-smtpd'" 2>/dev/null; then
    local copy
    copy=$(mktemp -d /tmp/tegami-bin.XXXXXX)
    chmod 755 "$copy"
    cp -p "$1"/bin/* "$copy/"
    echo "$copy"
  else
    echo "$PWD/$1/bin"
  fi
}
BIN_DIR=$(bin_for "$BUILD")
suite "unit" run_unit "$BUILD"
if [ -x "$BUILD/tests/integration-tests" ]; then
  suite "integration" env TEGAMI_BIN="$BIN_DIR" "$BUILD/tests/integration-tests" --jobs 1
fi
for t in tests/interop/*.sh tests/crash/*.sh tests/durability/*.sh; do
  [ -f "$t" ] || continue
  suite "$t" env TEGAMI_BIN="$BIN_DIR" bash "$t"
done
if [ "$(id -u)" = 0 ]; then
  for t in tests/root/*.sh; do
    [ -f "$t" ] || continue
    suite "$t" env TEGAMI_BIN="$BIN_DIR" bash "$t"
  done
else
  skip "tests/root" "not running as root (privilege separation, capabilities and delivery as the user need root; CI runs them)"
fi

if [ "${TEGAMI_NO_TIDY:-0}" != 1 ]; then
  suite "clang-tidy" make --no-print-directory tidy
else
  skip "clang-tidy" "TEGAMI_NO_TIDY=1"
fi

if [ "${TEGAMI_NO_SAN:-0}" != 1 ]; then
  if make --no-print-directory SAN=1 all >"$log_dir/san-build.log" 2>&1; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    suite "sanitizer unit" run_unit build-san
    if [ -x build-san/tests/integration-tests ]; then
      suite "sanitizer integration" env TEGAMI_BIN="$(bin_for build-san)" build-san/tests/integration-tests --jobs 1
    fi
  else
    failed=$((failed + 1)); failures="$failures sanitizer-build"
    echo "FAIL  sanitizer build:"; tail -n 30 "$log_dir/san-build.log" | sed 's/^/    /'
  fi
else
  skip "sanitizer pass" "TEGAMI_NO_SAN=1"
fi

[ -n "$failures" ] && echo "failed suites:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
