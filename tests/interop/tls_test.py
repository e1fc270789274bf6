"""tls_test.py - TLS on every listener of the real suite, with real clients: Python's
smtplib (starttls on the MTA and the MSA, SMTP_SSL on smtps), raw sockets for what no
polite client does: the STARTTLS command-injection payload (CVE-2011-0411 class) on 25
and 587, a second STARTTLS, a handshake that stalls (the timeout frees the session), a
bad handshake beside a live session, protocol versions below TLS 1.2; the Received
header's ESMTPS and cipher; session resumption (TLS 1.2, and a row of TLS 1.3 STARTTLS
connections each offering the newest ticket); a certificate reload on SIGHUP that
keeps open sessions.

Run by tests/interop/tls.sh (which also drives swaks and openssl s_client). Prints
"ok - ..." / "not ok - ..." and, last, "N passed, N failed"; exits 1 on any failure.
"""

import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap()
report = TAP.ok
warnings.filterwarnings("ignore", category=DeprecationWarning)  # TLSv1/1.1 on purpose


def case(fn):
    TESTS.append(fn)
    return fn


TESTS = []


class Env:
    box = None
    user = None
    msa = 0
    smtps = 0
    certdir = None


def make_cert(d, name, kind):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    alg = (["-newkey", "rsa:2048"] if kind == "rsa" else
           ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj",
                    "/CN=localhost"] + alg + ["-keyout", key, "-out", crt],
                   check=True, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # the daemons' user reads it (a test key)
    return crt, key


