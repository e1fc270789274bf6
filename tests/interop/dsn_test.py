"""dsn_test.py - RFC 3461 delivery status notifications end to end, against the real suite
in a sandbox on 127.0.0.1, driven by Python's smtplib (a real third-party client: its
mail()/rcpt() options carry the ESMTP parameters) and by the built sendmail (-N/-R/-V):
bad parameters refused with 501 5.5.4 / 555 5.5.4; NOTIFY=SUCCESS gives a success report
(Action: delivered) with Original-Recipient from ORCPT and Original-Envelope-Id from ENVID;
RET=HDRS returns headers only, RET=FULL and no RET the whole failed message; NOTIFY=NEVER
and a NOTIFY list without FAILURE suppress the failure report; the null sender never gets
one (a null-sender failure goes to the postmaster as before); an SMTPUTF8 message's
failure report is a global one (RFC 6533); NOTIFY=SUCCESS to an alias of several gets
Action: expanded (RFC 3461 6.2.1(c)); sendmail -bs offers DSN. Each report is
parsed with Python's email package.

Run by tests/interop/dsn.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import email
import email.policy
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=25)
report = TAP.ok
case = TAP.case


class Env:
    box = None
    user = None


def local(name=None):
    return "%s@localhost" % (name or Env.user)


def connect():
    return Env.box.smtp()


def body(token):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n"
            "the body of %s\r\n" % (local(), local(), token, token, token)).encode()


def send(token, rcpts, mail_opts=(), rcpt_opts=(), sender=None):
    """One transaction; rcpts and rcpt_opts are parallel. Returns the reply to DATA."""
    with connect() as s:
        code, text = s.mail(local() if sender is None else sender, list(mail_opts))
        assert code == 250, (code, text)
        for r, o in zip(rcpts, rcpt_opts or [()] * len(rcpts)):
            code, text = s.rcpt(r, list(o))
            assert code == 250, (r, code, text)
        return s.data(body(token))


def reports(token):
    """The multipart/report messages in the mailbox that quote token, parsed."""
    out = []
    for e in Env.box.messages():
        if token.encode() not in e:
            continue
        msg = email.message_from_bytes(ts.strip_trace(e), policy=email.policy.compat32)
        if msg.get_content_type() == "multipart/report":
            out.append(msg)
    return out


def wait_reports(token, n=1, timeout=20):
    ts.wait_for(lambda: len(reports(token)) >= n, timeout)
    return reports(token)


def delivered_copies(token):
    return [e for e in Env.box.messages() if token.encode() in e and
            b"multipart/report" not in e]


def fields(rep):
    """(per-message fields, [per-recipient fields]) of a report's delivery-status part."""
    for part in rep.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            return blocks[0], blocks[1:]
    return None, []


def returned(rep):
    """The third part: (content type, its text)."""
    parts = rep.get_payload()
    if len(parts) < 3:
        return None, ""
    p = parts[2]
    return p.get_content_type(), p.as_string()


def ehlo_offers_dsn():
    with connect() as s:
        report(s.has_extn("dsn"), "EHLO offers DSN", s.esmtp_features)


def bad_parameters_are_refused():
    cases = [
        ("MAIL", ["RET=BODY"], 501), ("MAIL", ["RET=FULL", "RET=HDRS"], 501),
        ("MAIL", ["ENVID=a+ZZ"], 501), ("MAIL", ["ENVID=" + "e" * 101], 501),
        ("MAIL", ["XDSN=1"], 555),
        ("RCPT", ["NOTIFY=NEVER,SUCCESS"], 501), ("RCPT", ["NOTIFY="], 501),
        ("RCPT", ["ORCPT=rfc822"], 501), ("RCPT", ["ORCPT=rfc822;a+ZZ"], 501),
        ("RCPT", ["NOTIFY=SUCCESS", "NOTIFY=DELAY"], 501),
        ("RCPT", ["ORCPT=rfc822;" + "a" * 494], 501), ("RCPT", ["XNOTIFY=NEVER"], 555),
    ]
    bad = []
    with connect() as s:
        for verb, opts, want in cases:
            s.rset()
            if verb == "MAIL":
                code, text = s.mail(local(), opts)
            else:
                s.mail(local())
                code, text = s.rcpt(local(), opts)
            if code != want or not text.startswith(b"5.5.4"):
                bad.append((verb, opts, code, text))
    report(not bad, "malformed DSN values get 501 5.5.4, unknown parameters 555 5.5.4", bad)


