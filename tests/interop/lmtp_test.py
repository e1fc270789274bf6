"""lmtp_test.py - LMTP delivery (RFC 2033) through the whole suite: mail submitted to
Tegami's smtpd on loopback, routed by the mailertable ("DOMAIN lmtp:unix:/path") to the
remote agent, which speaks LMTP to

  * a small LMTP server written here (on a Unix socket in the test's directory), which
    answers each recipient as its local part asks: "perm*" 552 5.2.2 after the end of
    data, "temp*" 451 4.3.0 after the end of data, "rcptno*" 550 5.1.1 at RCPT, "hang*"
    no reply after the end of data; it records every message and connection;
  * Dovecot's own LMTP server (Debian's dovecot-core + dovecot-lmtpd), started here as a
    separate instance with its own base_dir, configuration and Maildir store in the test's
    directory (never the system service), when the dovecot binary is installed and we
    are root.

Checks: per-recipient replies become per-recipient statuses (delivered, deferred with the
server's code, bounced with the server's enhanced code and text in the DSN); one
connection carries consecutive messages (reuse) and is closed with QUIT once idle for
lmtp_connection_reuse_time; a server that is down gives 4.4.1 and the mail is delivered
once it comes up; a server that stops answering gives 4.4.2 within
lmtp_timeout; dot-stuffing and CRLF survive; past lmtp_destination_recipient_limit (3 here)
a message's recipients go as several LMTP transactions of at most 3, each recipient in
exactly one (the server's own record of transactions, and in Dovecot every mailbox gets one
copy); an alias's address in another domain is added
to the envelope and routed by the queue; Dovecot stores the message, and refuses an
unknown user at RCPT while the other recipient of the same transaction is delivered; with
mailbox_transport = lmtp:unix:Dovecot, local users' mail (direct, through an alias, with
+detail) lands in their Dovecot Maildirs and nothing in the mbox.
Every wait is bounded.

Env: TEGAMI_BIN, TEGAMI_SRC.
"""

import email
import email.policy
import glob
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=30)
ok = TAP.ok

SPLIT_LIMIT = 3  # lmtp_destination_recipient_limit of the main suite
# Dovecot users besides alice, for the split check: with alice, more than SPLIT_LIMIT.
SPLIT_USERS = ("bob", "carol", "dave", "erin")


class LmtpServer(ts.ThreadedServer):
    """A threaded LMTP server on a Unix socket; answers per recipient (see the header)."""

    def __init__(self, path):
        self.path = path
        self.messages = []  # (sender, [rcpts], data bytes as received, dot-unstuffed)
        self.connections = 0
        self.quits = 0
        self.lhlo = []
        self.lock = threading.Lock()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        sock.bind(path)
        os.chmod(path, 0o666)  # the remote agent runs as its own account
        sock.listen(16)
        super().__init__(sock)

    def accepted(self):
        with self.lock:
            self.connections += 1

    def session(self, c):
        c.settimeout(30)
        f = c.makefile("rb")

        def say(s):
            c.sendall(s.encode() + b"\r\n")
        try:
            say("220 pylmtp LMTP ready")
            sender, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                up = cmd.upper()
                if up.startswith("LHLO "):
                    with self.lock:
                        self.lhlo.append(cmd[5:])
                    c.sendall(b"250-pylmtp\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
                              b"250 8BITMIME\r\n")
                elif up.startswith("EHLO") or up.startswith("HELO"):
                    say("500 5.5.1 this is LMTP: use LHLO")
                elif up.startswith("MAIL FROM:"):
                    sender, rcpts = cmd[10:].split(" ")[0].strip("<>"), []
                    say("250 2.1.0 ok")
                elif up.startswith("RCPT TO:"):
                    addr = cmd[8:].split(" ")[0].strip("<>")
                    if addr.startswith("rcptno"):
                        say("550 5.1.1 <%s> User doesn't exist" % addr)
                    else:
                        rcpts.append(addr)
                        say("250 2.1.5 ok")
                elif up == "DATA":
                    if not rcpts:
                        say("503 5.5.1 no valid recipients")
                        continue
                    say("354 go ahead")
                    data = b""
                    while True:
                        dl = f.readline()
                        if not dl:
                            return
                        if dl == b".\r\n":
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        data += dl
                    with self.lock:
                        self.messages.append((sender, list(rcpts), data))
                    for r in rcpts:
                        if r.startswith("hang"):
                            time.sleep(30)  # never answers within lmtp_timeout
                            return
                        if r.startswith("perm"):
                            say("552-5.2.2 <%s> Quota exceeded (mailbox for user is full)" % r)
                            say("552 5.2.2 try again never")
                        elif r.startswith("temp"):
                            say("451 4.3.0 <%s> Temporary internal error" % r)
                        else:
                            say("250 2.0.0 <%s> Saved" % r)
                elif up == "RSET":
                    sender, rcpts = None, []
                    say("250 2.0.0 ok")
                elif up == "QUIT":
                    with self.lock:
                        self.quits += 1
                    say("221 2.0.0 bye")
                    return
                else:
                    say("500 5.5.2 unknown command")
        except OSError:
            return
        finally:
            c.close()

    def find(self, token):
        with self.lock:
            return [m for m in self.messages if token.encode() in m[2]]

