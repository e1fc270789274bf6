#!/bin/bash
# msp.sh - the sendmail command as real callers run it, against the real suite in a
# sandbox: cron's line, PHP's mail(), git send-email, mutt, s-nail, bsd-mailx (root
# only: it always runs /usr/sbin/sendmail, given to it in a private mount namespace),
# sendmail -bs driven by Python's smtplib; then each flag with its bad inputs (no
# recipient, -t without recipients, unknown user, bad options, -X, -C), message
# handling (no trailing newline, bare LF, NUL, lone dot, Bcc, added headers,
# X-Authentication-Warning, 10 MB), the daemon stopped during submission (kept in the
# client queue, exit 0, delivered by the runner after restart), mailq and -q.
#
# As root the suite runs privileged and every caller runs as the ordinary user tgtest2
# through a set-group-ID sendmail whose built-in configuration is the sandbox's; as an
# ordinary user everything runs as that user and sendmail is given -C by a wrapper.
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and, last,
# "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
. "$SRC/tests/lib/tap.sh"
# The sandbox, the sandbox's sendmail, as_caller, wait_mail, message_of: tests/lib/msp_env.sh.
. "$SRC/tests/lib/msp_env.sh"
EXPECT_VIA=as_caller  # expect_rc (tests/lib/tap.sh) runs each command as the caller
send_ok() {  # name token command... (stdin: the message)
  local name=$1 token=$2 out rc; shift 2
  out=$(as_caller "$@" 2>&1); rc=$?
  if [ $rc = 0 ] && wait_mail "$token"; then ok "$name"; else not_ok "$name (exit $rc)" "$out"; fi
}

trap msp_env_cleanup EXIT
trap 'exit 1' INT TERM
msp_env_setup || { not_ok "the suite starts" "$(tail -20 "$DIR/master.log" 2>/dev/null)"; finish; }
ok "the suite starts with the MSP socket"

# ---- bad inputs first
expect_rc "no recipient is EX_USAGE" 64 "Recipient names must be specified" "$SM" -i
expect_rc "an unknown flag is EX_USAGE" 64 "illegal option -- Z" "$SM" -Z x
expect_rc "an unknown -o letter is EX_CONFIG" 78 "unknown option" "$SM" -oZ x
expect_rc "an unknown -O name is EX_SOFTWARE" 70 "unknown option name" "$SM" -ONoSuchOption=1 x
expect_rc "-X from an ordinary user is EX_NOPERM" 77 "Permission denied" "$SM" -X /tmp/x "$USER_TO"
expect_rc "-qI without an ID is EX_USAGE" 64 "needs a substring" "$SM" -qI
expect_rc "-Q without a selection is EX_USAGE" 64 "needs -qI" "$SM" -Qspam
out=$(printf 'Subject: none\n\nbody\n' | as_caller "$SM" -t -i 2>&1); rc=$?
if [ $rc = 0 ] && grep -q "No recipient addresses found in header" <<<"$out"; then
  ok "-t without recipients says so and exits 0 (as sendmail 8.17)"
else
  not_ok "-t without recipients says so and exits 0 (exit $rc)" "$out"
fi
out=$(printf 'Subject: x\n\nbody\n' | as_caller "$SM" -i nosuchuser 2>&1); rc=$?
if [ $rc = 67 ] && grep -q "nosuchuser@localhost.localdomain\.\.\." <<<"$out"; then
  ok "an unknown local user is EX_NOUSER with the address named"
else
  not_ok "an unknown local user is EX_NOUSER (exit $rc)" "$out"
fi
expect_rc "a malformed recipient is EX_USAGE" 64 "Invalid recipient" "$SM" -i 'a b@@c'
expect_rc "only empty recipient arguments (\$MAILTO unset) is EX_USAGE, not a silent discard" 64 "Recipient names must be specified" "$SM" -i "" " "
out=$(printf 'Subject: OEM-BOUNCE\n\nbody\n' | as_caller "$SM" -oem -i -f "$USER_TO@localhost.localdomain" nosuchuser 2>&1); rc=$?
if [ $rc = 67 ] && wait_mail "OEM-BOUNCE" && grep -aq "^Subject: Returned mail: see transcript for details" "$MBOX"; then
  ok "-oem: an unknown user is EX_NOUSER and the error is mailed back"