def success_report_with_orcpt_envid_and_hdrs():
    tok = "DSN-SUCCESS-1"
    code, _ = send(tok, [local()], ["RET=HDRS", "ENVID=QQ+2B314"],
                   [["NOTIFY=SUCCESS", "ORCPT=rfc822;Original+2BMe@Example.org"]])
    report(code == 250, "NOTIFY=SUCCESS message accepted", code)
    reps = wait_reports(tok)
    report(len(reps) == 1, "one success report in the sender's mailbox", Env.box.tail())
    if not reps:
        return
    r = reps[0]
    msg, rcpts = fields(r)
    report(r["Subject"] == "Successful Mail Delivery Report" and r.get_param(
        "report-type") == "delivery-status", "a multipart/report delivery-status", str(r)[:600])
    report(msg is not None and msg["Original-Envelope-Id"] == "QQ+314",
           "Original-Envelope-Id is the decoded ENVID", msg)
    report(len(rcpts) == 1 and rcpts[0]["Action"] == "delivered" and
           rcpts[0]["Status"].startswith("2.") and
           rcpts[0]["Original-Recipient"] == "rfc822; Original+Me@Example.org" and
           rcpts[0]["Final-Recipient"] == "rfc822; " + local(),
           "Action delivered, Status 2.x.x, Original-Recipient from ORCPT", rcpts)
    ctype, text = returned(r)
    report(ctype == "text/rfc822-headers" and "Subject: " + tok in text and
           "the body of" not in text, "RET=HDRS: only the headers come back", text)
    report(len(delivered_copies(tok)) == 1, "the message itself delivered once")


def failure_reports_and_ret():
    # "dead" is an alias to a user that does not exist: accepted, then failed by local.
    tok_full, tok_def, tok_hdrs = "DSN-FAIL-FULL", "DSN-FAIL-DEFAULT", "DSN-FAIL-HDRS"
    send(tok_full, [local("dead")], ["RET=FULL"], [["NOTIFY=FAILURE"]])
    send(tok_def, [local("dead")])
    send(tok_hdrs, [local("dead")], ["RET=HDRS"], [["NOTIFY=FAILURE,DELAY"]])
    for tok, want in ((tok_full, "message/rfc822"), (tok_def, "message/rfc822"),
                      (tok_hdrs, "text/rfc822-headers")):
        reps = wait_reports(tok)
        ok = len(reps) == 1
        if ok:
            _, rcpts = fields(reps[0])
            ctype, text = returned(reps[0])
            ok = (rcpts and rcpts[0]["Action"] == "failed" and
                  rcpts[0]["Status"].startswith("5.") and ctype == want and
                  (("the body of " + tok) in text) == (want == "message/rfc822"))
        report(ok, "failure report for %s returns %s" % (tok, want),
               [str(x)[:800] for x in reps] or Env.box.tail())


