"""scram_plus_test.py - SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) with tls-exporter channel
binding (RFC 9266) on the MSA. No Debian SMTP client speaks SCRAM-PLUS, so the SCRAM
arithmetic is this script's own, while the channel-binding bytes come from a real TLS
client: openssl s_client (-starttls smtp -keymatexport EXPORTER-Channel-Binding), which
carries the whole SMTP session; smtpd computes its side with SSL_export_keying_material
and hands it to tegami-auth.

Bad inputs first: wrong channel-binding bytes (535), a client saying "y" (it could bind
but thinks the server cannot) when -PLUS was offered (535, the downgrade check), TLS 1.2
(no tls-exporter binding: -PLUS is not offered, and asking for it is 504), a login held
to -PLUS trying SCRAM-SHA-256 or PLAIN (534 5.7.9); then a good -PLUS login and a
submission after it.

Run by tests/interop/scram_plus.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure.
"""

import base64
import hashlib
import hmac
import os
import queue
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

PASSWORD = "scram-Plus-pw"
TAP = ts.Tap()
report = TAP.ok


def make_cert(d):
    key, crt = os.path.join(d, "ec.key"), os.path.join(d, "ec.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-keyout", key, "-out", crt],
                   check=True, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # the daemons' user reads it (a test key)
    return crt, key