else
  not_ok "-oem: the error is mailed back (exit $rc)" "$out"
fi
expect_rc "-bv of an unknown user is EX_NOUSER" 67 "User unknown" "$SM" -bv nosuchuser
expect_rc "-bv of a known user says deliverable" 0 "deliverable: mailer local" "$SM" -bv "$USER_TO"
if [ "$ROOT" = 1 ]; then
  out=$(printf 'Subject: c\n\nC-FLAG\n' | as_caller "$SM" -C "$CONF" -i "$USER_TO" 2>&1); rc=$?
  if [ $rc = 71 ] && ! ls "$DIR/clientmqueue" | grep -q "^qf"; then
    ok "-C from an ordinary user gives up the group (no queue, no socket: EX_OSERR, as 8.17 when it cannot create its queue file)"
  else
    not_ok "-C from an ordinary user gives up the group (exit $rc)" "$out"
  fi
fi

# ---- real callers
printf 'cron output CRON-LINE\n' |
  send_ok "cron: sendmail -FCronDaemon -i -B8BITMIME -oem user" CRON-LINE \
    "$SM" -FCronDaemon -i -B8BITMIME -oem "$USER_TO"
m=$(message_of CRON-LINE)
grep -q "^From: CronDaemon <$CALLER@localhost.localdomain>" <<<"$m" &&
  ok "cron: From: carries the -F name" || not_ok "cron: From: carries the -F name" "$m"
grep -aq "^Received: (from $CALLER@localhost)" "$MBOX" &&
  ok "Received: names the submitter from SO_PEERCRED" || not_ok "Received: names the submitter" "$(head -20 "$MBOX")"
if command -v php >/dev/null; then
  as_caller php -d "sendmail_path=$SM -t -i" -r \
    "exit(mail('$USER_TO', 'php subject', \"PHP-MAIL body\n.\nafter dot\", 'From: php@example.org') ? 0 : 1);" \
    >/dev/null 2>&1 </dev/null
  rc=$?
  if [ $rc = 0 ] && wait_mail PHP-MAIL && message_of PHP-MAIL | grep -q '^after dot'; then
    ok "PHP mail() (sendmail -t -i) keeps a lone dot"
  else
    not_ok "PHP mail() (exit $rc)" "$(tail -5 "$DIR/master.log")"
  fi
else
  not_ok "php-cli is installed"
fi
if git send-email --help >/dev/null 2>&1; then
  mkdir -p "$DIR/gitrepo"
  printf 'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.org>\nDate: Tue, 1 Dec 2026 00:00:00 +0000\nSubject: [PATCH] GIT-SEND-EMAIL fix\n\n---\n x | 1 +\n' >"$DIR/gitrepo/0001.patch"
  chmod -R a+rX "$DIR/gitrepo"
  out=$(as_caller env GIT_COMMITTER_NAME=Dev GIT_COMMITTER_EMAIL=dev@example.org GIT_AUTHOR_NAME=Dev GIT_AUTHOR_EMAIL=dev@example.org git send-email --confirm=never --quiet --no-validate \
    --sendmail-cmd="$SM" --from="dev@example.org" --to="$USER_TO@localhost.localdomain" \
    "$DIR/gitrepo/0001.patch" 2>&1 </dev/null); rc=$?
  if [ $rc = 0 ] && wait_mail GIT-SEND-EMAIL; then ok "git send-email with its sendmail command"
  else not_ok "git send-email (exit $rc)" "$out"; fi
else
  not_ok "git send-email is installed"
fi
if command -v mutt >/dev/null; then
  printf 'MUTT-BATCH body\n' >"$DIR/mutt-body"; chmod a+r "$DIR/mutt-body"
  out=$(as_caller mutt -n -F /dev/null -e "set sendmail=\"$SM -oem -oi\"" -e 'set use_envelope_from=yes' \
    -e 'set from=mutt@example.org' -s "mutt subject" -- "$USER_TO@localhost" <"$DIR/mutt-body" 2>&1); rc=$?
  if [ $rc = 0 ] && wait_mail MUTT-BATCH; then ok "mutt in batch mode"; else not_ok "mutt in batch mode (exit $rc)" "$out"; fi
