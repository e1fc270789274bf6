"""msa_headers_test.py - RFC 6409 8.2/8.3 end to end: a message submitted by an
authenticated client (smtplib, AUTH PLAIN in clear on loopback for the test) or on the
MSP's Unix socket without Message-ID or Date is delivered with both; one that has them
keeps its own (never a second one); mail relayed by an unauthenticated client on the MTA
listener is not changed.

Run by tests/interop/msa_headers.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402
from limits_test import Raw  # noqa: E402

PASSWORD = "msa-Headers-pw"
TAP = ts.Tap()
report = TAP.ok


def headers_of(box, token):
    found = [m for m in box.messages() if token.encode() in m]
    if len(found) != 1:
        return None
    return found[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")


def count(hdrs, name):
    return len(re.findall(r"(?im)^%s:" % name, hdrs))


def cases(box):
    rcpt = "%s@localhost" % box.user
    s = smtplib.SMTP("127.0.0.1", box.port, timeout=20)
    s.ehlo("client.example")
    s.login("alice", PASSWORD)
    s.sendmail("alice@localhost", [rcpt], "Subject: bare-submission\r\n\r\nbody\r\n")
    s.sendmail("alice@localhost", [rcpt],
               "Subject: own-headers\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
               "Message-ID: <own@client.example>\r\n\r\nbody\r\n")
    # RFC 6409 8.1: From names someone else -> Sender: the authenticated envelope sender.
    s.sendmail("alice@localhost", [rcpt],
               "From: The Boss <boss@localhost>\r\nSubject: from-other\r\n\r\nbody\r\n")
    s.sendmail("alice@localhost", [rcpt],
               "From: Alice <alice@localhost>\r\nSubject: from-self\r\n\r\nbody\r\n")
    s.sendmail("alice@localhost", [rcpt],
               "From: boss@localhost\r\nSender: assistant@localhost\r\n"
               "Subject: own-sender\r\n\r\nbody\r\n")
    s.quit()
    s = smtplib.SMTP("127.0.0.1", box.port, timeout=20)
    s.ehlo("relay.example")
    s.sendmail("someone@example.org", [rcpt], "Subject: relayed-bare\r\n\r\nbody\r\n")
    s.quit()
    c = Raw(unix=os.path.join(box.dir, "msp", "submit"))
    c.cmd("EHLO localhost")
    c.message("someone@localhost", [rcpt], "local-bare")
    c.close()
    ok = ts.wait_for(lambda: all(headers_of(box, t) for t in
                                 ("bare-submission", "own-headers", "relayed-bare",
                                  "local-bare", "from-other", "from-self", "own-sender")), 20)
    report(ok, "all seven messages delivered", box.tail())
    bare = headers_of(box, "bare-submission") or ""
    report(count(bare, "Message-ID") == 1 and count(bare, "Date") == 1 and
           re.search(r"(?im)^Message-ID: <[0-9A-Za-z]+\.\d+@localhost\.localdomain>$", bare),
           "an authenticated submission without them gets one Message-ID and one Date", bare)
    own = headers_of(box, "own-headers") or ""
    report(count(own, "Message-ID") == 1 and "<own@client.example>" in own and
           count(own, "Date") == 1 and "Thu, 1 Jan 2026" in own,
           "a submission's own Message-ID and Date are kept, never doubled", own)
    relayed = headers_of(box, "relayed-bare") or ""
    report(count(relayed, "Message-ID") == 0 and count(relayed, "Date") == 0,
           "mail relayed in by an unauthenticated client is not changed", relayed)
    local = headers_of(box, "local-bare") or ""
    report(count(local, "Message-ID") == 1 and count(local, "Date") == 1,
           "a message on the MSP socket without them gets both", local)
    other = headers_of(box, "from-other") or ""
    report(count(other, "Sender") == 1 and
           re.search(r"(?im)^Sender: <alice@localhost>$", other) and
           "From: The Boss <boss@localhost>" in other,
           "From naming someone else: Sender <alice@localhost> added, From kept", other)
    own = headers_of(box, "from-self") or ""
    report(count(own, "Sender") == 0, "From naming the authenticated sender: no Sender", own)
    kept = headers_of(box, "own-sender") or ""
    report(count(kept, "Sender") == 1 and "Sender: assistant@localhost" in kept,
           "a Sender the client wrote is kept, never doubled", kept)
    report(count(bare, "Sender") == 0, "a message without From gets no Sender", bare)


def main():
    box = ts.Sandbox(prefix="tegami-msa", extra=["smtpd_auth_enable=yes",
                                                 "smtpd_auth_allow_plaintext_loopback=yes"])
    try:
        p = subprocess.run([os.path.join(box.bin, "tegami-passwd"), "-c", box.conf, "add",
                            "alice"], input=(PASSWORD + "\n").encode(), capture_output=True,
                           timeout=30)
        report(p.returncode == 0, "tegami-passwd add alice", p.stderr)
        up = box.start()
        report(up, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up:
            TAP.case(cases, box, tail=box.tail)
    finally:
        box.stop()
        box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