def dovecot_config(work, sock, user):
    """A minimal separate Dovecot instance: LMTP only, on sock, Maildirs under work/store,
    one known user (passwd-file), everything else refused at RCPT."""
    pwfile = os.path.join(work, "dovecot-users")
    import pwd
    pw = pwd.getpwnam(user)
    with open(pwfile, "w") as f:
        for name in ("alice",) + SPLIT_USERS:
            f.write("%s:{PLAIN}x:%d:%d::%s/store/%s::\n" % (name, pw.pw_uid, pw.pw_gid, work,
                                                            name))
        f.write("%s:{PLAIN}x:%d:%d::%s/store/%s::\n" % (user, pw.pw_uid, pw.pw_gid, work, user))
    os.makedirs(os.path.join(work, "store"), exist_ok=True)
    os.chown(os.path.join(work, "store"), pw.pw_uid, pw.pw_gid)
    conf = os.path.join(work, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""# a test instance (tests/interop/lmtp_test.py), not the system's
base_dir = %(w)s/run
state_dir = %(w)s/state
log_path = %(w)s/dovecot.log
info_log_path = %(w)s/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
first_valid_uid = 1
mail_location = maildir:~/Maildir
auth_username_format = %%Ln
lmtp_save_to_detail_mailbox = no
passdb {
  driver = passwd-file
  args = %(pw)s
}
userdb {
  driver = passwd-file
  args = %(pw)s
}
service lmtp {
  unix_listener %(s)s {
    mode = 0666
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
""" % {"w": work, "pw": pwfile, "s": sock})
    return conf


def mailbox_transport(work, dove_sock, user):
    """mailbox_transport = lmtp:unix:Dovecot: local users' mail (after aliases) goes to
    Dovecot's store; a program target still runs locally."""
    dwork = os.path.join(work, "dovecot")
    box = ts.Sandbox(prefix="tegami-lmtp-mt", aliases=(
        "postmaster: %s\nteam: %s, alice@dove.test\n" % (user, user)), extra=[
        "mailbox_transport=lmtp:unix:" + dove_sock,
        "mailertable=text:" + os.path.join(work, "mailertable"),
        "trusted_networks=127.0.0.0/8",
        "queue_retry_min=1s", "queue_retry_max=2s",
    ])
    sender = "%s@localhost" % user
    store = os.path.join(dwork, "store", user, "Maildir")

    def stored(token):
        out = []
        for p in glob.glob(os.path.join(store, "new", "*")) + glob.glob(
                os.path.join(store, "cur", "*")):
            if token.encode() in ts.read_bytes(p):
                out.append(p)
        return out
    try:
        ok(box.start(), "a suite with mailbox_transport starts", box.tail())
        for rcpt, token in (("%s@localhost" % user, "M1direct"), ("team@localhost", "M2team"),
                            ("%s+box@localhost" % user, "M3detail")):
            msg = ("From: <%s>\r\nSubject: %s\r\n\r\nbody %s\r\n" % (sender, token, token))
            with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as s:
                s.sendmail(sender, [rcpt], msg.encode())
        for token, what in (("M1direct", "a local user's mail"),
                            ("M2team", "an alias's local member"),
                            ("M3detail", "user+detail")):
            ok(ts.wait_for(lambda: len(stored(token)) == 1, 20),
               "mailbox_transport: %s is in the user's Dovecot Maildir, once" % what,
               box.tail() + "\n" + ts.read_bytes(os.path.join(dwork, "dovecot.log")).decode(
                   "utf-8", "replace"))
        alice = os.path.join(dwork, "store", "alice", "Maildir")
        ok(ts.wait_for(lambda: any(b"M2team" in ts.read_bytes(p) for p in glob.glob(
            os.path.join(alice, "new", "*"))), 20),
           "the alias's member in a mailertable LMTP domain got it too", box.tail())
        ok(not os.path.exists(box.mbox) or b"M1direct" not in ts.read_bytes(box.mbox),
           "nothing was written to the mbox", box.mbox)
        # The stored file is there before Dovecot's reply reaches Tegami, which logs then.
        ok(ts.wait_for(lambda: "(mailbox_transport)" in box.log(), 10), "the handoff is logged",
           box.tail())
        ok(box.stop(), "the mailbox_transport suite stops cleanly", box.tail())
    finally:
        box.stop()
        if not os.environ.get("TEGAMI_KEEP"):
            box.remove()


def main():
    work = tempfile.mkdtemp(prefix="tegami-lmtp.", dir="/tmp")
    os.chmod(work, 0o755)
    py_sock = os.path.join(work, "pylmtp.sock")
    late_sock = os.path.join(work, "late.sock")  # nobody listens at first
    dove_sock = os.path.join(work, "dovecot-lmtp")
    py = LmtpServer(py_sock)
    late = None
    dovecot = None
    mailertable = os.path.join(work, "mailertable")
    with open(mailertable, "w") as f:
        f.write("py.test lmtp:unix:%s\nlate.test lmtp:unix:%s\ndove.test lmtp:unix:%s\n" %
                (py_sock, late_sock, dove_sock))
    os.chmod(mailertable, 0o644)
    user = ts.mail_user()
    box = ts.Sandbox(prefix="tegami-lmtp", aliases="postmaster: %s\nfwd: %s, ok6@py.test\n" % (
        user, user), extra=[
        "mailertable=text:" + mailertable,
        "trusted_networks=127.0.0.0/8",
        "queue_retry_min=1s", "queue_retry_max=2s", "queue_lifetime=1h",
        "lmtp_timeout=3s", "lmtp_connection_reuse_time=3s",
        "lmtp_destination_recipient_limit=%d" % SPLIT_LIMIT,
    ])
    sender = "%s@localhost" % box.user
    try:
        ok(box.start(), "the suite starts", box.tail())

        def send(rcpts, token, body_extra=""):
            msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n"
                   "body %s\r\n%s" % (sender, rcpts[0], token, token, token, body_extra))
            with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as s:
                refused = s.sendmail(sender, rcpts, msg.encode())
            return refused

        def log_has(pattern, timeout=15):
            return ts.wait_for(lambda: pattern in box.log(), timeout)

        def bounce_for(token, timeout=20):
            found = []

            def cond():
                found[:] = [m for m in box.messages()
                            if b"Delivery Status Notification" in m or
                            b"Undelivered Mail" in m or b"delivery-status" in m]
                found[:] = [m for m in found if token.encode() in m]
                return bool(found)
            ts.wait_for(cond, timeout)
            return found

        # 1. Connection reuse: two consecutive messages over one LMTP connection.
        send(["ok2@py.test"], "T2reuse")
        ok(ts.wait_for(lambda: py.find("T2reuse"), 15), "first message delivered", box.tail())
        send(["ok3@py.test"], "T3reuse")
        ok(ts.wait_for(lambda: py.find("T3reuse"), 15), "second message delivered", box.tail())
        ok(py.connections == 1, "consecutive messages reuse one LMTP connection",
           "connections: %d" % py.connections)
        ok(py.quits == 0 and ts.wait_for(lambda: py.quits == 1, 8),
           "an idle connection is closed with QUIT after lmtp_connection_reuse_time",
           "quits: %d" % py.quits)

        # 2. One transaction, four fates: 250, 552 after data, 451 after data, 550 at RCPT.
        # (temp1 is in a transaction of its own with ok5: the queue sends one DSN once a
        # message's recipients are all final, so a deferred one would hold the bounce.)
        send(["ok5@py.test", "temp1@py.test"], "T1btemp")
        send(["ok1@py.test", "perm1@py.test", "rcptno1@py.test"], "T1mixed",
             ".leading dot\r\n..two dots\r\n.\r\n")
        ok(ts.wait_for(lambda: py.find("T1mixed"), 15), "the LMTP server got the message",
           box.tail())
        got = py.find("T1mixed")
        if got:
            snd, rcpts, data = got[0]
            ok(sorted(rcpts) == ["ok1@py.test", "perm1@py.test"],
               "only the recipients accepted at RCPT are in the transaction", rcpts)
            ok(data.endswith(b"\r\n.leading dot\r\n..two dots\r\n.\r\n"),
               "dot-stuffed lines (even a lone dot) arrive as sent, in CRLF lines", data)
            ok(snd == sender, "the envelope sender is passed", snd)
        ok(py.lhlo and py.lhlo[0] == "localhost.localdomain", "LHLO names the host", py.lhlo)
        ok(log_has("to=<ok1@py.test>, relay=lmtp[unix:" + py_sock + "]"),
           "ok1 is logged delivered over LMTP", box.tail())
        ok(log_has("to=<ok1@py.test>") and "dsn=2.0.0, status=sent" in
           [ln for ln in box.log().splitlines() if "to=<ok1@py.test>" in ln][0],
           "ok1: status=sent dsn=2.0.0", box.tail())
        ok(log_has("to=<temp1@py.test>", 20) and
           any("to=<temp1@py.test>" in ln and "dsn=4.3.0, status=deferred" in ln
               for ln in box.log().splitlines()),
           "temp1: deferred with the server's 4.3.0", box.tail())
        ok(ts.wait_for(lambda: any("to=<ok5@py.test>" in ln and "status=sent" in ln
                                   for ln in box.log().splitlines()), 10),
           "ok5, in temp1's transaction: sent", box.tail())
        b = bounce_for("T1mixed")
        ok(b, "a bounce for perm1 and rcptno1 reaches the sender", box.tail())
        if b:
            msg = email.message_from_bytes(b[0], policy=email.policy.compat32)
            text = b[0].decode("utf-8", "replace")
            ok("perm1@py.test" in text and "5.2.2" in text and "Quota exceeded" in text,
               "the DSN carries perm1's 5.2.2 and the server's text", text[-3000:])
            ok("rcptno1@py.test" in text and "5.1.1" in text and "User doesn't exist" in text,
               "the DSN carries rcptno1's 5.1.1 and the server's text", text[-3000:])
            ok("temp1@py.test" not in text, "the deferred recipient is not in the bounce",
               text[-3000:])
            ok(msg.get_content_type() == "multipart/report", "the bounce is a multipart/report",
               msg.get_content_type())

        # 2b. Past lmtp_destination_recipient_limit (3): seven recipients for one LMTP
        # server go as transactions of 3, 3 and 1, each recipient in exactly one of them.
        many = ["split%d@py.test" % k for k in range(7)]
        send(many, "T8split")
        ok(ts.wait_for(lambda: sum(len(m[1]) for m in py.find("T8split")) >= 7, 15),
           "the LMTP server got all seven recipients", box.tail())
        tx = py.find("T8split")
        seen = [r for m in tx for r in m[1]]
        ok(sorted(len(m[1]) for m in tx) == [1, 3, 3],
           "7 recipients, limit %d: LMTP transactions of 3, 3 and 1" % SPLIT_LIMIT,
           [m[1] for m in tx])
        ok(sorted(seen) == sorted(many), "each of the seven is in exactly one transaction",
           seen)
        ok(ts.wait_for(lambda: len(set(re.findall(r"to=<(split\d@py\.test)>.*status=sent",
                                                  box.log()))) == 7, 10),
           "the queue logs status=sent for each of the seven", box.tail())
        ok(all(box.log().count("to=<%s>" % r) == 1 for r in many),
           "one log line per recipient, no retry", box.tail())
        send(["exact%d@py.test" % k for k in range(SPLIT_LIMIT)], "T9exact")
        ok(ts.wait_for(lambda: py.find("T9exact"), 15) and
           [len(m[1]) for m in py.find("T9exact")] == [SPLIT_LIMIT],
           "exactly the limit: one transaction", [m[1] for m in py.find("T9exact")])

        # 3. Server down: 4.4.1 and deferred; delivered once it listens.
        send(["ok4@late.test"], "T4late")
        ok(log_has("to=<ok4@late.test>") and
           any("to=<ok4@late.test>" in ln and "dsn=4.4.1, status=deferred" in ln
               for ln in box.log().splitlines()),
           "LMTP server down: deferred with 4.4.1", box.tail())
        late = LmtpServer(late_sock)
        ok(ts.wait_for(lambda: late.find("T4late"), 20),
           "delivered after the LMTP server came up", box.tail())

        # 4. Server stops answering after the end of data: 4.4.2 within lmtp_timeout.
        t0 = time.monotonic()
        send(["hang1@py.test"], "T5hang")
        ok(log_has("to=<hang1@py.test>", 20) and
           any("to=<hang1@py.test>" in ln and "dsn=4.4.2, status=deferred" in ln
               for ln in box.log().splitlines()),
           "an LMTP server that does not answer: deferred with 4.4.2", box.tail())
        ok(time.monotonic() - t0 < 15, "the timeout is lmtp_timeout, not minutes",
           time.monotonic() - t0)

        # 5. An alias with a local user and an address elsewhere: the local copy in the
        # mbox, the other address added to the envelope by the queue and routed (LMTP here).
        send(["fwd@localhost"], "T7alias")
        ok(ts.wait_for(lambda: py.find("T7alias"), 20),
           "an alias's address in another domain is routed by the queue", box.tail())
        ok(ts.wait_for(lambda: any(b"T7alias" in m for m in box.messages()), 10),
           "the alias's local user got its copy", box.tail())
        ok("<fwd@localhost> expanded to <ok6@py.test>" in box.log(),
           "the queue logs the expansion", box.tail())
        ok(len(py.find("T7alias")) == 1 and
           sum(1 for m in box.messages() if b"T7alias" in m) == 1,
           "one copy each", (len(py.find("T7alias")), box.tail()))

        # 6. Dovecot's LMTP server.
        dovecot_bin = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
        if os.geteuid() != 0:
            print("skip - Dovecot interop: needs root (the instance runs its own "
                  "login and LMTP processes as dovenull/the mailbox user)")
        elif not dovecot_bin:
            ok(False, "Dovecot interop needs dovecot-core and dovecot-lmtpd and root",
               "dovecot binary: %s, euid %d" % (dovecot_bin, os.geteuid()))
        else:
            dwork = os.path.join(work, "dovecot")
            os.makedirs(dwork)
            os.chmod(dwork, 0o755)
            conf = dovecot_config(dwork, dove_sock, box.user)
            dovecot = subprocess.Popen([dovecot_bin, "-F", "-c", conf],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            up = ts.wait_for(lambda: os.path.exists(dove_sock), 15)
            ok(up, "Dovecot (a separate instance) listens on its LMTP socket",
               ts.read_bytes(os.path.join(dwork, "dovecot.log")).decode("utf-8", "replace"))
            send(["alice@dove.test", "nosuchuser@dove.test"], "T6dovecot",
                 ".dotted line\r\n")
            store = os.path.join(dwork, "store", "alice", "Maildir")

            def stored():
                for p in glob.glob(os.path.join(store, "new", "*")) + glob.glob(
                        os.path.join(store, "cur", "*")):
                    if b"T6dovecot" in ts.read_bytes(p):
                        return p
                return None
            ok(ts.wait_for(lambda: stored() is not None, 20),
               "the message is in Dovecot's Maildir for alice",
               box.tail() + "\n" + ts.read_bytes(os.path.join(dwork, "dovecot.log")).decode(
                   "utf-8", "replace"))
            p = stored()
            if p:
                data = ts.read_bytes(p)
                ok(b"\n.dotted line" in data, "the leading dot arrives once", data[-400:])
                ok(b"Received:" in data, "the stored message has Tegami's trace", data[:400])
            # Dovecot stores the file before it answers the end of data; the queue logs
            # status=sent only once the reply is back: a bounded wait, not a single look.
            ok(ts.wait_for(lambda: any("to=<alice@dove.test>" in ln and "status=sent" in ln
                                       for ln in box.log().splitlines()), 10),
               "alice: sent", box.tail())
            # Past the limit: alice and the four others, two LMTP transactions (3 + 2);
            # Dovecot stores one copy in each mailbox and logs each transaction's session.
            split_rcpts = ["%s@dove.test" % n for n in ("alice",) + SPLIT_USERS]
            send(split_rcpts, "T10dovesplit")

            def copies(name):
                box_dir = os.path.join(dwork, "store", name, "Maildir")
                return sum(1 for p in glob.glob(os.path.join(box_dir, "new", "*")) +
                           glob.glob(os.path.join(box_dir, "cur", "*"))
                           if b"T10dovesplit" in ts.read_bytes(p))
            names = ("alice",) + SPLIT_USERS
            ok(ts.wait_for(lambda: all(copies(n) >= 1 for n in names), 20),
               "Dovecot: the message past the limit reaches all %d mailboxes" % len(names),
               box.tail())
            ok(all(copies(n) == 1 for n in names),
               "Dovecot: each mailbox has it exactly once",
               {n: copies(n) for n in names})
            ok(ts.wait_for(lambda: sum(1 for r in split_rcpts if re.search(
                r"to=<%s>.*status=sent" % re.escape(r), box.log())) == len(names), 10),
               "the queue logs status=sent for each of the %d" % len(names), box.tail())
            # Dovecot's log prefix is lmtp(user)<pid><session[:Tn][:Rn]>: the session and
            # transaction without the recipient number name one LMTP transaction.
            # (Dovecot's log process may write after the mail is stored: wait, bounded.)
            tx = {}

            def transactions():
                dlog = ts.read_bytes(os.path.join(dwork, "dovecot.log")).decode(
                    "utf-8", "replace")
                tx.clear()
                for user_, sid in re.findall(r"lmtp\((\w+)\)<\d+><([^>]+)>: Info: "
                                             r"msgid=<T10dovesplit@test>: saved mail", dlog):
                    tx.setdefault(re.sub(r":R\d+$", "", sid), []).append(user_)
                return sum(len(v) for v in tx.values()) >= len(names)
            ts.wait_for(transactions, 10)
            ok(sorted(len(v) for v in tx.values()) == [2, 3] and
               sorted(u for v in tx.values() for u in v) == sorted(names),
               "Dovecot's log: two LMTP transactions (3 + 2), each user in one", tx)

            b = bounce_for("T6dovecot")
            ok(b and "nosuchuser@dove.test" in b[0].decode("utf-8", "replace") and
               "5.1.1" in b[0].decode("utf-8", "replace"),
               "Dovecot's 550 5.1.1 for the unknown user bounces that recipient only",
               b[0].decode("utf-8", "replace")[-2000:] if b else box.tail())

        ok(box.stop(), "the suite stops cleanly", box.tail())
        if dovecot:
            mailbox_transport(work, dove_sock, user)
    finally:
        box.stop()
        py.stop()
        if late:
            late.stop()
        if dovecot:
            try:
                os.killpg(dovecot.pid, 15)
                dovecot.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(dovecot.pid, 9)
                except ProcessLookupError:
                    pass
        if not os.environ.get("TEGAMI_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
            box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