else
  not_ok "mutt is installed"
fi
if command -v s-nail >/dev/null; then
  out=$(printf 'S-NAIL body\n' | as_caller s-nail -:/ -S "mta=$SM" -S sendwait -s "s-nail subject" "$USER_TO@localhost" 2>&1); rc=$?
  if [ $rc = 0 ] && wait_mail S-NAIL; then ok "s-nail mail -s"; else not_ok "s-nail mail -s (exit $rc)" "$out"; fi
else
  not_ok "s-nail is installed"
fi
MAILX=$(command -v bsd-mailx || true)
# Not installed (its package would pull in an MTA): extracted, and run with its one
# library, liblockfile1, which scripts/deps.sh installs for the tests.
if [ -z "$MAILX" ] && [ "$ROOT" = 1 ]; then
  (cd "$DIR" && apt-get download bsd-mailx >/dev/null 2>&1 && dpkg -x bsd-mailx_*.deb "$DIR/mailx") &&
    MAILX=$DIR/mailx/usr/bin/bsd-mailx
fi
if [ "$ROOT" = 1 ] && [ -n "$MAILX" ] && [ -x "$MAILX" ]; then
  # bsd-mailx runs /usr/sbin/sendmail and nothing else: give it ours in a private
  # mount namespace (a copy of /usr/sbin with sendmail replaced).
  mkdir -p "$DIR/sbin"
  for f in /usr/sbin/*; do ln -s "$f" "$DIR/sbin/${f##*/}" 2>/dev/null; done
  rm -f "$DIR/sbin/sendmail"; ln -s "$SM" "$DIR/sbin/sendmail"
  out=$(printf 'BSD-MAILX body\n' | unshare -m sh -c "mount --bind '$DIR/sbin' /usr/sbin && cd /tmp && setpriv --reuid=tgtest2 --regid=tgtest2 --init-groups -- env HOME='$DIR/home' '$MAILX' -s 'mailx subject' '$USER_TO@localhost'" 2>&1); rc=$?
  if [ $rc = 0 ] && wait_mail BSD-MAILX; then ok "bsd-mailx mail -s (sendmail -i -t)"; else not_ok "bsd-mailx mail -s (exit $rc)" "$out"; fi
else
  echo "# bsd-mailx: skipped (needs root for a private /usr/sbin/sendmail)"
