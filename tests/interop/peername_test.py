"""peername_test.py - smtpd names its clients by forward-confirmed reverse DNS, against
dnsmasq (Debian's dnsmasq-base) on 127.0.0.1, all on loopback addresses:

  127.0.0.21  PTR good.ptr.example, whose A is 127.0.0.21       -> good.ptr.example
  127.0.0.22  PTR liar.ptr.example, whose A is 127.0.0.99       -> unknown (not confirmed)
  127.0.0.23  PTR two names, only the second confirms         -> multi2.ptr.example
  127.0.0.24  no PTR (NXDOMAIN)                               -> unknown
  127.0.0.1   this host                                       -> localhost, no lookup

checked in the Received header of the delivered message and in the connect/disconnect log
lines; then a second suite whose resolver is a UDP socket that never answers
(smtpd_peername_timeout 2s): the client is greeted after the timeout as "unknown", and a
client from 127.0.0.1 meanwhile is greeted at once (no session waits for another's
lookup). Every wait is bounded. Env: TEGAMI_BIN, TEGAMI_SRC.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=15)
ok = TAP.ok


def connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(15)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines
        lines.append(line.decode("ascii", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def send_one(port, src, user, token):
    """One message from src; returns (greeting seconds, final reply code)."""
    t0 = time.monotonic()
    s = connect(port, src)
    f = s.makefile("rb")
    greet = reply(f)
    t1 = time.monotonic() - t0
    code = 0
    try:
        if not greet or not greet[0].startswith("220"):
            return t1, 0
        for cmd in [b"EHLO client.test", b"MAIL FROM:<a@localhost>",
                    b"RCPT TO:<%s@localhost>" % user.encode(), b"DATA"]:
            s.sendall(cmd + b"\r\n")
            reply(f)
        s.sendall(b"Subject: " + token.encode() + b"\r\n\r\n" + token.encode() + b"\r\n.\r\n")
        r = reply(f)
        code = int(r[-1][:3]) if r else 0
        s.sendall(b"QUIT\r\n")
        reply(f)
    finally:
        s.close()
    return t1, code


def received_of(box, token):
    for m in box.messages():
        if token.encode() in m:
            head = m.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
            for line in head.decode("utf-8", "replace").splitlines():
                if line.startswith("Received: from"):
                    return line
    return ""


def main():
    work = tempfile.mkdtemp(prefix="tegami-peername.", dir="/tmp")
    os.chmod(work, 0o755)
    records = "\n".join([
        "host-record=good.ptr.example,127.0.0.21",
        "ptr-record=22.0.0.127.in-addr.arpa,liar.ptr.example",
        "host-record=liar.ptr.example,127.0.0.99",
        "ptr-record=23.0.0.127.in-addr.arpa,multi1.ptr.example",
        "ptr-record=23.0.0.127.in-addr.arpa,multi2.ptr.example",
        "address=/multi1.ptr.example/127.0.0.98",
        "address=/multi2.ptr.example/127.0.0.23",
        "",
    ])
    dns = ts.Dnsmasq(work, records, ["local=/127.in-addr.arpa/"])
    box = ts.Sandbox(prefix="tegami-peername", extra=["dns_resolver=127.0.0.1@%d" % dns.port])
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver that never answers
    mute.bind(("127.0.0.1", 0))
    box2 = ts.Sandbox(prefix="tegami-peername2", extra=[
        "dns_resolver=127.0.0.1@%d" % mute.getsockname()[1], "smtpd_peername_timeout=2s"])
    try:
        ok(box.start(15), "the suite starts with dns_resolver set", box.tail())
        cases = [
            ("127.0.0.21", "good.ptr.example", "a PTR confirmed by its A record names the client"),
            ("127.0.0.22", "unknown", "a PTR whose name resolves elsewhere is not trusted"),
            ("127.0.0.23", "multi2.ptr.example", "of two PTR names the one that confirms is used"),
            ("127.0.0.24", "unknown", "no PTR record: unknown"),
            ("127.0.0.1", "localhost", "127.0.0.1 is localhost without a lookup"),
        ]
        for i, (src, name, what) in enumerate(cases):
            token = "peername-%d-%d" % (os.getpid(), i)
            secs, code = send_one(box.port, src, box.user, token)
            ok(code == 250, "%s: message from %s accepted" % (what, src), box.tail())
            want = "(%s [%s])" % (name, src)
            ok(ts.wait_for(lambda: want in received_of(box, token), 15),
               "%s: Received has %s" % (what, want), received_of(box, token) or box.tail())
            ok("connect from %s[%s]" % (name, src) in box.log(),
               "%s: logged as %s[%s]" % (what, name, src), box.tail())
        ok("127.0.0.22: hostname not confirmed" in box.log(),
           "an unconfirmed name is logged with the reason", box.tail())

        ok(box2.start(15), "a suite whose resolver never answers starts", box2.tail())
        token = "peername-timeout-%d" % os.getpid()
        slow = connect(box2.port, "127.0.0.21")
        t0 = time.monotonic()
        quick_secs, quick_code = send_one(box2.port, "127.0.0.1", box2.user, "quick-" + token.replace("peername", "q"))
        ok(quick_secs < 1.0 and quick_code == 250,
           "a client from 127.0.0.1 is served at once while another's lookup hangs "
           "(%.2f s)" % quick_secs, box2.tail())
        slow.settimeout(10)
        greet = reply(slow.makefile("rb"))
        waited = time.monotonic() - t0
        slow.close()
        ok(greet and greet[0].startswith("220") and 1.5 <= waited <= 6,
           "the waiting client is greeted after smtpd_peername_timeout (%.2f s)" % waited,
           box2.tail())
        secs, code = send_one(box2.port, "127.0.0.21", box2.user, token)
        ok(code == 250, "after the timeout the session goes on and the message is accepted",
           box2.tail())
        ok(ts.wait_for(lambda: "(unknown [127.0.0.21])" in received_of(box2, token), 15),
           "after the timeout the client is unknown in Received",
           received_of(box2, token) or box2.tail())
        ok("127.0.0.21: hostname not confirmed: timed out" in box2.log(),
           "the timeout is logged", box2.tail())

        # dns_resolver read again on SIGHUP: first a bad value (the previous resolver
        # stays), then the working DNS server, which names the next client at once.
        def reload(line, logged):
            with open(box2.conf) as f:
                lines = [x for x in f if not x.startswith("dns_resolver")]
            with open(box2.conf, "w") as f:
                f.writelines(lines + [line + "\n"])
            before = box2.log().count(logged)
            os.kill(box2.proc.pid, 1)
            return ts.wait_for(lambda: box2.log().count(logged) > before, 10)
        ok(reload("dns_resolver = not-an-address", "keeping the previous resolver"),
           "SIGHUP with a bad dns_resolver: smtpd keeps the previous resolver", box2.tail())
        slow = connect(box2.port, "127.0.0.21")
        slow.settimeout(10)
        t0 = time.monotonic()
        greet = reply(slow.makefile("rb"))
        waited = time.monotonic() - t0
        slow.close()
        ok(greet and greet[0].startswith("220") and waited >= 1.5,
           "the previous (silent) resolver is still the one asked (%.2f s)" % waited,
           box2.tail())
        ok(reload("dns_resolver = 127.0.0.1@%d" % dns.port, "client names: resolver reloaded"),
           "SIGHUP with dns_resolver set to the DNS server: smtpd makes a new resolver",
           box2.tail())
        token = "peername-reload-%d" % os.getpid()
        secs, code = send_one(box2.port, "127.0.0.21", box2.user, token)
        ok(code == 250 and secs < 1.5,
           "after the reload the client is named without waiting (%.2f s)" % secs, box2.tail())
        ok(ts.wait_for(lambda: "(good.ptr.example [127.0.0.21])" in received_of(box2, token), 15),
           "after the reload Received names the client by the new resolver's answer",
           received_of(box2, token) or box2.tail())
    finally:
        box.stop()
        box2.stop()
        dns.stop()
        mute.close()
        box.remove()
        box2.remove()
        subprocess.run(["rm", "-rf", work], check=False, timeout=60)
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
