#!/bin/bash
# callers.sh - the exact command lines of the programs that run /usr/sbin/sendmail
# (SENDMAIL-COMPAT.md 2.1), each run as an ordinary user against the real suite in a
# sandbox, with what must hold afterwards: the exit status, the message in the mailbox,
# the headers sendmail adds or removes. Then sendmail's error modes (-oep/-oeq/-oem/-oee),
# the inputs callers produce (empty, 8-bit, long lines, no newline) and option handling
# (-O Name=value, unknown -o/-O). Setup as msp.sh (tests/lib/msp_env.sh).
# Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." / "not ok - ..." and, last,
# "N passed, N failed"; exits non-zero on any failure.
set -u
shopt -s lastpipe  # "printf ... | caller ..." runs caller in this shell: it sets $M
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
. "$SRC/tests/lib/tap.sh"
. "$SRC/tests/lib/msp_env.sh"
trap msp_env_cleanup EXIT
trap 'exit 1' INT TERM
msp_env_setup || { not_ok "the suite starts" "$(tail -20 "$DIR/master.log" 2>/dev/null)"; finish; }
ok "the suite starts"
H=localhost.localdomain

# caller NAME TOKEN WANT-RC COMMAND... : stdin is the message; checks the exit status and
# (WANT-RC 0) that the message holding TOKEN arrived; leaves it in $M.
M=""
caller() {
  local name=$1 token=$2 want=$3 out rc; shift 3
  out=$(as_caller "$@" 2>&1); rc=$?
  M=""
  if [ "$rc" != "$want" ]; then not_ok "$name (exit $rc, want $want)" "$out"; return 1; fi
  if [ "$want" = 0 ] && ! wait_mail "$token"; then not_ok "$name: the message arrives" "$out"; return 1; fi
  M=$(message_of "$token")
  ok "$name"
}
has() {  # NAME REGEX : the last message ($M) has a line matching REGEX
  if grep -aqE -- "$2" <<<"$M"; then ok "$1"; else not_ok "$1" "$M"; fi
}
return_path() {  # NAME TOKEN WANT : the Return-Path: of the delivered message holding TOKEN
  local rp
  rp=$(awk -v t="$2" '/^From /{rp=""} /^Return-Path:/{rp=$0} index($0, t){print rp; exit}' "$MBOX")
  if [ "$rp" = "Return-Path: <$3>" ]; then ok "$1"; else not_ok "$1 ($rp)"; fi
}
hasnt() {
  if grep -aqE -- "$2" <<<"$M"; then not_ok "$1" "$M"; else ok "$1"; fi
}

# ---- cron
printf 'Subject: Cron <root@host> run-parts\n\nDEBIAN-CRON output\n' |
  caller "Debian cron: sendmail -FCronDaemon -i -B8BITMIME -oem root" DEBIAN-CRON 0 \
    "$SM" -FCronDaemon -i -B8BITMIME -oem root &&
  { has "Debian cron: From: is the -F name and the caller" "^From: CronDaemon <$CALLER@$H>"
    has "Debian cron: To: is left missing (sendmail adds none)" "^Subject: Cron"
    has "Debian cron: Date: and Message-Id: added" "^Message-Id: <.*@$H>"; }
printf 'To: root\nSubject: cronie\n\nCRONIE output\n' |
  caller "cronie: sendmail -FCronDaemon -i -odi -oem -oi -t -f user" CRONIE 0 \
    "$SM" -FCronDaemon -i -odi -oem -oi -t -f "$CALLER"
return_path "cronie: the envelope sender is the user" CRONIE "$CALLER@$H"
printf 'To: root\nSubject: vixie\n\nVIXIE-CRON output\n' |
  caller "Vixie cron: sendmail -FCronDaemon -odi -oem -oi -t" VIXIE-CRON 0 \
    "$SM" -FCronDaemon -odi -oem -oi -t