fi
out=$(as_caller python3 - "$SM" "$USER_TO" <<'PY' 2>&1
import smtplib, subprocess, sys
p = subprocess.Popen([sys.argv[1], "-bs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
class Pipe(smtplib.SMTP):
    def connect(self, host="", port=0, source_address=None):
        self.sock = None
        self.file = p.stdout
        return self.getreply()
    def send(self, s):
        p.stdin.write(s if isinstance(s, bytes) else s.encode())
        p.stdin.flush()
    def close(self):
        p.stdin.close()
s = Pipe()
code, _ = s.connect()
assert code == 220, code
s.ehlo("python.example")
s.sendmail("py@example.org", [sys.argv[2] + "@localhost"], "Subject: bs\r\n\r\nPYTHON-BS body\r\n")
s.quit()
sys.exit(p.wait(timeout=10))
PY
); rc=$?
if [ $rc = 0 ] && wait_mail PYTHON-BS; then ok "sendmail -bs driven by Python smtplib"; else not_ok "sendmail -bs (exit $rc)" "$out"; fi

out=$(as_caller python3 - "$SM" <<'PY' 2>&1
import socket, subprocess, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.create_connection(srv.getsockname()); conn, _ = srv.accept()
p = subprocess.Popen([sys.argv[1], "-Am", "-bs"], stdin=conn, stdout=conn)
conn.close()
cli.settimeout(10)
line = cli.recv(512).decode()
print(line.strip())
sys.exit(0 if line.startswith("421") and p.wait(timeout=10) == 69 else 1)
PY
); rc=$?
[ $rc = 0 ] && ok "sendmail -Am -bs from inetd (a network socket) is refused: no relay through the local socket" ||
  not_ok "sendmail -bs on a network socket is refused (exit $rc)" "$out"

# ---- message handling
printf 'Subject: nl\n\nNO-TRAILING-NEWLINE' | send_ok "a message without a trailing newline" NO-TRAILING-NEWLINE "$SM" -i "$USER_TO"
printf 'Subject: lf\n\nBARE-LF line one\nline two\n' | send_ok "bare LF lines are sent as CRLF" BARE-LF "$SM" "$USER_TO"
message_of BARE-LF | grep -q '^line two' && ok "bare LF: every line arrives" || not_ok "bare LF: every line arrives"
printf 'Subject: nul\n\nNUL-BYTES a\000b\n' | send_ok "NUL bytes are carried" NUL-BYTES "$SM" -i "$USER_TO"
grep -aq "NUL-BYTES a.b" "$MBOX" && ok "NUL bytes: the line arrives whole" || not_ok "NUL bytes: the line arrives whole"
printf 'Subject: dot\n\nDOT-ENDS before\n.\nAFTER-THE-DOT\n' | send_ok "without -i a lone dot ends the message" DOT-ENDS "$SM" "$USER_TO"
message_of DOT-ENDS >/dev/null && ! grep -aq AFTER-THE-DOT "$MBOX" && ok "without -i: what follows the dot is not sent" || not_ok "without -i: what follows the dot is not sent"
printf 'To: %s\nCc: postmaster\nBcc: %s@localhost\nSubject: t\n\nDASH-T body\n' "$USER_TO" "$USER_TO" |
  send_ok "-t takes To/Cc/Bcc" DASH-T "$SM" -t -i
m=$(message_of DASH-T)
[ -n "$m" ] && ! grep -qi '^Bcc:' <<<"$m" && ok "-t: Bcc: is removed" || not_ok "-t: Bcc: is removed" "$m"
grep -q '^Message-Id: <' <<<"$m" && grep -q '^Date: ' <<<"$m" &&
  ok "Date: and Message-Id: are added when missing" || not_ok "Date: and Message-Id: are added" "$m"
printf 'Subject: f\n\nDASH-F body\n' | send_ok "-f by an untrusted user" DASH-F "$SM" -i -f other@example.org "$USER_TO"
m=$(message_of DASH-F)
grep -q "^X-Authentication-Warning: localhost.localdomain: $CALLER set sender to other@example.org using -f" <<<"$m" &&
  grep -q '^From: other@example.org' <<<"$m" &&
  ok "-f: X-Authentication-Warning and a bare From:" || not_ok "-f: X-Authentication-Warning" "$m"
grep -aq '^Return-Path: <other@example.org>' "$MBOX" && ok "-f sets the envelope sender" || not_ok "-f sets the envelope sender"
python3 -c "
import sys
sys.stdout.write('Subject: big\n\nBIG-10MB start\n')
line = 'x' * 99 + '\n'
for _ in range(100000): sys.stdout.write(line)
sys.stdout.write('BIG-10MB-END\n')" >"$DIR/big"
chmod a+r "$DIR/big"
start=$(date +%s.%N)
send_ok "a 10 MB body" BIG-10MB-END "$SM" -i "$USER_TO" <"$DIR/big"
end=$(date +%s.%N)
echo "# 10 MB submission to delivery: $(python3 -c "print('%.2f s' % ($end - $start))")"
n=$(message_of BIG-10MB-END | grep -c '^x\{99\}$')
[ "$n" = 100000 ] && ok "10 MB: every line arrives" || not_ok "10 MB: every line arrives ($n of 100000)"

# ---- the client-queue file cannot be written (RLIMIT_FSIZE here; a full disk alike):
# no SIGXFSZ death, no file left behind, the message still goes to smtpd
python3 -c "import sys; sys.stdout.write('Subject: fsize\n\nFSIZE-LIMIT start\n' + ('z' * 70 + '\n') * 2000)" >"$DIR/fsize"
chmod a+r "$DIR/fsize"
out=$( (ulimit -f 16; as_caller "$SM" -i "$USER_TO" <"$DIR/fsize") 2>&1); rc=$?
n=$(ls "$DIR/clientmqueue" 2>/dev/null | grep -c '^qf')
[ $rc = 0 ] && [ "$n" = 0 ] && wait_mail FSIZE-LIMIT &&
  ok "a client-queue write over RLIMIT_FSIZE: exit 0, no file kept, delivered through smtpd" ||
  not_ok "a client-queue write over RLIMIT_FSIZE (exit $rc, $n files)" "$out"

# ---- the daemon stopped during submission: the client queue keeps the message
msp_stop_master
out=$(printf 'Subject: down\n\nWHILE-DOWN body\n' | as_caller "$SM" -i "$USER_TO" 2>&1); rc=$?
n=$(ls "$DIR/clientmqueue" 2>/dev/null | grep -c '^qf')
[ $rc = 0 ] && [ "$n" = 1 ] && ok "smtpd down: exit 0, the message waits in the client queue" ||
  not_ok "smtpd down: exit 0, kept (exit $rc, $n files)" "$out"
perm=$(stat -c '%a %G' "$DIR/clientmqueue"/qf* 2>/dev/null)
if [ "$ROOT" = 1 ]; then
  [ "$perm" = "660 smmsp" ] && ok "client-queue file is 0660 group smmsp" || not_ok "client-queue file is 0660 group smmsp ($perm)"
fi
out=$(as_caller "$DIR/bin/mailq" -Ac 2>&1)
grep -q "clientmqueue (1 request)" <<<"$out" && grep -q "$USER_TO@localhost.localdomain" <<<"$out" &&
  ok "mailq -Ac lists it" || not_ok "mailq -Ac lists it" "$out"
expect_rc "mailq of the main queue with the queue down is EX_UNAVAILABLE" 69 "not running" "$DIR/bin/mailq"
expect_rc "sendmail -bs with smtpd down answers 421 (EX_UNAVAILABLE)" 69 "421 4.3.0" "$SM" -bs
printf 'Subject: q\n\nQUEUE-ONLY body\n' | as_caller "$SM" -odq -i "$USER_TO" >/dev/null 2>&1
n=$(ls "$DIR/clientmqueue" 2>/dev/null | grep -c '^qf')
[ "$n" = 2 ] && ok "-odq only queues" || not_ok "-odq only queues ($n files)"
msp_start_master || not_ok "the suite restarts"
if wait_mail WHILE-DOWN && wait_mail QUEUE-ONLY && ! ls "$DIR/clientmqueue" | grep -q '^qf'; then
  ok "after restart the client-queue runner delivers it and removes the file"
else
  not_ok "after restart the client-queue runner delivers it" "$(grep -E 'msp-queue|runner' "$DIR/master.log" | tail -5)"
fi
grep -a -B12 WHILE-DOWN "$MBOX" | grep -q "^Received: (from $CALLER@localhost)" &&
  ok "the runner's resubmission still names the submitter" || not_ok "the runner's resubmission names the submitter"

# ---- mailq and -q
out=$(as_caller "$DIR/bin/mailq" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "is empty" <<<"$out" && grep -q "Total requests: 0" <<<"$out" &&
  ok "mailq of an empty queue" || not_ok "mailq of an empty queue (exit $rc)" "$out"
out=$(as_caller "$DIR/bin/mailq" --json 2>&1)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["messages"] == []' "$out" 2>/dev/null &&
  ok "mailq --json is JSON" || not_ok "mailq --json is JSON" "$out"
if [ "$ROOT" = 1 ]; then
  expect_rc "sendmail -q by an ordinary user is EX_NOPERM" 77 "permission to process the queue" "$SM" -q
  out=$("$SM" -q -v 2>&1); rc=$?
  [ $rc = 0 ] && ok "sendmail -q by root asks for an immediate run" || not_ok "sendmail -q by root (exit $rc)" "$out"
else
  expect_rc "sendmail -q asks for an immediate run" 0 "" "$SM" -q
fi
finish
