"""limits_test.py - per-user sending limits (issue 13 item 5) end to end: Python's
smtplib and a raw SMTP client on 127.0.0.1 (AUTH PLAIN, allowed in clear on loopback
for the test) and on the MSP's Unix socket (a local uid, named with XUID as the
client-queue runner does), against the real suite (smtpd asking tegami-auth, which
keeps the counters in auth_dir/limits.db).

Bad inputs and limits first: the message limit (451 4.7.1 at MAIL naming the limit, the
login and a reset time within the hour), the recipient limit (451 4.7.1 at RCPT, the
transaction goes on), a per-user override from sender_limit_map, a local uid's limit;
then what does not count: local-only deliveries, bounces (<>), transactions that were
reset; concurrent sessions of one login, which cannot each use the same remaining room
(a transaction in progress holds its message and its counted recipients until it ends,
whether by RSET, QUIT, a dropped connection or the message being accepted); then the
counts surviving a restart of the suite, and the refusals in the log.

Run by tests/interop/limits.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import base64
import calendar
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

PASSWORD = "limits-Pa55word"
REMOTE = "someone@example.invalid"
TAP = ts.Tap()
report = TAP.ok


class Raw(ts.SmtpLines):
    """A line-level SMTP client, over TCP or the MSP's Unix socket."""

    def login(self, user):
        self.cmd("EHLO client.example")
        return self.cmd("AUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (user, PASSWORD)).encode()).decode())

    def message(self, sender, rcpts, subject="limits"):
        """MAIL, RCPTs, DATA; returns (mail reply, [rcpt replies], end-of-data reply)."""
        m = self.cmd("MAIL FROM:<%s>" % sender)
        if m[0] != 250:
            return m, [], None
        rs = [self.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        if not any(r[0] == 250 for r in rs):
            self.cmd("RSET")
            return m, rs, None
        d = self.cmd("DATA")
        if d[0] != 354:
            return m, rs, d
        self.s.sendall(("Subject: %s\r\n\r\nbody\r\n.\r\n" % subject).encode())
        return m, rs, self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.s.close()


def add_user(box, login):
    p = subprocess.run([os.path.join(box.bin, "tegami-passwd"), "-c", box.conf, "add", login],
                       input=(PASSWORD + "\n").encode(), capture_output=True, timeout=30)
    return p.returncode == 0


def reset_time_ok(text, within):
    """The reply names a UTC time between now and now + within seconds."""
    m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text)
    if not m:
        return False
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
    return time.time() - 5 <= t <= time.time() + within


# ---- the cases (alice: the defaults, 3 messages and 6 recipients an hour; carol: an
# ---- override of 4 recipients an hour and no message limit; dave: 1 message a day)

def local_only_deliveries_do_not_count(box):
    c = Raw(box.port)
    c.login("alice")
    out = [c.message("alice@localhost", ["%s@localhost" % box.user], "local-%d" % i)
           for i in range(4)]
    c.close()
    report(all(e and e[0] == 250 for _, _, e in out),
           "4 local-only messages pass a 3-message limit (local deliveries do not count)", out)


def message_limit_is_451_at_mail(box):
    c = Raw(box.port)
    c.login("alice")
    sent = [c.message("alice@localhost", [REMOTE, "%s@localhost" % box.user])
            for _ in range(3)]
    over = c.cmd("MAIL FROM:<alice@localhost>")
    c.cmd("RSET")
    bounce = c.cmd("MAIL FROM:<>")
    brcpt = c.cmd("RCPT TO:<%s>" % REMOTE)
    c.cmd("RSET")
    c.close()
    report(all(e and e[0] == 250 for _, _, e in sent), "the first 3 remote messages are accepted",
           sent)
    report(over[0] == 451 and over[1].startswith("451 4.7.1 Hourly limit of 3 messages reached "
                                                 "for alice"),
           "the 4th MAIL: 451 4.7.1 naming the hourly message limit and the login", over)
    report(reset_time_ok(over[1], 3600), "the reply says when it frees up (within the hour)", over)
    report(bounce[0] == 250 and brcpt[0] == 250, "a bounce (MAIL FROM:<>) is not limited",
           "%r %r" % (bounce, brcpt))


def smtplib_sees_the_limit(box):
    s = smtplib.SMTP("127.0.0.1", box.port, timeout=20)
    s.ehlo("client.example")
    s.login("alice", PASSWORD)
    try:
        s.sendmail("alice@localhost", [REMOTE], "Subject: x\r\n\r\ny\r\n")
        report(False, "smtplib: SMTPSenderRefused 451 over the limit", "accepted")
    except smtplib.SMTPSenderRefused as e:
        report(e.smtp_code == 451 and b"4.7.1" in e.smtp_error,
               "smtplib: SMTPSenderRefused 451 over the limit", repr(e))
    s.quit()


def recipient_limit_is_451_at_rcpt(box):
    c = Raw(box.port)
    c.login("carol")
    m1, r1, e1 = c.message("carol@localhost", [REMOTE, "b@example.invalid", "c@example.invalid"])
    m = c.cmd("MAIL FROM:<carol@localhost>")
    ra = c.cmd("RCPT TO:<d@example.invalid>")  # the 4th: allowed
    rb = c.cmd("RCPT TO:<e@example.invalid>")  # the 5th: over
    rl = c.cmd("RCPT TO:<%s@localhost>" % box.user)  # local: not limited
    d = c.cmd("DATA")
    c.s.sendall(b"Subject: rcpt-limit\r\n\r\nbody\r\n.\r\n")
    e = c.reply()
    m3 = c.cmd("MAIL FROM:<carol@localhost>")
    r3 = c.cmd("RCPT TO:<f@example.invalid>")
    c.cmd("RSET")
    c.close()
    report(e1 and e1[0] == 250 and all(r[0] == 250 for r in r1),
           "3 remote recipients within a 4-recipient override", (r1, e1))
    report(m[0] == 250 and ra[0] == 250, "the 4th recipient is accepted", (m, ra))
    report(rb[0] == 451 and rb[1].startswith("451 4.7.1 Hourly limit of 4 recipients reached "
                                             "for carol") and reset_time_ok(rb[1], 3600),
           "the 5th: 451 4.7.1 naming the recipient limit, the login and a reset time", rb)
    report(rl[0] == 250 and d[0] == 354 and e[0] == 250,
           "a local recipient in the same transaction is accepted and the message sent",
           (rl, d, e))
    report(m3[0] == 250 and r3[0] == 451, "the next transaction's remote RCPT: 451", (m3, r3))


def reset_transactions_do_not_count(box):
    c = Raw(box.port)
    c.login("dave")
    c.cmd("MAIL FROM:<dave@localhost>")
    c.cmd("RCPT TO:<%s>" % REMOTE)
    c.cmd("RSET")
    m, rs, e = c.message("dave@localhost", [REMOTE])
    over = c.cmd("MAIL FROM:<dave@localhost>")
    c.cmd("RSET")
    c.close()
    report(e and e[0] == 250, "a reset transaction did not use dave's one message a day",
           (m, rs, e))
    report(over[0] == 451 and "Daily limit of 1 messages reached for dave" in over[1] and
           reset_time_ok(over[1], 86400), "dave's second: 451 4.7.1 daily limit", over)


def local_uid_is_limited(box):
    sock = os.path.join(box.dir, "msp", "submit")
    c = Raw(unix=sock)
    c.cmd("EHLO localhost")
    x = c.cmd("XUID 4321")
    m1, r1, e1 = c.message("someone@localhost", [REMOTE])
    over = c.cmd("MAIL FROM:<someone@localhost>")
    c.cmd("RSET")
    c.close()
    report(x[0] == 250 and e1 and e1[0] == 250, "uid 4321's first message is accepted",
           (x, m1, r1, e1))
    report(over[0] == 451 and "limit of 1 messages reached for uid:4321" in over[1],
           "uid 4321's second (sender_limit_map uid:4321): 451 4.7.1", over)


def concurrent_sessions_share_one_message(box):
    """erin may send 1 message an hour: while one session's transaction holds it, another
    session's MAIL is refused; given back by RSET, by a dropped connection; used up once
    a message is accepted."""
    a, b = Raw(box.port), Raw(box.port)
    a.login("erin")
    b.login("erin")
    ma = a.cmd("MAIL FROM:<erin@localhost>")
    mb = b.cmd("MAIL FROM:<erin@localhost>")
    report(ma[0] == 250 and mb[0] == 451 and mb[1].startswith(
        "451 4.7.1 Hourly limit of 1 messages reached for erin"),
        "a second session's MAIL while the first holds erin's one message: 451 4.7.1", (ma, mb))
    a.cmd("RSET")
    mb2 = b.cmd("MAIL FROM:<erin@localhost>")
    report(mb2[0] == 250, "after the first session's RSET the second may send", mb2)
    b.f.close()  # dropped without QUIT, mid-transaction (the reader holds the socket too)
    b.s.close()
    ok = False
    for _ in range(50):  # smtpd sees the close when its loop reads it
        ma2 = a.cmd("MAIL FROM:<erin@localhost>")
        if ma2[0] == 250:
            ok = True
            break
        time.sleep(0.1)
    report(ok, "a connection dropped mid-transaction gives its hold back", ma2)
    ra = a.cmd("RCPT TO:<%s>" % REMOTE)
    d = a.cmd("DATA")
    a.s.sendall(b"Subject: concurrent\r\n\r\nbody\r\n.\r\n")
    e = a.reply()
    c = Raw(box.port)
    c.login("erin")
    mc = c.cmd("MAIL FROM:<erin@localhost>")
    c.close()
    a.close()
    report(ra[0] == 250 and d[0] == 354 and e[0] == 250 and mc[0] == 451,
           "once the message is accepted it is counted: the next MAIL is 451", (ra, e, mc))


def concurrent_sessions_share_recipients(box):
    """fay may send to 2 remote recipients an hour: what one open transaction holds is
    not there for another."""
    a, b = Raw(box.port), Raw(box.port)
    a.login("fay")
    b.login("fay")
    a.cmd("MAIL FROM:<fay@localhost>")
    ra = [a.cmd("RCPT TO:<r%d@example.invalid>" % i) for i in range(2)]
    b.cmd("MAIL FROM:<fay@localhost>")
    rb = b.cmd("RCPT TO:<s@example.invalid>")
    rbl = b.cmd("RCPT TO:<%s@localhost>" % box.user)
    report(all(r[0] == 250 for r in ra) and rb[0] == 451 and
           "Hourly limit of 2 recipients reached for fay" in rb[1],
           "the other session's remote RCPT beyond what the first holds: 451 4.7.1", (ra, rb))
    report(rbl[0] == 250, "its local recipient is still accepted", rbl)
    a.close()  # QUIT without DATA: nothing sent
    rb2 = b.cmd("RCPT TO:<s@example.invalid>")
    b.cmd("RSET")
    b.close()
    report(rb2[0] == 250, "after the first session quit, its recipients are free again", rb2)


def counts_survive_a_restart(box):
    time.sleep(0.5)
    report(box.stop(), "SIGTERM stops the suite (tegami-auth writes its counters)")
    up = box.start()
    report(up, "the suite starts again", box.tail())
    c = Raw(box.port)
    c.login("alice")
    over = c.cmd("MAIL FROM:<alice@localhost>")
    c.cmd("RSET")
    c.close()
    report(over[0] == 451 and "4.7.1" in over[1],
           "after the restart alice is still over her limit", over)


def refusals_are_logged_with_the_login(box):
    log = box.log()
    report("sender limits: MAIL from 127.0.0.1 refused for alice: Hourly limit of 3" in log,
           "the MAIL refusal is logged with the login", box.tail())
    report("sender limits: RCPT from 127.0.0.1 refused for carol" in log,
           "the RCPT refusal is logged with the login", box.tail())


def main():
    extra = ["smtpd_auth_enable=yes", "smtpd_auth_allow_plaintext_loopback=yes",
             "sender_limit_hour_messages=3", "sender_limit_hour_recipients=6"]
    box = ts.Sandbox(prefix="tegami-limits", extra=extra)
    limits = os.path.join(box.dir, "sender_limits")
    with open(limits, "w") as f:
        f.write("carol hour_messages=0 hour_recipients=4\n"
                "dave day_messages=1\n"
                "uid:4321 hour_messages=1\n"
                "erin hour_messages=1\n"
                "fay hour_messages=0 hour_recipients=2\n")
    os.chmod(limits, 0o644)
    with open(box.conf, "a") as f:
        f.write("sender_limit_map = text:%s\n" % limits)
    try:
        users = all(add_user(box, u) for u in ("alice", "carol", "dave", "erin", "fay"))
        report(users, "tegami-passwd add alice carol dave erin fay")
        up = box.start()
        report(up, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up:
            for fn in (local_only_deliveries_do_not_count, message_limit_is_451_at_mail,
                       smtplib_sees_the_limit, recipient_limit_is_451_at_rcpt,
                       reset_transactions_do_not_count, local_uid_is_limited,
                       concurrent_sessions_share_one_message,
                       concurrent_sessions_share_recipients,
                       refusals_are_logged_with_the_login, counts_survive_a_restart):
                TAP.case(fn, box, tail=box.tail)
    finally:
        box.stop()
        box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