def notify_suppresses_failure_reports():
    toks = ["DSN-NEVER", "DSN-SUCCESS-ONLY", "DSN-NULL-SENDER"]
    send(toks[0], [local("dead")], [], [["NOTIFY=NEVER"]])
    send(toks[1], [local("dead")], [], [["NOTIFY=SUCCESS,DELAY"]])
    # The null sender: nobody to tell, whatever NOTIFY asks.
    send(toks[2], [local("dead"), local()], [], [["NOTIFY=FAILURE"], ["NOTIFY=SUCCESS"]],
         sender="")
    ts.wait_for(lambda: delivered_copies(toks[2]), 20)
    # Each one is decided when its recipient fails; a later report would come within
    # the same queue run, so give the queue a bounded moment to prove the absence.
    ts.wait_for(lambda: "DSN-NULL-SENDER" in Env.box.log() and
                Env.box.log().count("no notification") >= 2, 10)
    time.sleep(1.5)
    for t in toks[:2]:
        report(not reports(t), "no report for %s" % t, [str(x)[:300] for x in reports(t)])
    # The failure of a null-sender message is the postmaster's business (a double bounce);
    # its NOTIFY=SUCCESS recipient gets nobody a success report.
    reps = reports(toks[2])
    report(all(r["To"].startswith("<postmaster@") and "double bounce" in r["Subject"]
               for r in reps) and
           not any(b["Action"] == "delivered" for r in reps for b in fields(r)[1]),
           "null sender: no report to the sender, no success report; the postmaster is told",
           [str(x)[:300] for x in reps])
    report(len(delivered_copies(toks[2])) == 1, "null sender message delivered")


def mixed_success_and_failure_in_one_report():
    tok = "DSN-MIXED"
    send(tok, [local(), local("dead")], [], [["NOTIFY=SUCCESS"], ["NOTIFY=FAILURE"]])
    ts.wait_for(lambda: reports(tok), 20)
    time.sleep(1)
    reps = reports(tok)
    actions = sorted(b["Action"] for r in reps for b in fields(r)[1])
    report(actions == ["delivered", "failed"], "delivered and failed both reported", actions)


def smtputf8_failure_is_a_global_report():
    # RFC 6533: an SMTPUTF8 message's report is message/global-delivery-status, its utf-8
    # ORCPT in UTF-8 (the "+" escaped), the whole message returned as message/global.
    tok = "DSN-SMTPUTF8"
    code, _ = send(tok, [local("dead")], ["SMTPUTF8"],
                   [["NOTIFY=FAILURE", "ORCPT=utf-8;d\\x{E9}ad\\x{2B}1@localhost"]])
    report(code == 250, "SMTPUTF8 message with a utf-8 ORCPT accepted", code)
    reps = wait_reports(tok)
    report(len(reps) == 1, "one failure report", Env.box.tail())
    if not reps:
        return
    r = reps[0]
    kinds = [p.get_content_type() for p in r.get_payload()]
    report(r.get_param("report-type") == "global-delivery-status" and
           kinds == ["text/plain", "message/global-delivery-status", "message/global"],
           "multipart/report of text/plain, message/global-delivery-status, message/global",
           (r.get_param("report-type"), kinds))
    # The delivery-status part's field groups, from the raw bytes between the boundaries
    # (the email package reads a message/* part as one nested message), UTF-8 decoded.
    raw = [e for e in Env.box.messages() if tok.encode() in e and b"multipart/report" in e][0]
    part = raw.replace(b"\r\n", b"\n").split(b"\n--" + r.get_boundary().encode())[2]
    text = part.split(b"\n\n", 1)[1].decode("utf-8")
    blocks = [email.message_from_string(g.strip() + "\n") for g in text.split("\n\n")
              if g.strip()]
    ds, groups = (blocks[0], blocks[1:]) if blocks else (email.message.Message(), [])
    report(ds["Reporting-MTA"] is not None and len(groups) == 1 and
           groups[0]["Original-Recipient"] == "utf-8; d\u00e9ad\\x{2B}1@localhost" and
           groups[0]["Final-Recipient"] == "rfc822; " + local("dead") and
           groups[0]["Action"] == "failed" and groups[0]["Status"].startswith("5."),
           "Original-Recipient in UTF-8 (utf-8-addr-unitext), Action failed, Status 5.x.x",
           [dict(g) for g in groups] or text)
    report(("the body of " + tok) in r.get_payload()[2].as_string(),
           "the whole message returned", r.get_payload()[2].as_string()[:400])


