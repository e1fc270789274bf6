#!/bin/bash
# maps.sh - makemap, newaliases and praliases as admins and scripts run them: bad
# inputs and their exit codes first, then makemap round trips through -u for hash and
# btree with every flag, maps exchanged with Debian's sendmail-bin 8.17 makemap and
# praliases in both directions (extracted with apt-get download + dpkg -x, never
# installed; skipped visibly when the package cannot be fetched), newaliases and
# praliases output, and a message delivered through the compiled aliases map by the
# running suite.
# Env: TEGAMI_BIN (built programs), TEGAMI_SRC (source tree), TEGAMI_SENDMAIL_DIR (an
# extracted sendmail-bin, default /tmp/tegami-sendmail-bin). Prints "ok - ..." /
# "not ok - ..." and, last, "N passed, N failed"; exits non-zero on any failure.
set -u
SRC=${TEGAMI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${TEGAMI_BIN:-$SRC/build/bin}
HELPER="python3 $SRC/tests/interop/tegami_sandbox.py"
SMDIR=${TEGAMI_SENDMAIL_DIR:-/tmp/tegami-sendmail-bin}
DIR=$(mktemp -d /tmp/tegami-maps.XXXXXX) || exit 1
chmod 755 "$DIR"
MASTER=""
cleanup() {
  if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
    kill -TERM "$MASTER" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$MASTER" 2>/dev/null
  fi
  [ -n "${TEGAMI_KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$SRC/tests/lib/tap.sh"
skip() { echo "skip - $1"; }
# expect_rc name want-rc want-text command... (stdin from $IN, default /dev/null)
# same name want-file command... : stdout of command must equal the file
same() {
  local name=$1 want=$2; shift 2
  local got
  got=$("$@" 2>&1 </dev/null)
  if [ "$got" = "$(cat "$want")" ]; then ok "$name"; else not_ok "$name" "$(diff <(echo "$got") "$want")"; fi
}
MM=$BIN/makemap
M=$DIR/m

# ---- bad inputs
expect_rc "makemap: no arguments is EX_USAGE" 64 "Usage: makemap" "$MM"
expect_rc "makemap: one argument is EX_USAGE" 64 "Usage" "$MM" hash
expect_rc "makemap: unknown option is EX_USAGE" 64 "Usage" "$MM" -Z hash "$M"
expect_rc "makemap: -t with two characters is EX_USAGE" 64 "one character" "$MM" -t ab hash "$M"
expect_rc "makemap: -c not a number is EX_USAGE" 64 "bad cache size" "$MM" -c 12k hash "$M"
expect_rc "makemap: unknown map type is EX_CANTCREAT" 73 "Unknown database type" "$MM" dbm "$M"
expect_rc "makemap: missing directory is EX_CANTCREAT" 73 "error opening type hash map" "$MM" hash "$DIR/no/such"
expect_rc "makemap -u: missing map is EX_CANTCREAT" 73 "No such file" "$MM" -u hash "$DIR/nosuch"
printf 'this is not a database\n' > "$DIR/text.db"
expect_rc "makemap -u: a text file is not a map" 73 "not a Berkeley DB map" "$MM" -u hash "$DIR/text"
printf 'good 1\n bad 2\nnovalue\nk v\n' > "$DIR/bad.in"
IN=$DIR/bad.in expect_rc "makemap: bad lines are EX_DATAERR, named by line" 65 "$M: line 2: syntax error (leading space)" "$MM" btree "$M"
IN=$DIR/bad.in expect_rc "makemap: a line without value is named" 65 "$M: line 3: no RHS for LHS novalue" "$MM" btree "$M"
printf 'good\t1\nk\tv\n' > "$DIR/want"
same "makemap: the good lines are still stored" "$DIR/want" "$MM" -u btree "$M"
printf 'a 1\nA 2\n' > "$DIR/dup.in"
IN=$DIR/dup.in expect_rc "makemap: duplicate key is EX_DATAERR" 65 "line 2: key a: duplicate key" "$MM" hash "$M"
printf 'x\0y 1\n' > "$DIR/nul.in"
IN=$DIR/nul.in expect_rc "makemap: NUL byte in a line is EX_DATAERR" 65 "line 1: NUL byte in line" "$MM" hash "$M"

# ---- round trips through -u, every flag
cat > "$DIR/access" <<'X'
# access map
Connect:10.0.0.1 RELAY
From:Spam.Example	ERROR:5.7.1:550 go away
To:Postmaster@Example.ORG OK
X
for t in hash btree; do
  "$MM" $t "$M.$t" < "$DIR/access"
  printf 'connect:10.0.0.1\tRELAY\nfrom:spam.example\tERROR:5.7.1:550 go away\nto:postmaster@example.org\tOK\n' | sort > "$DIR/want"
  got=$("$MM" -u $t "$M.$t" | sort)
  [ "$got" = "$(cat "$DIR/want")" ] && ok "makemap $t: keys folded, -u dumps key<TAB>value" || not_ok "makemap $t round trip" "$got"
  "$MM" -f $t "$M.f$t" < "$DIR/access"
  "$MM" -u $t "$M.f$t" | grep -qx 'To:Postmaster@Example.ORG	OK' && ok "makemap -f $t keeps case" || not_ok "makemap -f $t keeps case"
  "$MM" -N $t "$M.n$t" < "$DIR/access"
  [ "$("$MM" -u $t "$M.n$t" | sort)" = "$(cat "$DIR/want")" ] && ok "makemap -N $t round trip" || not_ok "makemap -N $t round trip"
done
printf 'a 1\na 2\n' | "$MM" -r btree "$M" && [ "$("$MM" -u btree "$M")" = "a	2" ] && ok "makemap -r: last value wins, exit 0" || not_ok "makemap -r"
printf 'b 3\n' | "$MM" -o btree "$M" && [ "$("$MM" -u btree "$M" | tr '\n' ' ')" = "a	2 b	3 " ] && ok "makemap -o appends" || not_ok "makemap -o appends"
printf 'k\n' | "$MM" -e btree "$M" && [ "$("$MM" -u btree "$M")" = "k	" ] && ok "makemap -e allows an empty value" || not_ok "makemap -e"
printf 'u@example.org:local:bob\n' | "$MM" -t: btree "$M" && [ "$("$MM" -u -t: btree "$M")" = "u@example.org:local:bob" ] && ok "makemap -t: splits and dumps at the delimiter" || not_ok "makemap -t"
printf '%%c\n#x 1\n' | "$MM" -D% btree "$M" && [ "$("$MM" -u btree "$M")" = "#x	1" ] && ok "makemap -D sets the comment character" || not_ok "makemap -D"
printf 'a 1\na 2\n' | "$MM" -d btree "$M" && [ "$("$MM" -u btree "$M" | wc -l)" = 2 ] && ok "makemap -d keeps duplicate keys" || not_ok "makemap -d"
[ "$(printf 'A 1\n' | "$MM" -v hash "$M")" = "key=\`a', val=\`1'" ] && ok "makemap -v echoes records" || not_ok "makemap -v"
printf 'a 1\n' | "$MM" -c 1048576 -C /etc/mail/sendmail.cf -s hash "$M" && [ "$("$MM" -u hash "$M")" = "a	1" ] && ok "makemap -c, -C and -s accepted" || not_ok "makemap -c -C -s"
[ "$("$MM" -l | tr '\n' ' ')" = "hash btree " ] && ok "makemap -l lists hash and btree" || not_ok "makemap -l"
chmod 0600 "$M.db"; printf 'a 2\n' | "$MM" hash "$M"
[ "$(stat -c %a "$M.db")" = 600 ] && ok "makemap keeps a replaced map's mode" || not_ok "makemap keeps mode" "$(stat -c %a "$M.db")"
rm -f "$DIR/new.db"; printf 'a 1\n' | (umask 022; "$MM" hash "$DIR/new")
[ "$(stat -c %a "$DIR/new.db")" = 640 ] && ok "makemap from a pipe creates a new map 0640" || not_ok "makemap new map mode" "$(stat -c %a "$DIR/new.db")"
rm -f "$DIR/new.db"; printf 'a 1\n' > "$DIR/new.in"; chmod 0604 "$DIR/new.in"; "$MM" hash "$DIR/new" < "$DIR/new.in"
[ "$(stat -c %a "$DIR/new.db")" = 604 ] && ok "makemap < file: a new map as readable as its source" || not_ok "makemap new map from a file" "$(stat -c %a "$DIR/new.db")"
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null; then
  chown nobody:nogroup "$M.db"; printf 'a 3\n' | "$MM" hash "$M"
  [ "$(stat -c %U:%G "$M.db")" = nobody:nogroup ] && ok "makemap as root keeps a replaced map's owner and group" ||
    not_ok "makemap keeps owner" "$(stat -c %U:%G "$M.db")"
  mkdir -m 0755 "$DIR/rootonly" && printf 'postmaster: root\n' > "$DIR/rootonly/aliases"
  printf 'aliases = %s\n' "$DIR/rootonly/aliases" > "$DIR/rootonly.conf"; chmod 644 "$DIR/rootonly.conf"
  expect_rc "newaliases by a user who cannot write the map is EX_NOPERM" 77 "Permission denied" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN/newaliases" -C "$DIR/rootonly.conf"
else
  skip "owner kept / EX_NOPERM checks (need root)"
fi
ls -a "$DIR" | grep -q '\.tmp\.' && not_ok "no temporary files left behind" "$(ls -a "$DIR")" || ok "no temporary files left behind"

# ---- sendmail-bin's makemap and praliases, both directions
if [ ! -x "$SMDIR/usr/libexec/sendmail/makemap" ]; then
  (
    mkdir -p "$DIR/dl" && cd "$DIR/dl" &&
      timeout 120 apt-get -q download sendmail-bin libwrap0 >/dev/null 2>&1 &&
      rm -rf "$SMDIR.tmp" && dpkg -x sendmail-bin_*.deb "$SMDIR.tmp" &&
      dpkg -x libwrap0_*.deb "$SMDIR.tmp" && rm -rf "$SMDIR" && mv "$SMDIR.tmp" "$SMDIR"
  )
fi
SMM=$SMDIR/usr/libexec/sendmail/makemap
if [ -x "$SMM" ] && "$SMM" -l >/dev/null 2>&1; then
  printf 'V10/Berkeley\n' > "$DIR/sendmail.cf"
  SM=("$SMM" -C "$DIR/sendmail.cf" -s)
  for t in hash btree; do
    for fl in "" -N -f; do
      "$MM" $fl $t "$DIR/ours" < "$DIR/access"; "${SM[@]}" $fl $t "$DIR/theirs" < "$DIR/access" 2>/dev/null
      a=$("${SM[@]}" $fl -u $t "$DIR/ours" 2>/dev/null | sort); b=$("$MM" $fl -u $t "$DIR/theirs" | sort)
      c=$("$MM" $fl -u $t "$DIR/ours" | sort)
      [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && ok "sendmail makemap reads ours, ours reads theirs ($t $fl)" ||
        not_ok "sendmail makemap interop ($t $fl)" "$a / $b"
    done
  done
  printf 'postmaster: root\nStaff: alice,\n  bob, "|/usr/bin/vacation -a x, y"\n' > "$DIR/al"
  printf 'aliases = %s\n' "$DIR/al" > "$DIR/al.conf"
  "$BIN/newaliases" -C "$DIR/al.conf" >/dev/null
  got=$("$SMDIR/usr/libexec/sendmail/praliases" -C "$DIR/sendmail.cf" -f "$DIR/al" 2>/dev/null | sort)
  want=$(printf '@:@\npostmaster:root\nstaff:alice, bob, "|/usr/bin/vacation -a x, y"\n' | sort)
  [ "$got" = "$want" ] && ok "sendmail praliases reads our aliases.db" || not_ok "sendmail praliases reads our aliases.db" "$got"
  # sendmail's own newaliases (sendmail -bi): needs a qualified host name (a private UTS
  # namespace, root only) and a minimal cf with a local mailer.
  cp "$SMDIR/usr/libexec/sendmail/sendmail" "$DIR/sm" 2>/dev/null && chmod 0755 "$DIR/sm"
  mkdir -p "$DIR/smq" "$DIR/sma"
  cp "$DIR/al" "$DIR/sma/aliases"
  printf '%s\n' 'V10/Berkeley' "O AliasFile=hash:$DIR/sma/aliases" "O QueueDirectory=$DIR/smq" \
    'O TrustedUser=root' \
    'O DontBlameSendmail=GroupWritableDirPathSafe,GroupWritableAliasFile,WorldWritableAliasFile,MapInUnsafeDirPath' \
    'Mlocal, P=/bin/true, F=lsDFMAw5:/|@qSPfhn9, S=0, R=0, A=true' 'S0' "R\$+	\$#local \$: \$1" > "$DIR/sma/sendmail.cf"
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
     LD_LIBRARY_PATH=$SMDIR/usr/lib/x86_64-linux-gnu timeout 30 unshare -u sh -c \
       'hostname localhost.localdomain; exec "$1" -C "$2" -bi' _ "$DIR/sm" "$DIR/sma/sendmail.cf" >"$DIR/sma/out" 2>&1; then
    got=$("$BIN/praliases" -f "$DIR/sma/aliases" | sort)
    want=$("$SMDIR/usr/libexec/sendmail/praliases" -C "$DIR/sendmail.cf" -f "$DIR/sma/aliases" 2>/dev/null | sort)
    [ -n "$got" ] && [ "$got" = "$want" ] && grep -q '@:@' <<<"$got" &&
      ok "our praliases reads an aliases.db built by sendmail -bi, as sendmail's praliases does" ||
      not_ok "praliases on sendmail's aliases.db" "$got / $want"
  else
    skip "sendmail -bi (needs root and unshare): $(tail -1 "$DIR/sma/out" 2>/dev/null)"
  fi
else
  skip "sendmail-bin interop (apt-get download sendmail-bin failed or its makemap does not run here)"
fi

# ---- newaliases and praliases
USER_TO=$($HELPER user)
PORT=$($HELPER freeport)
printf 'postmaster: %s\n' "$USER_TO" > "$DIR/aliases"
CONF=$(sh "$SRC/scripts/mkconf.sh" "$DIR" "$PORT" "$BIN") || { not_ok "mkconf.sh"; finish; }
printf 'hostname = h\nbogus = 1\n' > "$DIR/bad.conf"
expect_rc "newaliases: bad configuration is EX_CONFIG" 78 "$DIR/bad.conf:2" "$BIN/newaliases" -C "$DIR/bad.conf"
expect_rc "newaliases: unknown option is EX_USAGE" 64 "illegal option" "$BIN/newaliases" -Z
printf 'aliases = %s\n' "$DIR/none" > "$DIR/none.conf"
expect_rc "newaliases: missing aliases file is EX_NOINPUT" 66 "No such file" "$BIN/newaliases" -C "$DIR/none.conf"
mkdir -m 0777 "$DIR/ww" && printf 'a: b\n' > "$DIR/ww/aliases" && chmod 0777 "$DIR/ww"
printf 'aliases = %s\n' "$DIR/ww/aliases" > "$DIR/ww.conf"
expect_rc "newaliases: world-writable directory refused (70)" 70 "world-writable" "$BIN/newaliases" -C "$DIR/ww.conf"
cat > "$DIR/aliases" <<X
# sandbox aliases
postmaster: $USER_TO
maplist: $USER_TO,
   $USER_TO
Owner-MapList: postmaster
X
expect_rc "newaliases prints sendmail's summary line" 0 "$DIR/aliases: 3 aliases, longest" "$BIN/newaliases" -C "$CONF"
printf 'broken line\n' >> "$DIR/aliases"
expect_rc "newaliases: an error names file:line, EX_DATAERR" 65 "$DIR/aliases:6: missing ':'" "$BIN/newaliases" -C "$CONF"
got=$("$BIN/praliases" -C "$CONF" | sort)
want=$(printf '@:@\nmaplist:%s, %s\nowner-maplist:postmaster\npostmaster:%s\n' "$USER_TO" "$USER_TO" "$USER_TO" | sort)
[ "$got" = "$want" ] && ok "praliases prints every record (old map kept after the error)" || not_ok "praliases prints every record" "$got"
expect_rc "praliases KEY: found (case-folded)" 0 "owner-maplist:postmaster" "$BIN/praliases" -C "$CONF" OWNER-MAPLIST
expect_rc "praliases KEY: not found is still exit 0" 0 "nosuch: No such key" "$BIN/praliases" -C "$CONF" nosuch
expect_rc "praliases -f FILE" 0 "postmaster:$USER_TO" "$BIN/praliases" -f "$DIR/aliases" postmaster
expect_rc "praliases: unknown option is EX_USAGE" 64 "usage" "$BIN/praliases" -Z

# ---- delivery through the compiled map: the text no longer names maplist
printf 'postmaster: %s\n' "$USER_TO" > "$DIR/aliases"
touch -d '+2 seconds' "$DIR/aliases"
setsid "$BIN/tegami-master" -c "$CONF" -f </dev/null >"$DIR/master.log" 2>&1 &
MASTER=$!
if ! greets "$PORT" "$MASTER"; then
  not_ok "suite greets on 127.0.0.1:$PORT" "$(cat "$DIR/master.log")"
  finish
fi
TOKEN=maps-$RANDOM-$RANDOM
python3 - "$PORT" "$TOKEN" <<'PY' >"$DIR/smtp.log" 2>&1
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.sendmail("sender@example.org", ["MapList@localhost"],
           "From: sender@example.org\r\nTo: maplist@localhost\r\nSubject: %s\r\n\r\nbody %s\r\n"
           % (sys.argv[2], sys.argv[2]))
try:
    s.sendmail("sender@example.org", ["nosuchalias@localhost"], "Subject: x\r\n\r\nx\r\n")
    print("nosuchalias accepted")
except smtplib.SMTPRecipientsRefused as e:
    print("nosuchalias refused", e.recipients["nosuchalias@localhost"][0])
s.quit()
PY
MBOX=$DIR/mail/$USER_TO
for _ in $(seq 1 100); do grep -q -F "$TOKEN" "$MBOX" 2>/dev/null && break; sleep 0.2; done
n=$(grep -c -F "Subject: $TOKEN" "$MBOX" 2>/dev/null)
[ "$n" = 1 ] && ok "smtpd and local resolve maplist through aliases.db (delivered once)" ||
  not_ok "delivery through aliases.db (found $n copies)" "$(cat "$DIR/smtp.log"; tail -20 "$DIR/master.log")"
grep -q 'nosuchalias refused 550' "$DIR/smtp.log" && ok "an alias in neither map nor passwd is refused 550" || not_ok "unknown alias refused" "$(cat "$DIR/smtp.log")"
grep -q 'is newer than .*aliases.db: using the compiled map' "$DIR/master.log" && ok "the stale map is logged as such" || not_ok "stale map warning logged" "$(tail -20 "$DIR/master.log")"

finish
