#!/bin/bash
# msp_modes.sh - the sendmail modes beyond submission, as an ordinary user against the
# real suite in a sandbox (tests/lib/msp_env.sh): -bt address test mode (the probes
# scripts use, and the ones Tegami refuses), -qG, held ("quarantined") messages with
# -Q/-qQ, lost items (-qL), hoststat/purgestat from the queue's deferred recipients,
# editmap on a map makemap built; as root also dead.letter: the submitter's home gets a
# message refused for good (-oep) and one that could not be queued at all, and a
# submitter without a home keeps it in the client queue as a lost item.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and, last,
# "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
. "$SRC/tests/lib/tap.sh"
. "$SRC/tests/lib/msp_env.sh"
trap msp_env_cleanup EXIT
trap 'exit 1' INT TERM
# partner.example goes to a port nobody listens on: its mail stays deferred.
DEAD_PORT=$($HELPER freeport)
msp_env_setup "mailertable=text:@DIR@/mailertable" ||
  { not_ok "the suite starts" "$(tail -20 "$DIR/master.log" 2>/dev/null)"; finish; }
printf 'partner.example smtp:[127.0.0.1]:%s\n.sub.example relay:[gw.sub.example]\n' "$DEAD_PORT" >"$DIR/mailertable"
ok "the suite starts"
H=localhost.localdomain

