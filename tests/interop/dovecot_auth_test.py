"""dovecot_auth_test.py - tegami-auth with auth_backend = dovecot: SMTP AUTH on the real
suite (smtpd relaying to tegami-auth, which relays to Dovecot's auth-client socket)
against Debian's dovecot-core, started here as its own instance (own base_dir,
passwd-file passdb and auth socket in the test's directory; never the system service).
AUTH runs in clear on loopback (smtpd_auth_allow_plaintext_loopback); TLS is tested
elsewhere.

Bad inputs first: wrong password and unknown user (535 5.7.8), malformed base64 in the
initial response and in a continuation (501 5.5.2), "*" cancelling a LOGIN exchange
half-way (501 5.7.0, and the session can authenticate afterwards), a mechanism listed in
auth_mechanisms that Dovecot does not offer (504 5.5.4), Dovecot down (454 4.7.0), a
socket that accepts but never finishes the handshake (454 4.7.0 within
auth_dovecot_timeout), and the failure throttle of tegami-auth (421 4.7.0, the address
refused even with the right password); then PLAIN, LOGIN and SCRAM-SHA-256 logins through
Dovecot, a reconnect after Dovecot restarts, and that the password never reaches
Tegami's log.

Run by tests/interop/dovecot_auth.sh (root: Dovecot runs its auth process as its own
users). Prints "ok - ..." / "not ok - ..." and, last, "N passed, N failed"; exits 1 on any
failure.
"""

import base64
import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

PASSWORD = "d0vecot-Pass-w0rd"
TAP = ts.Tap()
report = TAP.ok


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, pw):
    return b64("\0%s\0%s" % (user, pw))