# ---- PHP mail(): sendmail_path and the fifth argument
printf 'To: %s\nSubject: php\nX-PHP-Originating-Script: 1000:x.php\n\nPHP-DEFAULT\n.\nline after a lone dot\n' "$USER_TO" |
  caller "PHP mail(): sendmail -t -i" PHP-DEFAULT 0 "$SM" -t -i &&
  has "PHP: -i keeps a lone dot and what follows" "^line after a lone dot"
printf 'To: %s\nSubject: php\nFrom: web@example.org\n\nPHP-DASH-F\n' "$USER_TO" |
  caller "PHP mail() with -f: sendmail -t -i -f web@example.org" PHP-DASH-F 0 "$SM" -t -i -f web@example.org &&
  { return_path "PHP -f: the envelope sender" PHP-DASH-F web@example.org
    has "PHP -f: From: kept as given" "^From: web@example.org"
    has "PHP -f by an untrusted user: X-Authentication-Warning" "^X-Authentication-Warning: $H: $CALLER set sender to web@example.org using -f"; }

printf 'Subject: own\n\nOWN-LOCAL-DOMAIN\n' |
  caller "-f with the caller's own login in another local domain" OWN-LOCAL-DOMAIN 0 "$SM" -i -f "$CALLER@localhost" "$USER_TO" &&
  hasnt "-f user@localhost (a local domain) by that user: no X-Authentication-Warning" "^X-Authentication-Warning:"

# ---- MUAs
printf 'From: me@example.org\nTo: %s\nSubject: mutt\n\nMUTT-LINE\n' "$USER_TO" |
  caller "mutt: sendmail -oem -oi -- addr" MUTT-LINE 0 "$SM" -oem -oi -- "$USER_TO@$H"
printf 'From: me@example.org\nTo: %s\nSubject: mutt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nMUTT-8BIT caf\303\251\n' "$USER_TO" |
  caller "mutt with use_envelope_from and 8 bit: sendmail -oem -oi -f me@example.org -B8BITMIME -- addr" MUTT-8BIT 0 \
    "$SM" -oem -oi -f me@example.org -B8BITMIME -- "$USER_TO@$H" &&
  has "mutt 8 bit: the body arrives unchanged" $'MUTT-8BIT caf\303\251$'
printf 'From: me\nTo: %s\nSubject: mailx\n\nBSD-MAILX-LINE\n' "$USER_TO" |
  caller "bsd-mailx: sendmail -i -t" BSD-MAILX-LINE 0 "$SM" -i -t
printf 'To: %s\nSubject: mailx\n\nBSD-MAILX-METOO\n' "$USER_TO" |
  caller "bsd-mailx with metoo and verbose: sendmail -i -t -m -v" BSD-MAILX-METOO 0 "$SM" -i -t -m -v
printf 'Subject: s-nail\nTo: %s\n\nS-NAIL-LINE\n' "$USER_TO" |
  caller "s-nail: sendmail -i -- rcpt" S-NAIL-LINE 0 "$SM" -i -- "$USER_TO@$H"
printf 'From: Dev <dev@example.org>\nTo: %s, postmaster\nSubject: [PATCH] x\n\nGIT-TWO-RCPTS\n' "$USER_TO" |
  caller "git send-email: sendmail -i addr addr" GIT-TWO-RCPTS 0 "$SM" -i "$USER_TO@$H" "postmaster@$H" &&
  { sleep 0.5; [ "$(grep -ac GIT-TWO-RCPTS "$MBOX")" = 1 ] &&
      ok "git send-email: two addresses of one mailbox (postmaster is aliased to it) give one copy" ||
      not_ok "git send-email: duplicates are suppressed"; }
printf 'From: Dev <dev@example.org>\nSubject: [PATCH] y\n\nGIT-DASH-F\n' |
  caller "git send-email with an envelope sender: sendmail -f dev@example.org -i addr" GIT-DASH-F 0 \
    "$SM" -f dev@example.org -i "$USER_TO@$H" &&
  return_path "git send-email -f: the envelope sender" GIT-DASH-F dev@example.org
