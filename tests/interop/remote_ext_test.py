"""remote_ext_test.py - the remote SMTP client and the peer's extensions (RFC 1870 SIZE,
6152 8BITMIME, 6531 SMTPUTF8), against servers on loopback started here:

  * Postfix's smtp-sink (Debian's postfix package extracted with dpkg -x, as remote_test.py
    fetches it), which offers 8BITMIME but never SIZE nor SMTPUTF8; a second one with -8
    (no 8BITMIME);
  * a small Python server that offers what it is told (SIZE with a limit, SMTPUTF8,
    8BITMIME), records every command and whether DATA came.

Mail is submitted to Tegami's smtpd with smtplib (trusted_networks lets 127.0.0.1 relay) and
routed by the mailertable to each server. Checks: a message with a UTF-8 address to a peer
without SMTPUTF8 bounces (RFC 6531 3.5: never sent; the client's code 5.6.7, in an RFC 6533
global report) and the peer sees no MAIL, as does one whose only UTF-8 is in a header,
while one that arrived with SMTPUTF8 but is ASCII in envelope and header goes, without the
parameter (3.4), and a UTF-8 ORCPT (RFC 6533) does not make it need SMTPUTF8: a DSN peer
gets it as utf-8-addr-xtext whether it offers SMTPUTF8 or not, one without DSN gets none;
a message larger than the peer's SIZE bounces with
5.3.4 and the peer sees no MAIL, so no DATA; SIZE 0 (no limit) and a SIZE argument that is
not a number do not stop a message; BODY=8BITMIME content to a peer without 8BITMIME bounces
with 5.6.3, while a message declared 8BITMIME whose body is 7-bit goes, without BODY=, and a
message not declared 8BITMIME goes as it is (the client checks the declaration, the body
only for a declared one); SIZE=<octets>, BODY=8BITMIME and SMTPUTF8 are passed when
offered, and only then. Every wait is bounded.

Env: TEGAMI_BIN, TEGAMI_SRC, REMOTE_PF_DIR (as remote_test.py).
"""

import email
import email.policy
import os
import re
import smtplib
import socket
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402
import remote_test as rt  # noqa: E402  (Sink, postfix_dir)

TAP = ts.Tap(detail_lines=30)
ok = TAP.ok

SIZE_LIMIT = 4000  # what the Python server advertises as SIZE


class ExtServer(ts.ThreadedServer):
    """A threaded SMTP server on addr:port offering the EHLO keywords given; records each
    session's commands and each accepted message's data (dot-unstuffed)."""

    def __init__(self, addr, port, keywords):
        self.keywords = list(keywords)
        self.commands = []  # every command line, as bytes, in order
        self.data = []      # (MAIL line, [RCPT lines], data bytes)
        self.lock = threading.Lock()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))
        sock.listen(8)
        super().__init__(sock)

    def session(self, c):
        c.settimeout(20)
        f = c.makefile("rb")
        mail, rcpts = None, []
        try:
            c.sendall(b"220 ext.test ESMTP\r\n")
            for _ in range(1000):  # bounded: a session of at most 1000 commands
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.rstrip(b"\r\n")
                with self.lock:
                    self.commands.append(cmd)
                up = cmd.upper()
                if up.startswith(b"EHLO"):
                    ext = ["ext.test"] + self.keywords
                    c.sendall(b"".join(("250%s%s\r\n" % ("-" if i < len(ext) - 1 else " ", k))
                                       .encode() for i, k in enumerate(ext)))
                elif up.startswith(b"MAIL FROM:"):
                    mail, rcpts = cmd, []
                    c.sendall(b"250 2.1.0 ok\r\n")
                elif up.startswith(b"RCPT TO:"):
                    rcpts.append(cmd)
                    c.sendall(b"250 2.1.5 ok\r\n")
                elif up == b"DATA":
                    c.sendall(b"354 go ahead\r\n")
                    data = b""
                    while len(data) < 10 * 1024 * 1024:
                        dl = f.readline(1 << 20)
                        if not dl or dl == b".\r\n":
                            break
                        data += dl[1:] if dl.startswith(b".") else dl
                    with self.lock:
                        self.data.append((mail, list(rcpts), data))
                    c.sendall(b"250 2.0.0 queued\r\n")
                elif up == b"RSET":
                    mail, rcpts = None, []
                    c.sendall(b"250 2.0.0 ok\r\n")
                elif up == b"QUIT":
                    c.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    c.sendall(b"502 5.5.1 not here\r\n")
        except OSError:
            return
        finally:
            c.close()

    def got(self, token):
        with self.lock:
            return [d for d in self.data if token.encode() in d[2]]

    def mails_from(self, who):
        """The MAIL commands seen from the sender."""
        with self.lock:
            return [c for c in self.commands if c.upper().startswith(b"MAIL FROM:<" + who)]

