# tap.sh - sourced by the shell test scripts: "ok - ..." / "not ok - ..." lines with the
# detail of a failure indented under it, and finish, which prints the closing
# "N passed, N failed" line and exits non-zero if anything failed.
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {  # name [detail]
  failed=$((failed + 1)); echo "not ok - $1"
  [ $# -gt 1 ] && printf '%s\n' "$2" | tail -n 25 | sed 's/^/#   /'
  return 0
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit $?
}
