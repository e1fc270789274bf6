# root_env.sh - sourced by the root-only shell tests (tests/root/*.sh) right after they
# set SRC: BIN (TEGAMI_BIN or build/bin), tests/lib/tap.sh, and the set-up they share:
#   require_root         not root: "# skipped: needs root" and finish (0 passed)
#   make_test_dir NAME   DIR=/tmp/NAME.XXXXXX (mode 755: the daemons' accounts traverse
#                        it); on exit MASTER (when set) is stopped, then cleanup_hook
#                        runs (a function the test may define: unmounts), then DIR is
#                        removed unless TEGAMI_KEEP is set
# shellcheck shell=bash
BIN=${TEGAMI_BIN:-$SRC/build/bin}
MASTER=""
DIR=""

# shellcheck source=tests/lib/tap.sh
. "$SRC/tests/lib/tap.sh"

cleanup() {
  stop_master "$MASTER"
  if declare -F cleanup_hook >/dev/null; then cleanup_hook; fi
  [ -n "$DIR" ] && [ -z "${TEGAMI_KEEP:-}" ] && rm -rf "$DIR"
}

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "# skipped: needs root"
    finish
  fi
}

make_test_dir() {
  DIR=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
  chmod 755 "$DIR"
  trap cleanup EXIT
  trap 'exit 1' INT TERM
}