def reports(box, token):
    """(message, [(Final-Recipient, Action, Status, Diagnostic-Code)]) of each report about
    the message holding token; message/delivery-status and message/global-delivery-status
    (RFC 6533) alike."""
    out = []
    for e in box.messages():
        if token.encode() not in e:
            continue
        msg = email.message_from_bytes(ts.strip_trace(e), policy=email.policy.compat32)
        if msg.get_content_type() != "multipart/report":
            continue
        fields = []
        for part in msg.walk():
            if part.get_content_type() not in ("message/delivery-status",
                                               "message/global-delivery-status"):
                continue
            payload = part.get_payload()
            if isinstance(payload, list):  # parsed as header blocks
                text = "\n\n".join(b.as_bytes().decode("utf-8", "replace") for b in payload)
            else:
                # compat32 keeps 8-bit octets of a str payload as surrogate escapes
                text = payload.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            for block in re.split(r"\r?\n\r?\n", text.strip())[1:]:
                h = email.message_from_string(block.strip() + "\n", policy=email.policy.compat32)
                if h.get("Final-Recipient"):
                    fields.append((h.get("Final-Recipient", ""), h.get("Action", ""),
                                   h.get("Status", ""), h.get("Diagnostic-Code", "")))
        out.append((msg, fields))
    return out