# run_as NAME WANT-RC TEXT COMMAND... : as the caller, stdin from /dev/null; the output
# must contain TEXT (when not empty). Leaves the output in $OUT.
OUT=""
run_as() {
  local name=$1 want=$2 text=$3 rc; shift 3
  OUT=$(as_caller "$@" 2>&1 </dev/null); rc=$?
  if [ "$rc" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" <<<"$OUT"; }; then
    ok "$name"
  else
    not_ok "$name (exit $rc, want $want)" "$OUT"
  fi
}

# ---- -bt
bt() { printf '%s\n' "$@" | as_caller "$SM" -bt 2>&1; }
out=$(bt '3,0 user@far.example'); rc=$?
[ $rc = 0 ] && grep -qF 'ADDRESS TEST MODE' <<<"$out" &&
  grep -qF 'parse            returns: $# esmtp $@ far . example . $: user < @ far . example . >' <<<"$out" &&
  ok "-bt: 3,0 resolves a remote address to esmtp and its domain" || not_ok "-bt: 3,0 (exit $rc)" "$out"
out=$(bt "/parse $USER_TO" '/parse x@partner.example' '/parse y@a.sub.example')
grep -qF "mailer local, user $USER_TO" <<<"$out" &&
  grep -qF "mailer smtp, host [127.0.0.1]:$DEAD_PORT, user x@partner.example" <<<"$out" &&
  grep -qF "mailer relay, host [gw.sub.example], user y@a.sub.example" <<<"$out" &&
  ok "-bt: /parse follows local_domains and the mailertable (with its .parent keys)" || not_ok "-bt: /parse" "$out"
out=$(bt '/map mailertable partner.example' '/map mailertable none.example' '$j' '$=w')
grep -qF "map_lookup: mailertable (partner.example) returns smtp:[127.0.0.1]:$DEAD_PORT (0)" <<<"$out" &&
  grep -qF 'map_lookup: mailertable (none.example) no match (0)' <<<"$out" &&
  grep -qx "$H" <<<"$out" && ok "-bt: /map, \$j and \$=w" || not_ok "-bt: /map, \$j, \$=w" "$out"
out=$(bt '=S0' '/mx example.org' '9 a@b' '/map virtuser a@b' '/nosuch' '/quit' '3,0 never@reached')
grep -qF 'is not supported' <<<"$out" && grep -qF 'does not resolve MX' <<<"$out" &&
  grep -qF 'Undefined ruleset 9' <<<"$out" && grep -qF 'map is not configured' <<<"$out" &&
  grep -qF 'Unknown "/" command /nosuch' <<<"$out" && ! grep -qF 'never' <<<"$(sed -n '/quit/,$p' <<<"$out" | tail -n +2)" &&
  ok "-bt: what Tegami cannot answer is refused in words, and /quit ends the session" ||
  not_ok "-bt: refusals and /quit" "$out"

# ---- -qG
run_as "-qG with a group Tegami lacks is EX_USAGE" 64 "Queue group other unknown" "$SM" -qGother
run_as "mailq -qGmqueue lists the one queue" 0 "Total requests" "$DIR/bin/mailq" -qGmqueue

# ---- a deferred message: hoststat, hold (-Q), -qQ, release
printf 'Subject: far\n\nDEFERRED-ONE\n' | as_caller "$SM" -i "someone@partner.example" >/dev/null 2>&1
id=""
for _ in $(seq 1 100); do
  id=$(as_caller "$DIR/bin/mailq" --json 2>/dev/null | python3 -c '
import json, sys
for m in json.load(sys.stdin)["messages"]:
    if any(r["status"] == "deferred" for r in m["recipients"]): print(m["id"])' 2>/dev/null | head -1)
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] && ok "a message to an unreachable host is deferred" || not_ok "a message to an unreachable host is deferred" "$(tail -5 "$DIR/master.log")"
run_as "hoststat shows the destination with its last result" 0 "partner.example" "$DIR/bin/hoststat"
grep -q "Hostname" <<<"$OUT" && grep -qE "partner\.example +[0-9:]+ 4\.[0-9.]+ .*\(1 recipient\)" <<<"$OUT" &&
  ok "hoststat: header, next retry and recipient count" || not_ok "hoststat layout" "$OUT"
run_as "sendmail -bh is hoststat" 0 "partner.example" "$SM" -bh
if [ "$ROOT" = 1 ]; then
  run_as "purgestat by an ordinary user is EX_NOPERM" 77 "permission" "$DIR/bin/purgestat"
  out=$("$SM" -bH 2>&1); rc=$?
  [ $rc = 0 ] && grep -q "due now" <<<"$out" && ok "purgestat by root makes the deferred mail due now" || not_ok "purgestat by root (exit $rc)" "$out"
  ADMIN=("$SM")
else
  run_as "purgestat makes the deferred mail due now" 0 "due now" "$DIR/bin/purgestat"
  ADMIN=(as_caller "$SM")
fi
out=$("${ADMIN[@]}" -Qawaiting-review -qRpartner.example 2>&1); rc=$?
[ $rc = 0 ] && grep -q "1 message held" <<<"$out" && ok "-Qreason -qR holds (quarantines) the message" || not_ok "-Q holds (exit $rc)" "$out"
run_as "mailq -qQ lists held messages with their reason" 0 "held: awaiting-review" "$DIR/bin/mailq" -qQ
run_as "mailq -qQreview matches the reason" 0 "$id" "$DIR/bin/mailq" -qQreview
run_as "mailq -qQspam: no held message has that reason" 0 "is empty" "$DIR/bin/mailq" -qQspam
run_as "mailq -q!Q leaves held messages out" 0 "is empty" "$DIR/bin/mailq" -q!Q
out=$("${ADMIN[@]}" -Q -qQ 2>&1); rc=$?
[ $rc = 0 ] && grep -q "1 message released" <<<"$out" && ok "-Q -qQ releases every held message" || not_ok "-Q -qQ releases (exit $rc)" "$out"
run_as "after the release mailq -qQ is empty" 0 "is empty" "$DIR/bin/mailq" -qQ

# ---- lost items
run_as "mailq -qL: the main queue has no lost items" 0 "is empty" "$DIR/bin/mailq" -qL
run_as "mailq -Ac -qL of a clean client queue" 0 "is empty" "$DIR/bin/mailq" -Ac -qL

# ---- editmap on a makemap map
printf 'Connect:192.0.2.1 REJECT\nFrom:friend@example.org OK\n' >"$DIR/access"
"$BIN/makemap" hash "$DIR/access" <"$DIR/access"
E=$BIN/editmap
out=$("$E" -q hash "$DIR/access" Connect:192.0.2.1); rc=$?
[ $rc = 0 ] && [ "$out" = REJECT ] && ok "editmap -q prints the value" || not_ok "editmap -q (exit $rc)" "$out"
"$E" -q hash "$DIR/access" connect:192.0.2.99 >/dev/null 2>&1; rc=$?
[ $rc = 69 ] && ok "editmap -q of a missing key is EX_UNAVAILABLE" || not_ok "editmap -q missing key (exit $rc)"
"$E" -u hash "$DIR/access" To:spam@example.org ERROR:5.7.1:550 no thanks; rc=$?
out=$("$BIN/makemap" -u hash "$DIR/access")
[ $rc = 0 ] && grep -qxF $'to:spam@example.org\tERROR:5.7.1:550 no thanks' <<<"$out" && grep -q '^connect:192.0.2.1' <<<"$out" &&
  ok "editmap -u adds a key (folded) beside the others; makemap -u shows it" || not_ok "editmap -u (exit $rc)" "$out"
"$E" -x hash "$DIR/access" from:friend@example.org; rc=$?
out=$("$BIN/makemap" -u hash "$DIR/access")
[ $rc = 0 ] && ! grep -q friend <<<"$out" && ok "editmap -x deletes it" || not_ok "editmap -x (exit $rc)" "$out"
out=$("$E" -x hash "$DIR/access" from:friend@example.org 2>&1); rc=$?
[ $rc = 74 ] && grep -q "not found" <<<"$out" && ok "editmap -x of a missing key is EX_IOERR" || not_ok "editmap -x missing (exit $rc)" "$out"
out=$("$E" -u hash "$DIR/nosuch" k v 2>&1); rc=$?
[ $rc = 73 ] && [ ! -e "$DIR/nosuch.db" ] && ok "editmap on a missing map is EX_CANTCREAT and creates nothing" || not_ok "editmap missing map (exit $rc)" "$out"
"$E" hash "$DIR/access" k >/dev/null 2>&1; rc=$?
[ $rc = 64 ] && ok "editmap without -q/-u/-x is EX_USAGE" || not_ok "editmap without a mode (exit $rc)"

# ---- dead.letter (root: a submitter whose home is in the sandbox)
if [ "$ROOT" = 1 ]; then
  id tgdead >/dev/null 2>&1 || useradd -M -d "$DIR/home-dead" -s /usr/sbin/nologin tgdead
  usermod -d "$DIR/home-dead" tgdead 2>/dev/null
  mkdir -p "$DIR/home-dead"; chown tgdead "$DIR/home-dead"; chmod 700 "$DIR/home-dead"
  DL=$DIR/home-dead/dead.letter
  dead() { (cd /tmp && setpriv --reuid=tgdead --regid=tgdead --init-groups -- "$SM" "$@"); }
  out=$(printf 'Subject: dl\n\nDEAD-LETTER-OEP\n' | dead -i nosuchuser 2>/dev/null); rc=$?
  [ $rc = 67 ] && [ "$out" = "$DL... Saved message in $DL" ] && ok "-oep (default): unknown user: EX_NOUSER and \"Saved message in ~/dead.letter\"" ||
    not_ok "-oep: dead.letter (exit $rc)" "$out"
  st=$(stat -c '%a %U' "$DL" 2>/dev/null)
  [ "$st" = "600 tgdead" ] && grep -q '^From tgdead@' "$DL" && grep -q '^DEAD-LETTER-OEP$' "$DL" &&
    grep -q '^Message-Id: <' "$DL" && ok "dead.letter: an mbox entry, 0600, the submitter's own" || not_ok "dead.letter file ($st)" "$(cat "$DL" 2>/dev/null)"
  printf 'Subject: dl\n\nDEAD-LETTER-OEQ\n' | dead -oeq -i nosuchuser >/dev/null 2>&1
  ! grep -q DEAD-LETTER-OEQ "$DL" && ok "-oeq saves nothing" || not_ok "-oeq saves nothing"
  # The client queue unwritable and smtpd down: nothing can take the message.
  msp_stop_master
  chmod 0550 "$DIR/clientmqueue"
  out=$(printf 'Subject: dl\n\nDEAD-LETTER-NOQUEUE\n' | dead -i "$USER_TO" 2>&1); rc=$?
  chmod 0770 "$DIR/clientmqueue"
  [ $rc = 71 ] && grep -q DEAD-LETTER-NOQUEUE "$DL" && grep -qF "Saved message in $DL" <<<"$out" &&
    ok "no client queue and no smtpd: EX_OSERR (as 8.17) and the message is in dead.letter" ||
    not_ok "no client queue and no smtpd (exit $rc)" "$out"
  msp_start_master || not_ok "the suite restarts"
  # A submitter without a home directory (tgtest2's does not exist): kept as lost.
  out=$(printf 'Subject: lost\n\nLOST-ITEM\n' | as_caller "$SM" -i nosuchuser 2>&1); rc=$?
  [ $rc = 67 ] && grep -q "kept in .* as lost" <<<"$out" && ls "$DIR/clientmqueue" | grep -q '^Qf' &&
    ok "no dead.letter possible: EX_NOUSER, the message kept in the client queue as lost" || not_ok "lost item (exit $rc)" "$out"
  sleep 3  # the client-queue runner (every 2 s) must leave it alone
  run_as "mailq -Ac -qL lists the lost item" 0 "Lost:" "$DIR/bin/mailq" -Ac -qL
  ls "$DIR/clientmqueue" | grep -q '^Qf' && ! ls "$DIR/clientmqueue" | grep -q '^qf' &&
    ok "the client-queue runner does not resend a lost item" || not_ok "the runner leaves lost items alone" "$(ls -la "$DIR/clientmqueue")"
  run_as "mailq -Ac (without -qL) does not list it" 0 "is empty" "$DIR/bin/mailq" -Ac
else
  echo "# dead.letter: skipped (needs root for a submitter whose home is in the sandbox)"
fi
# ---- a sending limit reached part-way through the recipients (451 for one RCPT): the
# others get the message now, the client queue keeps it for the one over the limit
msp_stop_master
echo "sender_limit_hour_recipients = 2" >>"$CONF"
[ "$ROOT" = 1 ] && cp "$CONF" "$DIR/etc/tegami/tegami.conf"
msp_start_master || not_ok "the suite restarts with a sending limit"
out=$(printf 'Subject: limit\n\nSEND-LIMIT-PART\n' |
  as_caller "$SM" -i "$USER_TO" p1@partner.example p2@partner.example p3@partner.example 2>&1); rc=$?
[ $rc = 0 ] && wait_mail SEND-LIMIT-PART && ok "one recipient over the sending limit: the others get the message now" ||
  not_ok "one recipient over the sending limit (exit $rc)" "$out"
run_as "mailq -Ac: the client queue keeps the message for the recipient over the limit" 0 "p3@partner.example" "$DIR/bin/mailq" -Ac
! grep -qE "$USER_TO@|p1@|p2@" <<<"$OUT" && ok "... and for that recipient only" || not_ok "the client queue keeps only the deferred recipient" "$OUT"
finish
