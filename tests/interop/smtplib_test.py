"""smtplib_test.py - interop with Python's smtplib, a real third-party SMTP client, against
the real suite in a sandbox on 127.0.0.1: EHLO features, send_message, SMTPUTF8 with
UTF-8 addresses and body, several recipients with unknown ones (SMTPRecipientsRefused),
relaying, SIZE, bare LF, several messages per session; checks the delivered bytes.

Run by tests/interop/smtplib.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import email.policy
import os
import smtplib
import sys
from email.message import EmailMessage
from email.parser import BytesParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

SIZE_LIMIT = 1000000
TAP = ts.Tap(detail_lines=25)
report = TAP.ok
case = TAP.case


class Env:
    box = None
    user = None


def connect():
    return Env.box.smtp()


def delivered(token, timeout=20):
    """The one delivered message holding token, without trace headers; None if absent
    after timeout or present more than once."""
    t = token.encode() if isinstance(token, str) else token
    ts.wait_for(lambda: any(t in m for m in Env.box.messages()), timeout)
    found = [m for m in Env.box.messages() if t in m]
    return ts.strip_trace(found[0]) if len(found) == 1 else None


def entry(token):
    t = token.encode()
    found = [m for m in Env.box.messages() if t in m]
    return found[0] if len(found) == 1 else b""


def parse(raw):
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def local(name="u"):
    return "%s@localhost" % (Env.user if name == "u" else name)


def ehlo_features():
    with connect() as s:
        feats = s.esmtp_features
        want = {"pipelining": "", "size": str(SIZE_LIMIT), "8bitmime": "",
                "enhancedstatuscodes": "", "smtputf8": ""}
        bad = {k: feats.get(k) for k, v in want.items() if feats.get(k) != v}
        report(s.does_esmtp and not bad, "EHLO features as smtplib sees them",
               "differs: %r, all: %r" % (bad, feats))
        code, text = s.verify(Env.user)
        report(code == 252 and text.startswith(b"2."), "VRFY answers 252", (code, text))
        code, text = s.noop()
        report(code == 250 and text.startswith(b"2.0.0"), "NOOP 250 2.0.0", (code, text))


def send_message_delivers_exact_bytes():
    m = EmailMessage()
    m["From"] = "Sender <sender@example.org>"
    m["To"] = local()
    m["Subject"] = "smtplib-send-message"
    m["Message-Id"] = "<smtplib-1@example.org>"
    m.set_content("first\nFrom the start\n.single dot\n..two dots\nlast\n")
    with connect() as s:
        refused = s.send_message(m)
        code, text = s.noop()
    report(refused == {} and code == 250, "send_message accepted", refused)
    got = delivered("smtplib-send-message")
    # send_message flattens with a Generator that already writes ">From " (mangle_from_
    # defaults to True without a policy); mbox delivery quotes that once more (">>From ").
    want = m.as_bytes(policy=email.policy.SMTP).replace(b"\r\n", b"\n")
    want = want.replace(b"\nFrom the start", b"\n>>From the start") + b"\n"
    report(got == want, "send_message delivered byte for byte (From_ quoted, dots, LF)",
           "got:\n%r\nwant:\n%r" % (got, want))
    e = entry("smtplib-send-message")
    report(e.startswith(b"From sender@example.org ") and
           b"\nReturn-Path: <sender@example.org>\n" in e and
           ("\nDelivered-To: %s\n" % local()).encode() in e and b"\nReceived: " in e,
           "mbox entry has From_, Return-Path, Delivered-To and Received", e[:400])


def smtputf8_addresses_and_body():
    m = EmailMessage()
    m["From"] = "Jos\u00e9 <jos\u00e9@exampl\u00e9.org>"
    m["To"] = local()
    m["Subject"] = "smtplib-utf8 \u624b\u7d19"
    m.set_content("d\u00e9j\u00e0 vu \u624b\u7d19 smtplib-utf8-body\n", cte="8bit")
    with connect() as s:
        refused = s.send_message(m)  # non-ASCII addresses: smtplib uses SMTPUTF8
    report(refused == {}, "SMTPUTF8 message accepted", refused)
    got = delivered("smtplib-utf8-body")
    report(got is not None, "SMTPUTF8 message delivered once")
    if got is None:
        return
    p = parse(got)
    report(p["Subject"] == "smtplib-utf8 \u624b\u7d19" and
           p.get_content() == "d\u00e9j\u00e0 vu \u624b\u7d19 smtplib-utf8-body\n\n",
           "UTF-8 subject and body intact", got)
    e = entry("smtplib-utf8-body")
    sender = "jos\u00e9@exampl\u00e9.org".encode()
    report(b"Return-Path: <" + sender + b">\n" in e and e.startswith(b"From " + sender + b" "),
           "UTF-8 envelope sender kept in From_ and Return-Path", e[:300])


def utf8_unknown_recipient_is_refused():
    with connect() as s:
        try:
            s.sendmail("a@example.org", ["\u624b\u7d19-nobody@localhost"], b"Subject: x\r\n\r\nx\r\n",
                       mail_options=["SMTPUTF8"])
            report(False, "unknown UTF-8 recipient refused with 550 5.1.1", "accepted")
        except smtplib.SMTPRecipientsRefused as e:
            (code, text), = e.recipients.values()
            report(code == 550 and text.startswith(b"5.1.1"),
                   "unknown UTF-8 recipient refused with 550 5.1.1", e.recipients)


def several_recipients_one_unknown():
    msg = b"Subject: smtplib-mixed\r\n\r\nsmtplib-mixed-body\r\n"
    with connect() as s:
        refused = s.sendmail("a@example.org", [local(), local("no-such-user-tg1")], msg)
    bad = refused.get(local("no-such-user-tg1"))
    report(len(refused) == 1 and bad is not None and bad[0] == 550 and bad[1].startswith(b"5.1.1"),
           "sendmail reports the one unknown recipient (550 5.1.1)", refused)
    report(delivered("smtplib-mixed-body") is not None, "the good recipient gets the message once")


def all_recipients_refused():
    with connect() as s:
        try:
            s.sendmail("a@example.org", [local("no-such-user-tg1"), "x@example.com"],
                       b"Subject: smtplib-refused\r\n\r\nsmtplib-refused-body\r\n")
            report(False, "SMTPRecipientsRefused when every recipient is refused", "accepted")
        except smtplib.SMTPRecipientsRefused as e:
            r = e.recipients
            ok = (r.get(local("no-such-user-tg1"), (0, b""))[0] == 550 and
                  r[local("no-such-user-tg1")][1].startswith(b"5.1.1") and
                  r.get("x@example.com", (0, b""))[0] == 550 and
                  r["x@example.com"][1].startswith(b"5.7.1"))
            report(ok, "SMTPRecipientsRefused when every recipient is refused (5.1.1, 5.7.1)", r)
        code, _ = s.noop()
        report(code == 250, "session usable after the refusal", code)
    report(all(b"smtplib-refused-body" not in m for m in Env.box.messages()),
           "nothing delivered for the refused message")


def size_over_limit_is_refused_at_mail():
    big = b"Subject: smtplib-big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (SIZE_LIMIT // 1000 + 10)
    with connect() as s:
        try:
            s.sendmail("a@example.org", [local()], big)  # smtplib sends SIZE=
            report(False, "oversized message refused at MAIL with 552 5.3.4", "accepted")
        except smtplib.SMTPSenderRefused as e:
            report(e.smtp_code == 552 and e.smtp_error.startswith(b"5.3.4"),
                   "oversized message refused at MAIL with 552 5.3.4",
                   (e.smtp_code, e.smtp_error))


def bare_lf_body_is_refused():
    with connect() as s:
        try:
            # Bytes go out as given: smtplib fixes line ends only in str messages.
            s.sendmail("a@example.org", [local()],
                       b"Subject: smtplib-bare-lf\r\n\r\nline\nsmtplib-bare-lf-body\r\n")
            report(False, "bare LF in the body refused with 550 5.6.0", "accepted")
        except smtplib.SMTPDataError as e:
            report(e.smtp_code == 550 and e.smtp_error.startswith(b"5.6.0"),
                   "bare LF in the body refused with 550 5.6.0", (e.smtp_code, e.smtp_error))
        code, _ = s.noop()
        report(code == 250, "session usable after the refused body", code)


def several_messages_in_one_session():
    with connect() as s:
        for i in range(5):
            s.sendmail("seq%d@example.org" % i, [local()],
                       ("Subject: smtplib-seq-%d\r\n\r\nsmtplib-seq-%d-end\r\n" % (i, i)).encode())
    missing = [i for i in range(5) if delivered("smtplib-seq-%d-end" % i) is None]
    report(not missing, "five messages in one session, each delivered once", missing)


def alias_recipient():
    with connect() as s:
        s.sendmail("a@example.org", ["postmaster@localhost"],
                   b"Subject: smtplib-alias\r\n\r\nsmtplib-alias-body\r\n")
    got = delivered("smtplib-alias-body")
    report(got is not None, "postmaster alias delivered to %s" % Env.user)


def main():
    Env.box = ts.Sandbox(prefix="tegami-smtplib",
                         extra=["message_size_limit=%d" % SIZE_LIMIT])
    Env.user = Env.box.user
    return ts.run_suite(Env.box, TAP, (
        ehlo_features, send_message_delivers_exact_bytes, smtputf8_addresses_and_body,
        utf8_unknown_recipient_is_refused, several_recipients_one_unknown,
        all_recipients_refused, size_over_limit_is_refused_at_mail, bare_lf_body_is_refused,
        several_messages_in_one_session, alias_recipient), tail_lines=30)


if __name__ == "__main__":
    sys.exit(main())