class Dovecot:
    """A private Dovecot instance that only serves authentication."""

    def __init__(self, work, local_port):
        self.work = work
        self.bin = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.sock = os.path.join(work, "auth-client")
        self.proc = None
        os.makedirs(os.path.join(work, "run"), exist_ok=True)
        os.chmod(work, 0o755)
        users = os.path.join(work, "users")
        with open(users, "w") as f:
            # {PLAIN}: SCRAM-SHA-256 needs the plaintext (or SCRAM) password in the passdb.
            f.write("alice:{PLAIN}%s::::::\nbob:{PLAIN}other-Secret-1::::::\n" % PASSWORD)
            # dora's password is right but her account is closed: Dovecot answers OK with
            # nologin, which a client must treat as a failure.
            f.write("dora:{PLAIN}%s::::::nologin=y reason=Account-suspended\n" % PASSWORD)
        # Last, for every login the files lack: a checkpassword program that reports a
        # temporary failure (exit 111, Dovecot's code=temp_fail) for erin and a wrong
        # password for the rest.
        checker = os.path.join(work, "checkpassword")
        with open(checker, "w") as f:
            f.write("#!/bin/bash\nIFS= read -r -d '' user <&3\n"
                    "[ \"$user\" = erin ] && exit 111\nexit 1\n")
        os.chmod(checker, 0o755)
        # carol is found only through the second passdb, whose file is named by the local
        # address and port smtpd passes (lip=, lport=): on 127.0.0.1 at the suite's port.
        with open(os.path.join(work, "users-127.0.0.1-%d" % local_port), "w") as f:
            f.write("carol:{PLAIN}%s::::::\n" % PASSWORD)
        self.conf = os.path.join(work, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""# a test instance (tests/interop/dovecot_auth_test.py), not the system's
base_dir = %(w)s/run
state_dir = %(w)s/run
log_path = %(w)s/dovecot.log
info_log_path = %(w)s/dovecot.log
protocols =
ssl = no
auth_mechanisms = plain login scram-sha-256
auth_failure_delay = 0
disable_plaintext_auth = yes
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(w)s/users
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(w)s/users-%%{lip}-%%{lport}
}
passdb {
  driver = checkpassword
  args = %(w)s/checkpassword
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener %(sock)s {
    mode = 0666
  }
}
service anvil {
  chroot =
}
""" % {"w": work, "sock": self.sock})

    def start(self):
        self.proc = subprocess.Popen([self.bin, "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return ts.wait_for(self.connectable, 15)

    def connectable(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(self.sock)
                return s.recv(64).startswith(b"VERSION")
        except OSError:
            return False

    def stop(self):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        try:
            os.unlink(self.sock)  # Dovecot leaves its sockets behind
        except FileNotFoundError:
            pass

    def log(self):
        return ts.read_bytes(os.path.join(self.work, "dovecot.log")).decode("utf-8", "replace")


def client(box, source="127.0.0.1"):
    c = ts.SmtpLines(box.port, source=source)
    c.cmd("EHLO client.example")
    return c


# ---- bad inputs

def wrong_password_is_535(box, dove):
    c = client(box, "127.0.0.21")
    r = c.cmd("AUTH PLAIN " + plain("alice", "not-the-password"))
    c.close()
    report(r[0] == 535 and "5.7.8" in r[1], "wrong password through Dovecot: 535 5.7.8",
           "%r\n%s" % (r, dove.log()[-1500:]))


def unknown_user_is_535(box, dove):
    c = client(box, "127.0.0.22")
    r = c.cmd("AUTH PLAIN " + plain("nosuchuser", PASSWORD))
    c.close()
    report(r[0] == 535 and "5.7.8" in r[1], "unknown user through Dovecot: 535 5.7.8", r)


def malformed_base64_is_501(box, dove):
    c = client(box, "127.0.0.23")
    r1 = c.cmd("AUTH PLAIN AGFsaWNl!!!")
    r2 = c.cmd("AUTH LOGIN")
    r3 = c.cmd("not*base64")
    r4 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(r1[0] == 501 and "5.5.2" in r1[1], "malformed base64 in the initial response: 501 5.5.2",
           r1)
    report(r2[0] == 334 and r3[0] == 501 and "5.5.2" in r3[1],
           "malformed base64 in a continuation: 501 5.5.2", "%r %r" % (r2, r3))
    report(r4[0] == 235, "the session authenticates after the malformed lines", r4)


def star_cancels(box, dove):
    c = client(box, "127.0.0.24")
    r1 = c.cmd("AUTH LOGIN")
    r2 = c.cmd(b64("alice"))
    r3 = c.cmd("*")
    r4 = c.cmd("AUTH LOGIN " + b64("alice"))
    r5 = c.cmd(b64(PASSWORD))
    c.close()
    report(r1[0] == 334 and r2[0] == 334 and base64.b64decode(r2[1][4:]).startswith(b"Password"),
           "LOGIN through Dovecot: Username then Password challenges", "%r %r" % (r1, r2))
    report(r3[0] == 501 and "5.7.0" in r3[1], "\"*\" cancels the Dovecot exchange: 501 5.7.0", r3)
    report(r4[0] == 334 and r5[0] == 235, "a new LOGIN after the cancel succeeds: 235",
           "%r %r" % (r4, r5))


def mechanism_dovecot_lacks_is_504(box, dove):
    c = client(box, "127.0.0.25")
    _, ehlo = c.cmd("EHLO client.example")
    r = c.cmd("AUTH CRAM-MD5")
    c.close()
    report("CRAM-MD5" in ehlo and r[0] == 504 and "5.5.4" in r[1],
           "a configured mechanism Dovecot does not offer: 504 5.5.4", "%r\n%s" % (r, ehlo))


def throttle_still_applies(box, dove):
    c = client(box, "127.0.0.26")
    r1 = c.cmd("AUTH PLAIN " + plain("alice", "bad1"))
    r2 = c.cmd("AUTH PLAIN " + plain("alice", "bad2"))
    r3 = c.cmd("AUTH PLAIN " + plain("alice", "bad3"))
    closed = c.closed()
    c.close()
    c = client(box, "127.0.0.26")
    r4 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(r1[0] == 535 and r2[0] == 535, "throttle: first failures 535 5.7.8", "%r %r" % (r1, r2))
    report(r3[0] == 421 and "4.7.0" in r3[1] and closed,
           "throttle: the third Dovecot failure gives 421 4.7.0 and closes", r3)
    report(r4[0] == 421 and "4.7.0" in r4[1],
           "throttle: the address is refused even with the right password", r4)


def nologin_is_535(box, dove):
    c = client(box, "127.0.0.28")
    r = c.cmd("AUTH PLAIN " + plain("dora", PASSWORD))
    c.close()
    report(r[0] == 535 and "5.7.8" in r[1],
           "Dovecot's OK with nologin (an account closed) is refused: 535 5.7.8",
           "%r\n%s" % (r, dove.log()[-1500:]))
    report("Account-suspended" in box.log(), "the log carries Dovecot's reason", box.tail())


def temporary_failure_is_454_and_not_counted(box, dove):
    c = client(box, "127.0.0.27")
    rs = [c.cmd("AUTH PLAIN " + plain("erin", PASSWORD)) for _ in range(3)]
    r = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(all(x[0] == 454 and "4.7.0" in x[1] for x in rs),
           "Dovecot's code=temp_fail (its passdb cannot answer): 454 4.7.0",
           "%r\n%s" % (rs, dove.log()[-1500:]))
    report(r[0] == 235, "three temporary failures do not fill the penalty box (limit 3)", r)


# ---- logins

def ehlo_lists_configured_mechanisms(box, dove):
    c = ts.SmtpLines(box.port)
    _, text = c.cmd("EHLO client.example")
    c.close()
    report("AUTH SCRAM-SHA-256 PLAIN LOGIN CRAM-MD5" in text,
           "EHLO offers auth_mechanisms (SCRAM-SHA-256 PLAIN LOGIN CRAM-MD5)", text)


def plain_login(box, dove):
    c = client(box)
    r = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    r2 = c.cmd("MAIL FROM:<alice@localhost>")
    c.cmd("RSET")
    c.close()
    report(r[0] == 235 and "2.7.0" in r[1], "PLAIN through Dovecot: 235 2.7.0",
           "%r\n%s\n%s" % (r, box.tail(), dove.log()[-1500:]))
    report(r2[0] == 250, "the Dovecot login is the session's identity (MAIL FROM:<alice@localhost>)", r2)
    report("sasl_username=alice" in box.log(), "the log names the login Dovecot returned",
           box.tail())


def local_address_reaches_dovecot(box, dove):
    c = client(box)
    r = c.cmd("AUTH PLAIN " + plain("carol", PASSWORD))
    c.close()
    report(r[0] == 235, "Dovecot gets the local address and port (a passdb named by "
           "%{lip}-%{lport} finds carol): 235", "%r\n%s" % (r, dove.log()[-1500:]))


def plain_empty_initial_response(box, dove):
    c = client(box)
    r1 = c.cmd("AUTH PLAIN")
    r2 = c.cmd(plain("bob", "other-Secret-1"))
    c.close()
    report(r1[0] == 334 and r2[0] == 235,
           "PLAIN without an initial response: Dovecot's empty challenge, then 235",
           "%r %r" % (r1, r2))


def scram_through_dovecot(box, dove):
    c = client(box)
    cnonce = b64(os.urandom(18))
    first_bare = "n=alice,r=" + cnonce
    code, text = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,," + first_bare))
    if code != 334:
        c.close()
        report(False, "SCRAM-SHA-256 through Dovecot: server-first", "%r %r" % (code, text))
        return
    server_first = base64.b64decode(text[4:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    without = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, without]).encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    code2, text2 = c.cmd(b64(without + ",p=" + b64(proof)))
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    want_v = "v=" + b64(hmac.new(server_key, auth_msg, "sha256").digest())
    got_v = base64.b64decode(text2[4:]).decode() if code2 == 334 else ""
    code3, text3 = c.cmd("") if code2 == 334 else (code2, text2)
    c.close()
    report(attrs["r"].startswith(cnonce) and code2 == 334 and got_v == want_v,
           "SCRAM-SHA-256 through Dovecot: Dovecot's server signature is relayed",
           "%r %r %r" % (server_first, text2, want_v))
    report(code3 == 235, "SCRAM-SHA-256 through Dovecot: 235 after the empty response", text3)


def dovecot_down_restarted(box, dove):
    dove.stop()
    c = client(box, "127.0.0.27")
    t = time.monotonic()
    r1 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    took = time.monotonic() - t
    c.close()
    report(r1[0] == 454 and "4.7.0" in r1[1] and took < 5,
           "Dovecot down: 454 4.7.0 at once", "%r %.2f s" % (r1, took))
    up = dove.start()
    report(up, "Dovecot restarted", dove.log()[-1500:])
    c = client(box, "127.0.0.27")
    r2 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(r2[0] == 235, "after Dovecot restarts tegami-auth reconnects: 235", r2)
    # The connection tegami-auth holds is cut under it: the next exchange reconnects.
    dove.stop()
    dove.start()
    c = client(box, "127.0.0.27")
    r3 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(r3[0] == 235, "a connection Dovecot dropped is made anew on the next AUTH: 235", r3)


def stalled_handshake_is_454(box, dove):
    """A socket that accepts and says nothing: tegami-auth gives up after
    auth_dovecot_timeout (2 s here) with 454, not a hung session."""
    path = os.path.join(box.dir, "stall.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(4)
    held = []

    def accept():
        try:
            while True:
                s, _ = srv.accept()
                held.append(s)
        except OSError:
            pass
    threading.Thread(target=accept, daemon=True).start()
    conf = open(box.conf).read()
    open(box.conf, "w").write(conf.replace(dove.sock, path))
    os.kill(box.proc.pid, signal.SIGHUP)
    time.sleep(1.5)
    c = client(box, "127.0.0.28")
    t = time.monotonic()
    r = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    took = time.monotonic() - t
    c.close()
    report(r[0] == 454 and "4.7.0" in r[1] and 1.5 <= took < 8,
           "a Dovecot socket that never finishes its handshake: 454 4.7.0 after the timeout",
           "%r %.2f s\n%s" % (r, took, box.tail()))
    open(box.conf, "w").write(conf)
    os.kill(box.proc.pid, signal.SIGHUP)
    time.sleep(1.5)
    srv.close()
    for s in held:
        s.close()
    c = client(box, "127.0.0.28")
    r2 = c.cmd("AUTH PLAIN " + plain("alice", PASSWORD))
    c.close()
    report(r2[0] == 235, "back on Dovecot's socket after a reload: 235", r2)


def password_not_logged(box, dove):
    log = box.log()
    report(PASSWORD not in log and plain("alice", PASSWORD) not in log and
           b64(PASSWORD) not in log, "neither the password nor its base64 is in Tegami's log")


def main():
    if os.geteuid() != 0:
        print("skip - Dovecot auth interop needs root (Dovecot runs its auth process as "
              "its own users)")
        print("0 passed, 0 failed")
        return 0
    if not (shutil.which("dovecot") or os.path.exists("/usr/sbin/dovecot")):
        report(False, "Dovecot auth interop needs dovecot-core (scripts/deps.sh TEST list)")
        return TAP.finish()
    box = None
    dove = None
    try:
        box = ts.Sandbox(prefix="tegami-dovecot-auth", extra=[
            "smtpd_auth_enable=yes", "smtpd_auth_allow_plaintext_loopback=yes",
            "auth_failure_delay=0", "auth_failure_limit=3", "auth_backend=dovecot",
            "auth_dovecot_timeout=2s",
            "auth_mechanisms=SCRAM-SHA-256 PLAIN LOGIN CRAM-MD5"])
        dove = Dovecot(os.path.join(box.dir, "dovecot"), box.port)
        conf = open(box.conf).read()
        open(box.conf, "w").write(conf + "auth_dovecot_socket = %s\n" % dove.sock)
        up = dove.start()
        report(up, "Dovecot (a separate instance) listens on its auth socket", dove.log())
        started = box.start()
        report(started, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up and started:
            for fn in (wrong_password_is_535, unknown_user_is_535, malformed_base64_is_501,
                       star_cancels, mechanism_dovecot_lacks_is_504, throttle_still_applies,
                       nologin_is_535, temporary_failure_is_454_and_not_counted,
                       ehlo_lists_configured_mechanisms, plain_login, local_address_reaches_dovecot,
                       plain_empty_initial_response, scram_through_dovecot,
                       dovecot_down_restarted, stalled_handshake_is_454, password_not_logged):
                try:
                    fn(box, dove)
                except Exception:  # noqa: BLE001 - any exception is a failed check
                    report(False, fn.__name__, traceback.format_exc() + "\n" + box.tail())
        report(box.stop(), "the suite stops cleanly", box.tail())
    finally:
        if box:
            box.stop()
        if dove:
            dove.stop()
        if box and not os.environ.get("TEGAMI_KEEP"):
            box.remove()
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
