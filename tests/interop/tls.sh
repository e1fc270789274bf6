#!/bin/bash
# tls.sh - TLS interop on every listener of the real suite, in sandboxes on 127.0.0.1:
# Python's smtplib and raw sockets (tests/interop/tls_test.py: STARTTLS on 25 and 587,
# SMTP_SSL on 465, the STARTTLS injection payload, a second STARTTLS, stalled and bad
# handshakes, TLS < 1.2, resumption, SIGHUP reload), then swaks (--tls, --tls-on-connect)
# and openssl s_client (-starttls smtp; the RSA or ECDSA certificate by the client's
# offer; TLS 1.1 refused). Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." /
# "not ok - ..." and, last, "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
export TEGAMI_SRC=$SRC TEGAMI_BIN=$BIN
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
MASTER=""

. "$SRC/tests/lib/tap.sh"

tap_relay tls_test.py < <(timeout -k 20 180 python3 "$SRC/tests/interop/tls_test.py" 2>&1
                          echo "exit $?")

cleanup() {
  if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
    kill -TERM "$MASTER" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$MASTER" 2>/dev/null
  fi
  [ -n "${TEGAMI_KEEP:-}" ] || rm -rf "$DIR"
}
for tool in swaks openssl; do
  command -v $tool >/dev/null 2>&1 || { not_ok "$tool is installed"; finish; }
done
DIR=$(mktemp -d /tmp/tegami-tls.XXXXXX) || exit 1
chmod 755 "$DIR"
trap cleanup EXIT
trap 'exit 1' INT TERM
for kind in rsa ec; do
  if [ $kind = rsa ]; then alg=(-newkey rsa:2048); else alg=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1); fi
  timeout 60 openssl req -x509 -nodes -days 30 -subj /CN=localhost "${alg[@]}" \
    -keyout "$DIR/$kind.key" -out "$DIR/$kind.pem" >/dev/null 2>&1 || { not_ok "openssl req $kind"; finish; }
  chmod 644 "$DIR/$kind.key"
done
USER_TO=$($HELPER user)
PORT=$($HELPER freeport); MSA=$($HELPER freeport); SMTPS=$($HELPER freeport)
printf 'postmaster: %s\n' "$USER_TO" >"$DIR/aliases"
sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN" "msa_listen=127.0.0.1:$MSA" \
  "smtps_listen=127.0.0.1:$SMTPS" "tls_cert_file=$DIR/rsa.pem, $DIR/ec.pem" \
  "tls_key_file=$DIR/rsa.key, $DIR/ec.key" >/dev/null || { not_ok "mkconf.sh"; finish; }
setsid "$BIN/tegami-master" -c "$DIR/tegami.conf" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
MBOX=$DIR/mail/$USER_TO
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite greets on 127.0.0.1:$PORT" "$(cat "$DIR/master.log")"
  finish
fi
delivered() {  # token
  local i
  for i in $(seq 1 100); do
    grep -q -F -- "$1" "$MBOX" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# ---- swaks
out=$(timeout 30 swaks --server "127.0.0.1:$PORT" --tls --helo client.example.org \
  --to "$USER_TO@localhost" --from a@example.org --header "Subject: swaks-tls-token" 2>&1)
if [ $? -eq 0 ] && grep -q '<~ *250 2.0.0 Ok: queued' <<<"$out" && delivered swaks-tls-token &&
   grep -q 'with ESMTPS id' "$MBOX"; then
  ok "swaks --tls on 25: delivered, Received says ESMTPS"
else
  not_ok "swaks --tls on 25" "$out"
fi
out=$(timeout 30 swaks --server "127.0.0.1:$SMTPS" --tls-on-connect --helo client.example.org \
  --to "$USER_TO@localhost" --from a@example.org 2>&1)
if grep -q '<~\* *530 5.7.0' <<<"$out" && grep -q 'TLS started' <<<"$out"; then
  ok "swaks --tls-on-connect on 465: TLS at connect, 530 5.7.0 before AUTH"
else
  not_ok "swaks --tls-on-connect on 465" "$out"
fi
out=$(timeout 30 swaks --server "127.0.0.1:$MSA" --tls --helo client.example.org \
  --to "$USER_TO@localhost" --from a@example.org 2>&1)
if grep -q '<~\* *530 5.7.0' <<<"$out"; then
  ok "swaks --tls on 587: 530 5.7.0 before AUTH"
else
  not_ok "swaks --tls on 587" "$out"
fi

# ---- openssl s_client
sc() { timeout 15 openssl s_client -connect "127.0.0.1:$1" -servername localhost "${@:2}" </dev/null 2>&1; }
out=$(printf 'EHLO c.example.org\r\nQUIT\r\n' | timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -starttls smtp -quiet 2>&1)
# s_client's own EHLO (before TLS) shows "250 STARTTLS"; ours comes after the handshake.
after=$(sed -n '/^250-localhost/,$p' <<<"$out")
if grep -q '^250-PIPELINING' <<<"$after" && ! grep -q '^250.STARTTLS' <<<"$after" && grep -q '^221 2.0.0' <<<"$after"; then
  ok "openssl s_client -starttls smtp: EHLO under TLS offers no STARTTLS"
else
  not_ok "openssl s_client -starttls smtp" "$out"
fi
out=$(sc "$SMTPS" -sigalgs ECDSA+SHA256 -tls1_2)
if grep -q 'Peer signature type: ECDSA' <<<"$out" && grep -q 'Protocol *: TLSv1.2' <<<"$out"; then
  ok "a client offering only ECDSA gets the ECDSA certificate"
else
  not_ok "ECDSA certificate by the client's offer" "$out"
fi
out=$(sc "$SMTPS" -sigalgs RSA-PSS+SHA256:RSA+SHA256 -tls1_2)
if grep -q 'Peer signature type: RSA' <<<"$out"; then
  ok "a client offering only RSA gets the RSA certificate"
else
  not_ok "RSA certificate by the client's offer" "$out"
fi
out=$(sc "$SMTPS" -tls1_1)
if ! grep -q 'Cipher is [A-Z]' <<<"$out" || grep -q 'Cipher is (NONE)' <<<"$out"; then
  ok "openssl s_client -tls1_1 is refused"
else
  not_ok "openssl s_client -tls1_1 is refused" "$out"
fi
out=$(sc "$SMTPS" -tls1_2 -cipher 'AES128-SHA:DES-CBC3-SHA:RC4-SHA')
if ! grep -q 'Cipher is [A-Z]' <<<"$out" || grep -q 'Cipher is (NONE)' <<<"$out"; then
  ok "non-forward-secret and legacy ciphers are refused"
else
  not_ok "legacy ciphers are refused" "$out"
fi
if grep -q 'TLS handshake failed from localhost\[127.0.0.1\]: .*unsupported protocol' "$DIR/master.log"; then
  ok "the refused handshake is logged with client and reason"
else
  not_ok "the refused handshake is logged with client and reason" "$(tail -20 "$DIR/master.log")"
fi
finish