class SClient:
    """openssl s_client over STARTTLS on the MSA; lines read by a thread, every wait
    bounded."""

    def __init__(self, port, tls12=False):
        argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-starttls", "smtp",
                "-crlf", "-nocommands", "-ign_eof", "-keymatexport", "EXPORTER-Channel-Binding",
                "-keymatexportlen", "32"] + (["-tls1_2"] if tls12 else ["-tls1_3"])
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.keymat = None
        self.protocol = None
        deadline = time.monotonic() + 20
        while self.keymat is None or self.protocol is None:
            line = self.q.get(timeout=max(0.1, deadline - time.monotonic()))
            m = re.search(r"Keying material: ([0-9A-Fa-f]+)", line)
            if m:
                self.keymat = bytes.fromhex(m.group(1))
            m = re.search(r"^New, (TLSv[0-9.]+), Cipher", line)
            if m:
                self.protocol = m.group(1)
        # The session summary ends with the SSL-Session block; drain what is left.
        time.sleep(0.3)
        while not self.q.empty():
            self.q.get_nowait()

    def _pump(self):
        for raw in self.p.stdout:
            self.q.put(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def cmd(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        lines = []
        while True:
            l = self.q.get(timeout=20)
            if not re.match(r"^\d{3}[ -]", l):
                continue  # s_client's own chatter (session tickets ...)
            lines.append(l)
            if l[3] == " ":
                return int(l[:3]), "\n".join(lines)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)


def scram(c, user, gs2, cbind_data, mech="SCRAM-SHA-256-PLUS"):
    """One SCRAM exchange; returns the final reply."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    code, text = c.cmd("AUTH %s %s" % (mech, base64.b64encode((gs2 + first_bare).encode())
                                       .decode()))
    if code != 334:
        return code, text
    server_first = base64.b64decode(text[4:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    cbind = base64.b64encode(gs2.encode() + cbind_data).decode()
    without = "c=%s,r=%s" % (cbind, attrs["r"])
    auth_msg = ",".join([first_bare, server_first, without]).encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    code, text = c.cmd(base64.b64encode((without + ",p=" + base64.b64encode(proof).decode())
                                        .encode()).decode())
    if code == 334:  # the server-final message; an empty response finishes
        code, text = c.cmd("")
    return code, text


def auth_line(ehlo_text):
    m = re.search(r"^250[ -]AUTH (.*)$", ehlo_text, re.M)
    return m.group(1).split() if m else []


def wrong_binding_is_535(port):
    c = SClient(port)
    c.cmd("EHLO client.example")
    r = scram(c, "alice", "p=tls-exporter,,", bytes(32))
    c.close()
    report(r[0] == 535 and "5.7.8" in r[1], "wrong tls-exporter bytes: 535 5.7.8", r)


def downgrade_is_refused(port):
    c = SClient(port)
    c.cmd("EHLO client.example")
    r = scram(c, "alice", "y,,", b"", mech="SCRAM-SHA-256")
    c.close()
    report(r[0] == 535, "'y' (binding possible, thought unsupported) while -PLUS is offered: 535",
           r)


def tls12_has_no_plus(port):
    c = SClient(port, tls12=True)
    e = c.cmd("EHLO client.example")
    r = c.cmd("AUTH SCRAM-SHA-256-PLUS " + base64.b64encode(b"p=tls-exporter,,n=alice,r=abc")
              .decode())
    plain = scram(c, "alice", "n,,", b"", mech="SCRAM-SHA-256")
    c.close()
    mechs = auth_line(e[1])
    report(c.protocol == "TLSv1.2" and "SCRAM-SHA-256-PLUS" not in mechs and
           "SCRAM-SHA-256" in mechs, "TLS 1.2: AUTH without -PLUS (%s)" % " ".join(mechs), e)
    report(r[0] == 504, "TLS 1.2: AUTH SCRAM-SHA-256-PLUS is 504", r)
    report(plain[0] == 235, "TLS 1.2: SCRAM-SHA-256 without binding logs in", plain)


def plus_logs_in_and_submits(box, port):
    c = SClient(port)
    e = c.cmd("EHLO client.example")
    mechs = auth_line(e[1])
    report(c.protocol == "TLSv1.3" and mechs[:1] == ["SCRAM-SHA-256-PLUS"],
           "TLS 1.3: EHLO offers SCRAM-SHA-256-PLUS first (%s)" % " ".join(mechs), e)
    r = scram(c, "alice", "p=tls-exporter,,", c.keymat)
    report(r[0] == 235 and "2.7.0" in r[1], "SCRAM-SHA-256-PLUS with the tls-exporter bytes: 235",
           r)
    m = c.cmd("MAIL FROM:<alice@localhost>")
    rc = c.cmd("RCPT TO:<%s@localhost>" % box.user)
    d = c.cmd("DATA")
    end = c.cmd("Subject: scram-plus\n\nbody\n.")
    c.cmd("QUIT")
    c.close()
    report(m[0] == 250 and rc[0] == 250 and d[0] == 354 and end[0] == 250,
           "a submission after the -PLUS login is accepted", (m, rc, d, end))
    ok = ts.wait_for(lambda: any(b"Subject: scram-plus" in x for x in box.messages()), 20)
    report(ok, "and delivered", box.tail())
    report("sasl_method=SCRAM-SHA-256-PLUS, sasl_username=alice" in box.log(),
           "the -PLUS login is logged", box.tail())


def a_login_held_to_plus_needs_the_binding(port):
    """dave is held to SCRAM-SHA-256-PLUS (tegami-passwd -m): SCRAM-SHA-256 with his right
    password gets 534 5.7.9 (RFC 4954), with a wrong one 535; -PLUS logs him in."""
    c = SClient(port)
    c.cmd("EHLO client.example")
    weak = scram(c, "dave", "n,,", b"", mech="SCRAM-SHA-256")
    c.close()
    report(weak[0] == 534 and "5.7.9" in weak[1],
           "SCRAM-SHA-256 for a login held to -PLUS: 534 5.7.9", weak)
    c = SClient(port)
    c.cmd("EHLO client.example")
    plain = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0dave\0" + PASSWORD.encode()).decode())
    good = scram(c, "dave", "p=tls-exporter,,", c.keymat)
    c.close()
    report(plain[0] == 534, "PLAIN for that login: 534", plain)
    report(good[0] == 235, "SCRAM-SHA-256-PLUS logs dave in", good)


def main():
    msa = ts.free_port()
    box = None
    try:
        import tempfile
        certdir = tempfile.mkdtemp(prefix="tegami-scram-cert.", dir="/tmp")
        os.chmod(certdir, 0o755)
        crt, key = make_cert(certdir)
        box = ts.Sandbox(prefix="tegami-scram", extra=[
            "msa_listen=127.0.0.1:%d" % msa, "tls_cert_file=%s" % crt, "tls_key_file=%s" % key,
            "auth_failure_delay=0", "auth_failure_limit=0"])
        p = subprocess.run([os.path.join(box.bin, "tegami-passwd"), "-c", box.conf, "add",
                            "alice"], input=(PASSWORD + "\n").encode(), capture_output=True,
                           timeout=30)
        report(p.returncode == 0, "tegami-passwd add alice", p.stderr)
        p = subprocess.run([os.path.join(box.bin, "tegami-passwd"), "-c", box.conf, "-m",
                            "SCRAM-SHA-256-PLUS", "add", "dave"],
                           input=(PASSWORD + "\n").encode(), capture_output=True, timeout=30)
        report(p.returncode == 0, "tegami-passwd -m SCRAM-SHA-256-PLUS add dave", p.stderr)
        up = box.start()
        report(up, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up:
            for fn in (wrong_binding_is_535, downgrade_is_refused, tls12_has_no_plus,
                       a_login_held_to_plus_needs_the_binding):
                TAP.case(fn, msa, tail=box.tail)
            TAP.case(plus_logs_in_and_submits, box, msa, tail=box.tail)
    finally:
        if box:
            box.stop()
            box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
