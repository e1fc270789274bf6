#!/bin/bash
# check_tls.sh - `make check-tls`: testssl.sh (Debian's testssl.sh) against every TLS
# listener of a sandbox started here on 127.0.0.1: STARTTLS on the MTA and MSA
# listeners (--starttls smtp) and implicit TLS on the smtps one, each with an RSA and an
# ECDSA certificate. Runs testssl's protocol (-p), standard cipher-list (-s), forward
# secrecy (-f) and vulnerability (-U) checks; fails on any finding of severity MEDIUM,
# HIGH or CRITICAL (an offered weak protocol or cipher, or a known vulnerability), and
# prints a summary of each listener's findings. Slow (minutes): not part of make check.
# Env: TEGAMI_BIN, TEGAMI_SRC, TESTSSL (default: testssl). Last line "N passed, N failed".
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
TESTSSL=${TESTSSL:-testssl}
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
MASTER=""
. "$SRC/tests/lib/tap.sh"
command -v "$TESTSSL" >/dev/null 2>&1 || { not_ok "testssl is installed (apt-get install testssl.sh)"; finish; }
DIR=$(mktemp -d /tmp/tegami-check-tls.XXXXXX) || exit 1
chmod 755 "$DIR"
cleanup() {
  stop_master "$MASTER"
  [ -n "${TEGAMI_KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for kind in rsa ec; do
  if [ $kind = rsa ]; then alg=(-newkey rsa:2048); else alg=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1); fi
  timeout 60 openssl req -x509 -nodes -days 30 -subj /CN=localhost "${alg[@]}" \
    -keyout "$DIR/$kind.key" -out "$DIR/$kind.pem" >/dev/null 2>&1 || { not_ok "openssl req $kind"; finish; }
  chmod 644 "$DIR/$kind.key"
done
PORT=$($HELPER freeport); MSA=$($HELPER freeport); SMTPS=$($HELPER freeport)
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "msa_listen=127.0.0.1:$MSA" \
  "smtps_listen=127.0.0.1:$SMTPS" "tls_cert_file=$DIR/rsa.pem, $DIR/ec.pem" \
  "tls_key_file=$DIR/rsa.key, $DIR/ec.key" >/dev/null || { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
greets "$PORT" "$MASTER" || { not_ok "suite greets on 127.0.0.1:$PORT" "$(cat "$DIR/master.log")"; finish; }
ok "suite greets on 127.0.0.1:$PORT (MSA $MSA, smtps $SMTPS)"

# scan NAME PORT [--starttls smtp]
scan() {
  local name=$1 port=$2 json=$DIR/$1.json rc; shift 2
  timeout -k 10 900 "$TESTSSL" --quiet --color 0 --warnings off --nodns min --ip one \
    --sneaky -p -s -f -U --jsonfile "$json" "$@" "127.0.0.1:$port" >"$DIR/$name.txt" 2>&1
  rc=$?
  if [ ! -s "$json" ]; then
    not_ok "$name: testssl ran (exit $rc)" "$(tail -n 20 "$DIR/$name.txt")"
    return
  fi
  python3 - "$json" "$name" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
rows = json.load(open(path))
bad = [r for r in rows if r.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")]
count = {}
for r in rows:
    count[r.get("severity", "?")] = count.get(r.get("severity", "?"), 0) + 1
offered = [r["id"] for r in rows if r["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2",
                                                "TLS1_3") and r["finding"].startswith("offered")]
print("# %s: protocols offered: %s; findings by severity: %s" % (
    name, " ".join(offered) or "none",
    ", ".join("%s=%d" % kv for kv in sorted(count.items()))))
for r in rows:
    if r.get("severity") in ("LOW", "WARN"):
        print("#   %s %s: %s" % (r["severity"], r["id"], r["finding"][:120]))
for r in bad:
    print("#   %s %s: %s" % (r["severity"], r["id"], r["finding"][:160]))
sys.exit(1 if bad else 0)
PY
  if [ $? -eq 0 ]; then
    ok "$name: no MEDIUM, HIGH or CRITICAL finding (testssl exit $rc)"
  else
    not_ok "$name: testssl reports weak or vulnerable TLS"
  fi
}
scan mta "$PORT" --starttls smtp
scan msa "$MSA" --starttls smtp
scan smtps "$SMTPS"
finish