def main():
    pf = rt.postfix_dir()
    work = tempfile.mkdtemp(prefix="tegami-remote-ext.", dir="/tmp")
    os.chmod(work, 0o755)
    port = ts.free_port()
    servers = {
        "ext": ExtServer("127.0.0.21", port, ["PIPELINING", "SIZE %d" % SIZE_LIMIT, "8BITMIME",
                                              "SMTPUTF8", "ENHANCEDSTATUSCODES"]),
        "nolimit": ExtServer("127.0.0.22", port, ["SIZE 0", "8BITMIME"]),
        "badsize": ExtServer("127.0.0.23", port, ["SIZE lots"]),
        "dsn": ExtServer("127.0.0.26", port, ["PIPELINING", "8BITMIME", "DSN"]),
        "dsnutf8": ExtServer("127.0.0.27", port, ["8BITMIME", "SMTPUTF8", "DSN"]),
    }
    sinks = {
        "sink": rt.Sink(pf, work, "127.0.0.24", port),
        "no8": rt.Sink(pf, work, "127.0.0.25", port, ["-8"]),
    }
    routes = {"ext.example": "127.0.0.21", "nolimit.example": "127.0.0.22",
              "badsize.example": "127.0.0.23", "sink.example": "127.0.0.24",
              "no8.example": "127.0.0.25", "dsn.example": "127.0.0.26",
              "dsnutf8.example": "127.0.0.27"}
    mailertable = os.path.join(work, "mailertable")
    with open(mailertable, "w") as f:
        for dom, addr in routes.items():
            f.write("%s smtp:[%s]:%d\n" % (dom, addr, port))
    os.chmod(mailertable, 0o644)
    box = ts.Sandbox(prefix="tegami-remote-ext", extra=[
        "mailertable=text:" + mailertable,
        "trusted_networks=127.0.0.0/8",
        "queue_retry_min=1s", "queue_retry_max=1s", "queue_lifetime=1h",
        "smtp_connect_timeout=5s",
    ])
    sender = "%s@localhost" % box.user
    try:
        ok(box.start(), "the suite starts", box.tail())

        def send(rcpts, token, body=b"", mail_options=(), rcpt_options=()):
            msg = (b"From: <" + sender.encode() + b">\r\nSubject: " + token.encode() +
                   b"\r\nMessage-ID: <" + token.encode() + b"@test>\r\n\r\nbody " +
                   token.encode() + b"\r\n" + body)
            with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as s:
                s.ehlo("client.test")
                return s.sendmail(sender, rcpts, msg, mail_options=list(mail_options),
                                  rcpt_options=list(rcpt_options))

        def report(token, timeout=15):
            got = []
            ts.wait_for(lambda: bool(got.extend(reports(box, token)) or got), timeout)
            return got[0] if got else (None, [])

        def status(token, rcpt):
            return [x for x in report(token)[1] if rcpt in x[0]]

        def sink_got(sink, token, timeout=15):
            found = []
            ts.wait_for(lambda: bool(found.extend(m for m in sink.messages()
                                                  if token.encode() in m) or found), timeout)
            return found

        # 1. SMTPUTF8: a UTF-8 address to smtp-sink (no SMTPUTF8): never sent, bounced.
        utf8_rcpt = "j\u00f6rg@sink.example"
        send([utf8_rcpt], "E1utf8", "gr\u00fc\u00dfe\r\n".encode(),
             ["SMTPUTF8", "BODY=8BITMIME"])
        msg, f = report("E1utf8")
        ok(msg is not None, "a UTF-8 address to a peer without SMTPUTF8: a report to the sender",
           box.tail())
        ok([x[1:3] for x in f] == [("failed", "5.6.7")],
           "the recipient failed with 5.6.7 (RFC 6531 3.5: never sent to that peer)", f)
        ok(f and "SMTPUTF8" in f[0][3] and "127.0.0.24" in f[0][3],
           "the diagnostic names SMTPUTF8 and the peer", f)
        ok(f and "j\u00f6rg@sink.example" in f[0][0],
           "Final-Recipient keeps the UTF-8 address", f)
        ok(msg is not None and any(p.get_content_type() == "message/global-delivery-status"
                                   for p in msg.walk()),
           "an SMTPUTF8 message gets an RFC 6533 global report",
           [p.get_content_type() for p in msg.walk()] if msg else None)
        ok(not sink_got(sinks["sink"], "E1utf8", 2), "smtp-sink received nothing of it")
        ok(re.search(r"to=<j\u00f6rg@sink\.example>, .*dsn=5\.6\.7, status=bounced",
                     box.log()) is not None, "logged: dsn=5.6.7, status=bounced", box.tail())

        # 1b. The same to a peer that offers SMTPUTF8: MAIL carries SMTPUTF8 and BODY=8BITMIME.
        send(["j\u00f6rg@ext.example"], "E1butf8", "gr\u00fc\u00dfe\r\n".encode(),
             ["SMTPUTF8", "BODY=8BITMIME"])
        ok(ts.wait_for(lambda: servers["ext"].got("E1butf8"), 15),
           "a UTF-8 address to a peer with SMTPUTF8 is delivered", box.tail())
        d = servers["ext"].got("E1butf8")
        if d:
            mail, rcpts, data = d[0]
            ok(b" SMTPUTF8" in mail and b" BODY=8BITMIME" in mail,
               "MAIL passes SMTPUTF8 and BODY=8BITMIME when offered", mail)
            ok(rcpts == [("RCPT TO:<j\u00f6rg@ext.example>").encode()],
               "RCPT carries the address in UTF-8", rcpts)
            m = re.search(rb" SIZE=(\d+)", mail)
            ok(m is not None and int(m.group(1)) == len(data),
               "SIZE= is the message's size in octets (%s, %d received)" %
               (m.group(1).decode() if m else None, len(data)), mail)

        # 1c. Arrived with SMTPUTF8 but ASCII in envelope and header (RFC 6531 3.4): goes to
        # smtp-sink, and to a peer with SMTPUTF8 without the parameter; a UTF-8 header alone
        # (ASCII addresses) makes it internationalized: bounced with 5.6.7.
        send(["a@sink.example"], "E1cascii", b"ascii\r\n", ["SMTPUTF8"])
        got = sink_got(sinks["sink"], "E1cascii")
        ok(len(got) == 1, "an ASCII message sent with SMTPUTF8 goes to a peer without it",
           box.tail())
        args = re.findall(rb"X-Mail-Args: ([^\n]*)", got[0]) if got else []
        ok(args and b"SMTPUTF8" not in args[0], "without the SMTPUTF8 parameter", args)
        send(["a@ext.example"], "E1cascii2", b"ascii\r\n", ["SMTPUTF8"])
        ok(ts.wait_for(lambda: servers["ext"].got("E1cascii2"), 15) and
           b"SMTPUTF8" not in servers["ext"].got("E1cascii2")[0][0],
           "to a peer with SMTPUTF8 too: not needed, not sent (3.4 SHOULD NOT)",
           servers["ext"].got("E1cascii2"))
        with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail(sender, ["h@sink.example"],
                       ("From: <%s>\r\nSubject: E1dheader gr\u00fc\u00dfe\r\n\r\nbody\r\n" %
                        sender).encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        msg, f = report("E1dheader")
        ok([x[1:3] for x in f] == [("failed", "5.6.7")],
           "a UTF-8 header (ASCII addresses) to a peer without SMTPUTF8: failed, 5.6.7", f)
        ok(not sink_got(sinks["sink"], "E1dheader", 1), "and smtp-sink received nothing of it")

        # 1e. RFC 6533 3: a UTF-8 ORCPT of an ASCII message goes to a DSN peer without
        # SMTPUTF8 as utf-8-addr-xtext (it was bounced as needing SMTPUTF8), the same to a
        # peer with both, and is left out for a peer without DSN; delivered every time.
        want = b"ORCPT=utf-8;j\\x{F6}rg@example.org"
        cases = [("dsn", "E1eraw", ["SMTPUTF8"], "utf-8;j\u00f6rg@example.org", want),
                 ("dsn", "E1extext", [], "utf-8;j\\x{F6}rg@example.org", want),
                 ("dsnutf8", "E1eutf8peer", ["SMTPUTF8"], "utf-8;j\u00f6rg@example.org", want),
                 ("ext", "E1enodsn", ["SMTPUTF8"], "utf-8;j\u00f6rg@example.org", None)]
        for name, token, mopts, orcpt, expect in cases:
            send(["o@%s.example" % name], token, b"ascii\r\n", mopts,
                 ["ORCPT=" + orcpt, "NOTIFY=FAILURE"])
            ok(ts.wait_for(lambda: servers[name].got(token), 15),
               "%s: an ASCII message with a UTF-8 ORCPT reaches the %s peer" % (token, name),
               box.tail())
            d = servers[name].got(token)
            rcpt = d[0][1] if d else []
            mail = d[0][0] if d else b""
            if expect:
                ok(rcpt == [b"RCPT TO:<o@%s.example> NOTIFY=FAILURE %s" % (name.encode(), expect)],
                   "%s: the peer sees ORCPT as utf-8-addr-xtext" % token, rcpt)
            else:
                ok(rcpt == [b"RCPT TO:<o@%s.example>" % name.encode()],
                   "%s: a peer without DSN gets neither NOTIFY nor ORCPT" % token, rcpt)
            ok(mail and b"SMTPUTF8" not in mail, "%s: MAIL without SMTPUTF8" % token, mail)
        ok(not reports(box, "E1e"), "none of them was bounced", box.tail())

        # 2. SIZE: a message past the peer's limit bounces with 5.3.4 before MAIL.
        big = b"".join(b"line %04d of a message larger than the peer takes\r\n" % i
                       for i in range(SIZE_LIMIT // 40))
        send(["big@ext.example"], "E2big", big)
        msg, f = report("E2big")
        ok([x[1:3] for x in f] == [("failed", "5.3.4")],
           "a message over the peer's SIZE %d: failed with 5.3.4" % SIZE_LIMIT, f or box.tail())
        ok(f and ("%d bytes" % SIZE_LIMIT) in f[0][3],
           "the diagnostic names the peer's limit", f)
        ok(not servers["ext"].got("E2big") and
           not any(b"big@ext.example" in c for c in servers["ext"].commands),
           "the peer saw no RCPT and no DATA for it", servers["ext"].commands[-6:])
        ok(re.search(r"to=<big@ext\.example>, .*dsn=5\.3\.4, status=bounced", box.log())
           is not None, "logged: dsn=5.3.4, status=bounced", box.tail())
        # Just under the limit goes, with SIZE=.
        send(["small@ext.example"], "E2small", big[:SIZE_LIMIT // 2])
        ok(ts.wait_for(lambda: servers["ext"].got("E2small"), 15),
           "a message under the peer's SIZE is delivered", box.tail())
        d = servers["ext"].got("E2small")
        ok(d and re.search(rb" SIZE=\d+", d[0][0]) and b"BODY=" not in d[0][0] and
           b"SMTPUTF8" not in d[0][0],
           "a 7-bit ASCII message: SIZE= only, neither BODY= nor SMTPUTF8", d and d[0][0])
        # SIZE 0 is no limit (RFC 1870); a SIZE argument that is no number is none either.
        for dom, srv in (("nolimit.example", "nolimit"), ("badsize.example", "badsize")):
            send(["big@" + dom], "E2" + srv, big)
            ok(ts.wait_for(lambda: servers[srv].got("E2" + srv), 15),
               "SIZE %s: the big message is delivered" % servers[srv].keywords[0].split()[1],
               box.tail())

        # 3. 8BITMIME: smtp-sink offers it (BODY=8BITMIME passed; no SIZE, not offered);
        # smtp-sink -8 does not (declared 8-bit content bounces with 5.6.3).
        send(["e@sink.example"], "E3eight", "caf\u00e9\r\n".encode(), ["BODY=8BITMIME"])
        got = sink_got(sinks["sink"], "E3eight")
        ok(len(got) == 1, "8-bit content to a peer with 8BITMIME is delivered", box.tail())
        args = re.findall(rb"X-Mail-Args: ([^\n]*)", got[0]) if got else []
        ok(args and b"BODY=8BITMIME" in args[0] and b"SIZE=" not in args[0],
           "smtp-sink saw BODY=8BITMIME and no SIZE= (it offers no SIZE)", args)
        ok(got and "caf\u00e9".encode() in got[0], "the 8-bit octets arrive unchanged",
           got[0][-200:] if got else None)

        send(["e@no8.example"], "E3no8", "caf\u00e9\r\n".encode(), ["BODY=8BITMIME"])
        msg, f = report("E3no8")
        ok([x[1:3] for x in f] == [("failed", "5.6.3")],
           "BODY=8BITMIME with 8-bit octets to a peer without 8BITMIME: failed, 5.6.3", f)
        ok(f and "8BITMIME" in f[0][3], "the diagnostic names 8BITMIME", f)
        ok(not sink_got(sinks["no8"], "E3no8", 2), "the peer received nothing of it")
        # Declared 8BITMIME, but every octet 7-bit: goes, without BODY=.
        send(["s@no8.example"], "E3seven", b"plain ascii\r\n", ["BODY=8BITMIME"])
        got = sink_got(sinks["no8"], "E3seven")
        ok(len(got) == 1, "declared 8BITMIME with a 7-bit body goes to a peer without 8BITMIME",
           box.tail())
        args = re.findall(rb"X-Mail-Args: ([^\n]*)", got[0]) if got else []
        ok(args and b"BODY=" not in args[0], "and without BODY=", args)
        # Not declared: the client does not look into the body; the message goes as it is.
        send(["u@no8.example"], "E3undeclared", "caf\u00e9\r\n".encode())
        got = sink_got(sinks["no8"], "E3undeclared")
        ok(len(got) == 1 and "caf\u00e9".encode() in got[0],
           "8-bit octets not declared 8BITMIME are sent as they are", box.tail())

        # 4. Bad input: a UTF-8 address without SMTPUTF8 is refused by smtpd (raw octets on
        # the wire; smtplib would not send them), so it never reaches a peer.
        c = ts.SmtpLines(port=box.port)
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<%s>" % sender)
        code, text = c.cmd("RCPT TO:<j\u00f6rg@ext.example>")
        ok(500 <= code < 600, "RCPT with a UTF-8 address and no SMTPUTF8: 5xx", (code, text))
        code, _ = c.cmd("DATA")
        if code == 354:
            c.cmd("Subject: E4nosmtputf8\r\n\r\nbody E4nosmtputf8\r\n.")
        c.cmd("QUIT")
        c.close()
        ok(not ts.wait_for(lambda: servers["ext"].got("E4nosmtputf8") or
                           reports(box, "E4nosmtputf8"), 2),
           "and nothing of it is relayed or bounced", box.tail())
        ok(box.stop(), "the suite stops cleanly", box.tail())
    finally:
        box.stop()
        for s in servers.values():
            s.stop()
        for s in sinks.values():
            s.stop()
        ts.keep_or_remove(box, TAP, work)
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