printf 'From: fetchmail\nSubject: fetched\n\nFETCHMAIL-MDA\n' |
  caller "fetchmail as MDA: sendmail -i -f sender -- rcpt" FETCHMAIL-MDA 0 "$SM" -i -f remote@example.net -- "$USER_TO"

# ---- system tools
printf 'To: root\nFrom: logwatch\nSubject: Logwatch for host\n\nLOGWATCH-REPORT\n' |
  caller "logwatch: sendmail -t" LOGWATCH-REPORT 0 "$SM" -t
printf 'Subject: unattended-upgrades result\nTo: root\n\nUNATTENDED-UPGRADES\n' |
  caller "unattended-upgrades: sendmail -oi -t" UNATTENDED-UPGRADES 0 "$SM" -oi -t
printf 'To: root\nSubject: SMART error\n\nSMARTD-MAILX\n' |
  caller "smartd through mailx: sendmail -i -t" SMARTD-MAILX 0 "$SM" -i -t

# ---- -t: Bcc removed, command-line recipients added (8.17)
printf 'To: %s\nBcc: postmaster\nSubject: bcc\n\nDASH-T-BCC\n' "$USER_TO" |
  caller "-t with Bcc and a command-line recipient" DASH-T-BCC 0 "$SM" -t -i "postmaster@$H" &&
  { hasnt "-t: Bcc: is removed" "^Bcc:"
    sleep 0.5; [ "$(grep -ac DASH-T-BCC "$MBOX")" = 1 ] &&
      ok "-t: To, Bcc and the command-line recipient, all one mailbox, give one copy" ||
      not_ok "-t: one copy for one mailbox"; }

# ---- -t: a To: line longer than 998 octets (PHP mail() to a long list) keeps all its
# addresses and the fields after it
python3 -c "import sys; sys.stdout.write('To: ' + ', '.join(['postmaster@$H'] * 40) + ', $USER_TO\nSubject: LONG-TO-HEADER\n\nbody\n')" >"$DIR/longto"
chmod a+r "$DIR/longto"
caller "-t with a 1300-octet To: line" LONG-TO-HEADER 0 "$SM" -t -i <"$DIR/longto" &&
  { has "-t, long To: the field after it is still a header" "^Subject: LONG-TO-HEADER"
    hasnt "-t, long To: not broken inside an address" '!$'; }

# ---- recipient arguments are address lists, as sendmail reads them
printf 'Subject: ARG-LISTS\n\nbody\n' |
  caller "sendmail -i 'Name <addr>, addr' (a list in one argument)" ARG-LISTS 0 \
    "$SM" -i "Test User <$USER_TO@$H>, postmaster"