def client_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines
        lines.append(line.decode("ascii", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    greet = read_reply(f)
    assert greet and greet[0].startswith("220"), greet
    return s, f


def delivered(token, timeout=20):
    t = token.encode()
    ts.wait_for(lambda: any(t in m for m in Env.box.messages()), timeout)
    found = [m for m in Env.box.messages() if t in m]
    return found[0] if len(found) == 1 else None


@case
def starttls_on_the_mta_delivers_and_records_esmtps():
    s = smtplib.SMTP("127.0.0.1", Env.box.port, local_hostname="c.example.org", timeout=20)
    s.ehlo()
    offered = s.has_extn("starttls")
    s.starttls(context=client_ctx())
    s.ehlo()
    again = s.has_extn("starttls")
    version = s.sock.version()
    s.sendmail("a@example.org", ["%s@localhost" % Env.user],
               "Subject: tls\r\n\r\ntoken-tls-mta\r\n")
    s.quit()
    m = delivered("token-tls-mta")
    ok = (offered and not again and version in ("TLSv1.2", "TLSv1.3") and m is not None and
          b"with ESMTPS id" in m and b"(using " + version.encode() + b" with cipher " in m)
    report(ok, "STARTTLS on 25: offered once, message delivered, Received says ESMTPS and "
           "the cipher", "offered=%s again=%s version=%s\n%r" % (offered, again, version, m))


@case
def starttls_on_the_msa_then_auth_is_required():
    s = smtplib.SMTP("127.0.0.1", Env.msa, local_hostname="c.example.org", timeout=20)
    s.ehlo()
    s.starttls(context=client_ctx())
    s.ehlo()
    code, msg = s.docmd("MAIL FROM:<a@example.org>")
    s.quit()
    report(code == 530 and msg.startswith(b"5.7.0"), "STARTTLS on 587, then MAIL gets 530 "
           "5.7.0 before AUTH", "%d %r" % (code, msg))


@case
def smtp_ssl_on_smtps():
    s = smtplib.SMTP_SSL("127.0.0.1", Env.smtps, local_hostname="c.example.org", timeout=20,
                         context=client_ctx())
    s.ehlo()
    starttls = s.has_extn("starttls")
    version = s.sock.version()
    code, _ = s.docmd("MAIL FROM:<a@example.org>")
    s.quit()
    report(not starttls and version in ("TLSv1.2", "TLSv1.3") and code == 530,
           "SMTP_SSL on 465: implicit TLS, no STARTTLS offered, 530 before AUTH",
           "starttls=%s version=%s code=%d" % (starttls, version, code))


def injection(port, name):
    s, f = raw(port)
    s.sendall(b"EHLO c.example.org\r\n")
    read_reply(f)
    # The payload: a command pipelined after STARTTLS in the same packet, in plaintext.
    s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    r = read_reply(f)
    assert r and r[0].startswith("220 "), r
    t = client_ctx().wrap_socket(s, server_hostname="localhost")
    tf = t.makefile("rb")
    t.sendall(b"NOOP\r\n")
    first = read_reply(tf)
    t.sendall(b"QUIT\r\n")
    rest = read_reply(tf)
    t.close()
    report(first == ["250 2.0.0 Ok"] and rest and rest[0].startswith("221"),
           "STARTTLS injection on %s: plaintext after STARTTLS is never executed" % name,
           "first=%r rest=%r" % (first, rest))


@case
def injection_on_25():
    injection(Env.box.port, "25 (mta)")


@case
def injection_on_587():
    injection(Env.msa, "587 (msa)")


@case
def second_starttls_is_refused_and_state_is_reset():
    s = smtplib.SMTP("127.0.0.1", Env.box.port, local_hostname="c.example.org", timeout=20)
    s.ehlo()
    s.starttls(context=client_ctx())
    code1, msg1 = s.docmd("MAIL FROM:<a@example.org>")  # HELO state was reset
    code2, msg2 = s.docmd("STARTTLS")
    s.quit()
    report(code1 == 503 and code2 == 503 and msg2.startswith(b"5.5.1"),
           "after STARTTLS: MAIL needs a new EHLO (503), a second STARTTLS gets 503 5.5.1",
           "%d %r / %d %r" % (code1, msg1, code2, msg2))


@case
def stalled_handshake_is_freed_by_the_timeout():
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", Env.smtps), timeout=20)
    data = s.recv(100)  # no ClientHello: the server waits tls_handshake_timeout (2 s)
    took = time.monotonic() - t0
    s.close()
    s2, f2 = raw(Env.box.port)
    s2.sendall(b"STARTTLS\r\n")
    r = read_reply(f2)
    t1 = time.monotonic()
    data2 = s2.recv(100)
    took2 = time.monotonic() - t1
    s2.close()
    logged = "TLS handshake failed from localhost[127.0.0.1]" in Env.box.log()
    report(data == b"" and 1.0 <= took < 10 and r[0].startswith("220") and data2 == b"" and
           1.0 <= took2 < 10 and logged,
           "a stalled handshake (465 and after STARTTLS) is closed by tls_handshake_timeout",
           "data=%r took=%.1f data2=%r took2=%.1f logged=%s" % (data, took, data2, took2,
                                                                logged))


@case
def bad_handshake_closes_only_that_session():
    live, lf = raw(Env.box.port)
    live.sendall(b"EHLO c.example.org\r\n")
    read_reply(lf)
    bad = socket.create_connection(("127.0.0.1", Env.smtps), timeout=10)
    bad.sendall(b"EHLO this is not a ClientHello\r\n" * 4)
    got = b""
    try:
        while True:
            chunk = bad.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    bad.close()
    live.sendall(b"NOOP\r\n")
    r = read_reply(lf)
    live.close()
    s = smtplib.SMTP_SSL("127.0.0.1", Env.smtps, timeout=20, context=client_ctx())
    code, _ = s.noop()
    s.quit()
    log = Env.box.log()
    logged = any("TLS handshake failed from localhost[127.0.0.1]: " in l and
                 len(l.split("]: ", 1)[-1]) > 3 for l in log.splitlines())
    report(r == ["250 2.0.0 Ok"] and code == 250 and logged,
           "a bad handshake is logged with client and reason and closes only its session",
           "live=%r ssl noop=%d logged=%s" % (r, code, logged))


@case
def tls_below_1_2_is_refused():
    refused = []
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        c = client_ctx()
        try:
            c.minimum_version = v
            c.maximum_version = v
            c.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            refused.append(True)  # this OpenSSL cannot even offer it
            continue
        try:
            with socket.create_connection(("127.0.0.1", Env.smtps), timeout=10) as s:
                with c.wrap_socket(s, server_hostname="localhost"):
                    refused.append(False)
        except (ssl.SSLError, OSError):
            refused.append(True)
    report(all(refused), "TLS 1.0 and 1.1 are refused", repr(refused))


@case
def session_resumes_with_a_ticket():
    c = client_ctx()
    c.maximum_version = ssl.TLSVersion.TLSv1_2  # a ticket right in the handshake
    with socket.create_connection(("127.0.0.1", Env.smtps), timeout=10) as s:
        with c.wrap_socket(s, server_hostname="localhost") as t:
            t.recv(512)
            sess = t.session
    with socket.create_connection(("127.0.0.1", Env.smtps), timeout=10) as s:
        with c.wrap_socket(s, server_hostname="localhost", session=sess) as t:
            t.recv(512)
            reused = t.session_reused
    report(reused, "a second connection resumes the TLS session with its ticket")


def starttls_session(c, port, sess):
    """One connection through STARTTLS with context c offering sess; (reused, newest
    session)."""
    s, f = raw(port)
    with s:
        s.sendall(b"EHLO c.example.org\r\n")
        read_reply(f)
        s.sendall(b"STARTTLS\r\n")
        assert read_reply(f)[0].startswith("220")
        with c.wrap_socket(s, server_hostname="localhost", session=sess) as t:
            t.sendall(b"EHLO c.example.org\r\n")  # its reply brings the TLS 1.3 ticket
            tf = t.makefile("rb")
            ehlo = read_reply(tf)
            assert ehlo and ehlo[-1].startswith("250"), ehlo
            t.sendall(b"QUIT\r\n")
            read_reply(tf)
            return t.session_reused, t.session


@case
def every_starttls_connection_resumes_with_the_newest_ticket():
    # A client keeping only the newest ticket (TLS 1.3 tickets are single use, RFC 8446
    # C.4; OpenSSL's own client cache drops a used one) must resume every connection after
    # the first: so each resumption must bring a new ticket.
    c = client_ctx()
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    sess, reused, fresh = None, [], []
    for _ in range(4):
        r, new = starttls_session(c, Env.msa, sess)
        reused.append(r)
        fresh.append(sess is None or new.id != sess.id)  # a new ticket, not the offered one
        sess = new
    report(reused == [False, True, True, True] and all(fresh),
           "TLS 1.3 after STARTTLS: each connection resumes and is handed a fresh ticket",
           "reused=%r fresh=%r" % (reused, fresh))


@case
def sighup_reload_keeps_open_sessions():
    live = smtplib.SMTP_SSL("127.0.0.1", Env.smtps, timeout=20, context=client_ctx())
    live.ehlo()
    old = live.sock.getpeercert(binary_form=True)
    crt, key = make_cert(Env.certdir, "rsa", "rsa")  # replaces the files in place
    ecrt, ekey = make_cert(Env.certdir, "ec", "ec")
    os.kill(Env.box.proc.pid, signal.SIGHUP)
    ts.wait_for(lambda: Env.box.log().count("certificate(s) loaded") >= 2, 10)
    code, _ = live.noop()
    live.quit()
    c = client_ctx()
    c.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    c.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", Env.smtps), timeout=10) as s:
        with c.wrap_socket(s, server_hostname="localhost") as t:
            new = t.getpeercert(binary_form=True)
    report(code == 250 and new != old and Env.box.log().count("certificate(s) loaded") >= 2,
           "SIGHUP reloads the certificates; a session under TLS keeps going",
           "noop=%d changed=%s" % (code, new != old))


def main():
    certdir = None
    if os.geteuid() == 0:
        ts.ensure_user("tegami")
    import tempfile
    certdir = tempfile.mkdtemp(prefix="tegami-tls-certs.", dir="/tmp")
    os.chmod(certdir, 0o755)
    Env.certdir = certdir
    rsa = make_cert(certdir, "rsa", "rsa")
    ec = make_cert(certdir, "ec", "ec")
    Env.msa, Env.smtps = ts.free_port(), ts.free_port()
    Env.box = ts.Sandbox(prefix="tegami-tls", extra=[
        "msa_listen=127.0.0.1:%d" % Env.msa, "smtps_listen=127.0.0.1:%d" % Env.smtps,
        "tls_cert_file=%s, %s" % (rsa[0], ec[0]), "tls_key_file=%s, %s" % (rsa[1], ec[1]),
        "tls_handshake_timeout=2"])
    Env.user = Env.box.user
    try:
        return ts.run_suite(Env.box, TAP, TESTS, tail_lines=30)
    finally:
        subprocess.run(["rm", "-rf", certdir], check=False)


if __name__ == "__main__":
    sys.exit(main())