def expanded_alias_gets_action_expanded():
    # RFC 3461 6.2.1(c): "pair" is an alias to the user and an address elsewhere; with
    # NOTIFY=SUCCESS the sender hears "expanded" for it, not a report per member.
    tok = "DSN-EXPANDED"
    code, _ = send(tok, [local("pair")], [], [["NOTIFY=SUCCESS"]])
    report(code == 250, "NOTIFY=SUCCESS to an alias of two accepted", code)
    reps = wait_reports(tok)
    report(len(reps) == 1, "one success report", Env.box.tail())
    if not reps:
        return
    _, rcpts = fields(reps[0])
    report(len(rcpts) == 1 and rcpts[0]["Action"] == "expanded" and
           rcpts[0]["Final-Recipient"] == "rfc822; " + local("pair") and
           rcpts[0]["Status"].startswith("2."),
           "Action: expanded for the alias, Status 2.x.x", rcpts)
    ts.wait_for(lambda: delivered_copies(tok), 20)
    report(len(delivered_copies(tok)) == 1 and
           "<%s> expanded to <someone@elsewhere.invalid>" % local("pair") in Env.box.log(),
           "the user got it; the address elsewhere went back to the queue", Env.box.tail())


def sendmail_dsn_flags():
    sm = os.path.join(Env.box.bin, "sendmail")

    def run(args, data=b""):
        return subprocess.run([sm, "-C", Env.box.conf] + args, input=data, capture_output=True,
                              timeout=30)
    bad = []
    for args in (["-N", "never,success"], ["-N", "sucess"], ["-R", "body"], ["-V", "a+ZZ"],
                 ["-V", "v" * 101]):
        p = run(args + ["-f", local(), local()], b"Subject: x\n\nx\n")
        if p.returncode != 64:
            bad.append((args, p.returncode, p.stderr))
    report(not bad, "sendmail: bad -N/-R/-V values exit 64", bad)
    tok = "DSN-SENDMAIL-1"
    msg = ("Subject: %s\nFrom: %s\n\nthe body of %s\n" % (tok, local(), tok)).encode()
    p = run(["-N", "success", "-R", "hdrs", "-V", "SM+2BENV", "-f", local(), "-i", local()], msg)
    report(p.returncode == 0, "sendmail -N success -R hdrs -V accepted", p.stderr)
    reps = wait_reports(tok)
    ok = len(reps) == 1
    if ok:
        m, rcpts = fields(reps[0])
        ctype, text = returned(reps[0])
        ok = (m["Original-Envelope-Id"] == "SM+ENV" and rcpts[0]["Action"] == "delivered" and
              ctype == "text/rfc822-headers" and "the body of" not in text)
    report(ok, "sendmail -N success -R hdrs -V: success report with the envelope ID",
           [str(x)[:800] for x in reps] or Env.box.tail())
    tok = "DSN-SENDMAIL-NEVER"
    msg = ("Subject: %s\n\nx %s\n" % (tok, tok)).encode()
    p = run(["-N", "never", "-f", local(), local("dead")], msg)
    ts.wait_for(lambda: "no notification" in Env.box.log().split(tok)[-1], 5)
    time.sleep(1.5)
    report(p.returncode == 0 and not reports(tok), "sendmail -N never: no failure report",
           p.stderr)
    p = run(["-bs"], b"EHLO client.example\r\nQUIT\r\n")
    report(b"250-DSN" in p.stdout or b"250 DSN" in p.stdout, "sendmail -bs offers DSN",
           p.stdout)


def main():
    aliases = ("postmaster: %s\ndead: nosuchuser-tegami-dsn\npair: %s, someone@elsewhere.invalid\n"
               % (ts.mail_user(), ts.mail_user()))
    Env.box = ts.Sandbox(prefix="tegami-dsn", aliases=aliases,
                         extra=["queue_retry_min=1s", "queue_retry_max=1s"])
    Env.user = Env.box.user
    return ts.run_suite(Env.box, TAP, (
        ehlo_offers_dsn, bad_parameters_are_refused, success_report_with_orcpt_envid_and_hdrs,
        failure_reports_and_ret, notify_suppresses_failure_reports,
        mixed_success_and_failure_in_one_report, smtputf8_failure_is_a_global_report,
        expanded_alias_gets_action_expanded,
        sendmail_dsn_flags), tail_lines=40)


if __name__ == "__main__":
    sys.exit(main())
