"""protocol_test.py - smtpd's SMTP protocol edges, probed with a raw socket client against
the real suite in a sandbox on 127.0.0.1, where a mature MTA's answer is known: a client
that pipelines its body behind a DATA that is refused (RFC 2920 3.1: the body must not be
read as commands, nothing of it is queued); a client that sends a whole session and then
closes its sending side (shutdown(SHUT_WR), as "nc -N" does) and reads the replies: each
command is answered, the end of data with its 250 after the queue took the message, small
or streamed in chunks, and each message is delivered once.

Run by tests/interop/protocol.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=30)
report = TAP.ok


class Env:
    box = None


def converse(data, half_close=False, timeout=10):
    """Sends data in one write (optionally closing the sending side after it) and returns
    every reply line until the server closes, or what came within timeout."""
    s = socket.create_connection(("127.0.0.1", Env.box.port), timeout=timeout)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
        return [line.decode("utf-8", "replace") for line in out.split(b"\r\n") if line]
    finally:
        s.close()


def codes(lines):
    return [line[:3] for line in lines if len(line) < 4 or line[3] != "-"]


def delivered(token, timeout=10):
    t = token.encode()
    ts.wait_for(lambda: any(t in m for m in Env.box.messages()), timeout)
    return [m for m in Env.box.messages() if t in m]


def body_pipelined_after_refused_data():
    user = Env.box.user
    injected = ("Subject: proto-blind\r\n\r\nMAIL FROM:<evil@example.org>\r\n"
                "RCPT TO:<%s@localhost>\r\nDATA\r\nproto-injected-body\r\n.\r\n.\r\nQUIT\r\n" % user)
    got = converse(("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
                    "RCPT TO:<proto-nobody@localhost>\r\nDATA\r\n" + injected).encode())
    report(codes(got)[2:5] == ["250", "550", "554"] and "5.5.1" in got[-2] and
           "no valid recipients" in got[-2],
           "DATA with no valid recipient: 554 5.5.1 no valid recipients", got)
    report(got and got[-1].startswith("421 4.5.0") and "500" not in codes(got),
           "the body sent behind it is not read as commands: 421 4.5.0 and closed", got)
    # A refused MAIL earlier in the same group: RCPT and DATA 503, the body never a command.
    got2 = converse(("EHLO client.example\r\nMAIL FROM:<broken\r\nRCPT TO:<%s@localhost>\r\n"
                     "DATA\r\n" % user + injected).encode())
    report(codes(got2)[2:5] == ["501", "503", "503"] and got2[-1].startswith("421 4.5.0"),
           "a group after a refused MAIL: 501, 503, 503, then 421 4.5.0", got2)
    report(not delivered("proto-injected-body", timeout=3),
           "no message was made of the body's lines")


def half_closed_client_gets_every_reply():
    user = Env.box.user
    for name, lines in (("small", 3), ("streamed", 3000)):
        token = "proto-halfclose-%s" % name
        body = "Subject: %s\r\n\r\n" % token + ("x" * 70 + "\r\n") * lines + token + "-end\r\n"
        got = converse(("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
                        "RCPT TO:<%s@localhost>\r\nDATA\r\n" % user + body +
                        ".\r\nQUIT\r\n").encode(), half_close=True)
        report(codes(got)[2:] == ["250", "250", "354", "250", "221"] and "2.0.0" in got[-2],
               "%s message, then EOF: 354, 250 queued, 221" % name, got)
        report(len(delivered(token + "-end")) == 1, "the %s message is delivered once" % name)
    got = converse(b"EHLO client.example\r\nNOOP\r\nQUIT\r\n", half_close=True)
    report(codes(got) == ["220", "250", "250", "221"], "commands, then EOF: all answered", got)
    got = converse(("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
                    "RCPT TO:<%s@localhost>\r\nDATA\r\nSubject: proto-cut\r\n\r\n"
                    "proto-cut-body\r\n" % user).encode(), half_close=True)
    report(codes(got)[-1] == "354", "EOF inside DATA: the session ends after 354", got)
    report(not delivered("proto-cut-body", timeout=3), "and nothing of it is delivered")


def own_address_literal_is_local():
    """RFC 5321 4.1.3: user@[an address of this host] is this host's mailbox, as sendmail
    and Postfix take it; a literal of any other host is still refused as a relay."""
    user = Env.box.user
    token = "proto-own-literal"
    got = converse(("EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
                    "RCPT TO:<%s@[127.0.0.1]>\r\nRCPT TO:<%s@[198.51.100.7]>\r\n"
                    "RCPT TO:<%s%%far.example@[127.0.0.1]>\r\n" % (user, user, user)).encode(),
                   timeout=3)
    c = codes(got)
    report(c[3:4] == ["250"], "RCPT TO:<user@[127.0.0.1]>: 250", got)
    report(c[4:5] == ["550"] and any("198.51.100.7" in l and "Relaying denied" in l
                                     for l in got),
           "RCPT TO:<user@[198.51.100.7]> (another host): 550 5.7.1 relaying denied", got)
    report(c[5:6] == ["550"], "a %-hack through the own literal is still a relay trick: 550",
           got)
    s = socket.create_connection(("127.0.0.1", Env.box.port), timeout=10)
    f = s.makefile("rb")
    try:
        f.readline()
        for line in ("EHLO client.example", "MAIL FROM:<a@example.org>",
                     "RCPT TO:<%s@[127.0.0.1]>" % user, "DATA"):
            s.sendall(line.encode() + b"\r\n")
            while True:
                r = f.readline()
                if not r or r[3:4] != b"-":
                    break
        s.sendall(("Subject: %s\r\n\r\n%s-body\r\n.\r\nQUIT\r\n" % (token, token)).encode())
        end = f.readline()
    finally:
        f.close()
        s.close()
    report(end.startswith(b"250"), "a message to user@[127.0.0.1] is accepted", end)
    report(len(delivered(token + "-body")) == 1, "and delivered to the local mailbox")


def main():
    Env.box = ts.Sandbox(prefix="tegami-protocol")
    return ts.run_suite(Env.box, TAP, (body_pipelined_after_refused_data,
                                          half_closed_client_gets_every_reply,
                                          own_address_literal_is_local), tail_lines=30)


if __name__ == "__main__":
    sys.exit(main())