# ---- Alpine: SMTP on a pipe
out=$(as_caller python3 - "$SM" "$USER_TO@$H" <<'PY' 2>&1
import subprocess, sys
p = subprocess.Popen([sys.argv[1], "-bs", "-odb", "-oem"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def reply():
    lines = []
    while True:
        l = p.stdout.readline().decode()
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return lines
def cmd(c):
    p.stdin.write(c.encode() + b"\r\n"); p.stdin.flush()
    return reply()
assert reply()[0].startswith("220")
assert cmd("EHLO alpine.example")[-1].startswith("250")
assert cmd("MAIL FROM:<me@example.org>")[0].startswith("250")
assert cmd("RCPT TO:<%s>" % sys.argv[2])[0].startswith("250")
assert cmd("DATA")[0].startswith("354")
r = cmd("Subject: alpine\r\n\r\nALPINE-BS\r\n..leading dot\r\n.")
assert r[0].startswith("250"), r
assert cmd("QUIT")[0].startswith("221")
p.stdin.close()
sys.exit(p.wait(timeout=10))
PY
); rc=$?
if [ $rc = 0 ] && wait_mail ALPINE-BS; then ok "Alpine: sendmail -bs -odb -oem"; else not_ok "Alpine: sendmail -bs -odb -oem (exit $rc)" "$out"; fi
M=$(message_of ALPINE-BS)
has "-bs: a dot-stuffed line arrives unstuffed" "^\.leading dot"

# ---- a script pipes a whole SMTP dialogue into sendmail -bs and closes its end: every
# reply is printed (sendmail answers each command before it reads the next)
out=$(printf 'EHLO script.example\r\nMAIL FROM:<%s@%s>\r\nRCPT TO:<%s@%s>\r\nDATA\r\nSubject: piped\r\n\r\nBS-PIPED-QUIT\r\n.\r\nQUIT\r\n' "$CALLER" "$H" "$USER_TO" "$H" |
  as_caller timeout 30 "$SM" -bs 2>&1); rc=$?
[ $rc = 0 ] && grep -q '^250 2.0.0 Ok: queued' <<<"$out" && grep -q '^221 ' <<<"$out" && wait_mail BS-PIPED-QUIT &&
  ok "sendmail -bs with a piped dialogue ending in QUIT: the end of data and QUIT are answered" ||
  not_ok "sendmail -bs with a piped dialogue (exit $rc)" "$out"
out=$(printf 'HELO script.example\nMAIL FROM:<%s@%s>\nRCPT TO:<%s@%s>\nDATA\nSubject: piped\n\nBS-PIPED-EOF\n.\n' "$CALLER" "$H" "$USER_TO" "$H" |
  as_caller timeout 30 "$SM" -bs 2>&1); rc=$?
[ $rc = 0 ] && grep -q '^250 2.0.0 Ok: queued' <<<"$out" && wait_mail BS-PIPED-EOF &&
  ok "sendmail -bs with a piped dialogue and no QUIT: the end of data is answered" ||
  not_ok "sendmail -bs with a piped dialogue and no QUIT (exit $rc)" "$out"

# ---- sendmail -bs takes unqualified addresses as users of this host (sendmail adds $j)
out=$(printf 'HELO script.example\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: unq\r\n\r\nBS-UNQUALIFIED\r\n.\r\nQUIT\r\n' "$CALLER" "$USER_TO" |
  as_caller timeout 30 "$SM" -bs 2>&1); rc=$?
[ $rc = 0 ] && grep -q '^250 2.1.0' <<<"$out" && grep -q '^250 2.1.5' <<<"$out" && wait_mail BS-UNQUALIFIED &&
  ok "sendmail -bs: MAIL FROM:<user> and RCPT TO:<user> without a domain are this host's users" ||
  not_ok "sendmail -bs with unqualified addresses (exit $rc)" "$out"
return_path "-bs: the unqualified sender is qualified with the host name" BS-UNQUALIFIED "$CALLER@$H"

# ---- error modes, for a recipient refused for good (observed with 8.17)
printf 'Subject: OEM-MODE\n\nbody\n' | caller "-oem: EX_NOUSER" OEM-MODE 67 "$SM" -oem -i -f "$USER_TO@$H" nosuchuser
wait_mail "OEM-MODE" && ok "-oem: the error is mailed back with the message's headers" || not_ok "-oem: the error is mailed back"
out=$(printf 'Subject: x\n\nOEQ-MODE\n' | as_caller "$SM" -oeq -i nosuchuser 2>&1); rc=$?
[ $rc = 67 ] && [ -z "$out" ] && ok "-oeq: EX_NOUSER and not a word" || not_ok "-oeq: EX_NOUSER, silent (exit $rc)" "$out"
out=$(printf 'Subject: OEE-MODE\n\nbody\n' | as_caller "$SM" -oee -i -f "$USER_TO@$H" nosuchuser 2>&1); rc=$?
[ $rc = 0 ] && wait_mail OEE-MODE && ok "-oee: mailed back, and exit 0 always" || not_ok "-oee: mailed back, exit 0 (exit $rc)" "$out"
# (As an ordinary user the caller's real home would get the dead.letter: root only.)
if [ "$ROOT" = 1 ]; then
  out=$(printf 'Subject: x\n\nOEP-MIXED\n' | as_caller "$SM" -oep -i "$USER_TO" nosuchuser 2>&1); rc=$?
  if [ $rc = 67 ] && grep -q "nosuchuser@$H... User unknown" <<<"$out" && wait_mail OEP-MIXED; then
    ok "-oep: one good and one unknown recipient: delivered to the good one, EX_NOUSER, the refusal printed"
  else
    not_ok "-oep with a mixed recipient list (exit $rc)" "$out"
  fi
fi

# ---- inputs
caller "an empty message is delivered with the headers sendmail adds" "^From: $CALLER@$H" 0 "$SM" -i "$USER_TO" </dev/null
python3 -c "import sys; sys.stdout.write('Subject: long\n\nLONG-LINE ' + 'y' * 3000 + '\nend\n')" >"$DIR/long"; chmod a+r "$DIR/long"
caller "a 3000-octet line is accepted" LONG-LINE 0 "$SM" -i "$USER_TO" <"$DIR/long" &&
  { n=$(tr -d '\n!' <<<"$M" | grep -o 'y' | wc -l); [ "$n" = 3000 ] && ok "a long line is broken, no octet lost" || not_ok "a long line is broken, no octet lost ($n)"; }
printf 'Subject: crlf\r\n\r\nCRLF-INPUT line\r\nsecond\r\n' | caller "CRLF input" CRLF-INPUT 0 "$SM" -i "$USER_TO" &&
  hasnt "CRLF input: no doubled CR" $'\r\r'
printf 'Subject: 8bit\n\nEIGHT-BIT-NO-B \xe9\xe8\n' | caller "8-bit body without -B" EIGHT-BIT-NO-B 0 "$SM" -i "$USER_TO"

# ---- options
printf 'Subject: O\n\nLONG-O-OPTIONS\n' |
  caller "-O DeliveryMode=b -O ErrorMode=m -O IgnoreDots=true" LONG-O-OPTIONS 0 "$SM" -O DeliveryMode=b -O ErrorMode=m -O IgnoreDots=true "$USER_TO"
printf 'Subject: o\n\nSHORT-O-OPTIONS\n' |
  caller "-odb -oem -om -oL9 -oi" SHORT-O-OPTIONS 0 "$SM" -odb -oem -om -oL9 -oi "$USER_TO"
printf 'Subject: o\n\nUNKNOWN-SHORT\n' | caller "unknown -o letter: EX_CONFIG (as 8.17)" UNKNOWN-SHORT 78 "$SM" -oZ1 -i "$USER_TO"
printf 'Subject: o\n\nUNKNOWN-LONG\n' | caller "unknown -O name: EX_SOFTWARE (as 8.17)" UNKNOWN-LONG 70 "$SM" -O NoSuchOption=1 -i "$USER_TO"
out=$(printf 'Subject: o\n\nKNOWN-IGNORED\n' | as_caller "$SM" -O SevenBitInput=False -i "$USER_TO" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "Warning" <<<"$out" && wait_mail KNOWN-IGNORED &&
  ok "a sendmail option Tegami does not use is warned about, not fatal" || not_ok "a known but unused -O option (exit $rc)" "$out"
out=$(as_caller "$SM" -bz 2>&1 </dev/null); rc=$?
[ $rc = 64 ] && ok "-bz is EX_USAGE" || not_ok "-bz is EX_USAGE (exit $rc)" "$out"
out=$(as_caller "$SM" -f 2>&1 </dev/null); rc=$?
[ $rc = 64 ] && grep -q "option requires an argument -- f" <<<"$out" && ok "-f without an argument is EX_USAGE" ||
  not_ok "-f without an argument (exit $rc)" "$out"
out=$(as_caller "$SM" -f a@b -r c@d x 2>&1 </dev/null); rc=$?
[ $rc = 64 ] && grep -q 'More than one "from" person' <<<"$out" && ok "-f and -r together is EX_USAGE" ||
  not_ok "-f and -r together (exit $rc)" "$out"
finish
