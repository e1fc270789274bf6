"""remote_postfix_test.py - tegami-remote against a real Postfix (Debian's package,
extracted with dpkg -x, never installed as the system MTA) on 127.0.0.1, started here:

  - an MX listener offering STARTTLS (self-signed certificate): a message routed there by
    MX lookup (dnsmasq) arrives in Postfix's mailbox byte for byte, over TLS;
  - a submission listener (the OP25B smarthost) that demands STARTTLS and then AUTH
    (Cyrus SASL, sasldb, PLAIN/LOGIN) before it relays: Tegami's smarthost + authinfo
    gets the message into the mailbox behind it; a wrong password defers (4.7.8), never
    bounces;
  - an implicit-TLS listener on 127.0.0.1:465 (when free) (port 465 means TLS from the first byte):
    the same through it.

Root only (Postfix's daemons run as user postfix). Bounded waits. Env: TEGAMI_BIN,
TEGAMI_SRC, REMOTE_PF_DIR.
"""

import os
import pwd
import re
import grp
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import tegami_sandbox as ts  # noqa: E402
import remote_test as rt  # noqa: E402

PASSED = 0
FAILED = 0


def ok(cond, name, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - " + name)
    else:
        FAILED += 1
        print("not ok - " + name)
        for line in str(detail).splitlines()[-30:]:
            print("#   " + line)


def run(argv, **kw):
    return subprocess.run(argv, check=True, timeout=60, **kw)


def ensure_group(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        run(["groupadd", "--system", name])


def port_free(addr, port):
    s = socket.socket()
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Postfix:
    def __init__(self, pkg, work, ports, rcpt_user):
        self.pkg = pkg
        self.lib = os.path.join(pkg, "usr/lib/postfix")
        self.d = os.path.join(work, "postfix")
        d = self.d
        for sub in ("etc", "meta", "spool", "data", "mail", "sasl"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        run(["cp", os.path.join(pkg, "etc/postfix/postfix-files"), os.path.join(d, "meta")])
        open(os.path.join(d, "meta/dynamicmaps.cf"), "w").close()
        os.makedirs(os.path.join(d, "meta/postfix-files.d"), exist_ok=True)
        os.makedirs(os.path.join(d, "meta/dynamicmaps.cf.d"), exist_ok=True)
        pf = pwd.getpwnam("postfix")
        os.chown(os.path.join(d, "data"), pf.pw_uid, -1)
        os.chmod(os.path.join(d, "data"), 0o700)
        os.chown(os.path.join(d, "mail"), -1, grp.getgrnam("mail").gr_gid)
        os.chmod(os.path.join(d, "mail"), 0o2775)
        for p in ("usr/sbin/postqueue", "usr/sbin/postdrop"):
            os.chown(os.path.join(pkg, p), -1, grp.getgrnam("postdrop").gr_gid)
            os.chmod(os.path.join(pkg, p), 0o2755)
        # TLS: a self-signed certificate for mx.pf.example
        self.key = os.path.join(d, "etc/key.pem")
        self.cert = os.path.join(d, "etc/cert.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=mx.pf.example", "-keyout", self.key, "-out", self.cert],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # SASL: one account in a sasldb readable by postfix only
        self.sasldb = os.path.join(d, "sasl/sasldb2")
        subprocess.run(["saslpasswd2", "-c", "-p", "-f", self.sasldb, "-u", "pf.example",
                        "tguser"], input=b"s3cret-pw", check=True, timeout=30)
        os.chown(self.sasldb, pf.pw_uid, -1)
        os.chmod(self.sasldb, 0o600)
        # Debian's Postfix has Cyrus read CONFIG_DIRECTORY/sasl/smtpd.conf.
        os.makedirs(os.path.join(d, "etc/sasl"), exist_ok=True)
        with open(os.path.join(d, "etc/sasl/smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
                    "sasldb_path: %s\n" % self.sasldb)
        with open(os.path.join(d, "etc/main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
meta_directory = {d}/meta
command_directory = {pkg}/usr/sbin
daemon_directory = {lib}/sbin
shlib_directory = {lib}
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH={lib}
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
myhostname = mx.pf.example
mydomain = pf.example
mydestination = pf.example, mx.pf.example
mynetworks = 127.0.0.2/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
mail_spool_directory = {d}/mail
mailbox_size_limit = 0
biff = no
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = pf.example
""".format(d=d, pkg=pkg, lib=self.lib, cert=self.cert, key=self.key))
        sub = ("-o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes "
               "-o smtpd_client_restrictions=permit_sasl_authenticated,reject "
               "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject")
        with open(os.path.join(d, "etc/master.cf"), "w") as f:
            f.write("127.0.0.1:{mx} inet n - n - - smtpd\n"
                    "127.0.0.1:{sub} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt "
                    "{o}\n".format(mx=ports["mx"], sub=ports["sub"], o=sub))
            if ports.get("smtps"):
                f.write("127.0.0.1:465 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes "
                        "{o}\n".format(o=sub))
            f.write("""pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
local     unix  - n n -     - local
virtual   unix  - n n -     - virtual
lmtp      unix  - - n -     - lmtp
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
""")
        self.mbox = os.path.join(d, "mail", rcpt_user)

    def cmd(self, *args):
        env = dict(os.environ, LD_LIBRARY_PATH=self.lib)
        return subprocess.run([os.path.join(self.pkg, "usr/sbin/postfix"), "-c",
                               os.path.join(self.d, "etc")] + list(args), env=env,
                              capture_output=True, text=True, timeout=120)

    def log(self):
        return ts.read_bytes(os.path.join(self.d, "maillog")).decode("utf-8", "replace")

    def messages(self):
        return ts.mbox_entries(ts.read_bytes(self.mbox))


def set_key(conf, key, value):
    """Sets key in the sandbox's tegami.conf (a key may appear once)."""
    with open(conf) as f:
        lines = [ln for ln in f if not re.match(r"\s*%s\s*=" % re.escape(key), ln)]
    lines.append("%s = %s\n" % (key, value))
    with open(conf, "w") as f:
        f.writelines(lines)


def main():
    if os.geteuid() != 0:
        print("not ok - remote_postfix_test.py must run as root (Postfix's daemons run as "
              "user postfix)")
        print("0 passed, 1 failed")
        return 1
    pkg = rt.postfix_dir()
    ensure_group("postdrop")
    ensure_group("mail")
    ts.ensure_user("postfix")
    ts.ensure_user("tgpf")
    work = tempfile.mkdtemp(prefix="tegami-rpf.", dir="/tmp")
    os.chmod(work, 0o755)
    ports = {"mx": ts.free_port(), "sub": ts.free_port(),
             "smtps": port_free("127.0.0.1", 465)}
    pf = Postfix(pkg, work, ports, "tgpf")
    dns = ts.Dnsmasq(work, "mx-host=pf.example,mx.pf.example,10\n"
                           "host-record=mx.pf.example,127.0.0.1\n", ["server=127.0.0.1#9"])
    authinfo = os.path.join(work, "authinfo")
    with open(authinfo, "w") as f:
        f.write('AuthInfo:127.0.0.1 "U:tguser@pf.example" "P:s3cret-pw" "M:PLAIN"\n')
    os.chmod(authinfo, 0o644)
    tls_policy = os.path.join(work, "tls_policy")
    with open(tls_policy, "w") as f:
        f.write("# none yet\n")
    os.chmod(tls_policy, 0o644)
    box = ts.Sandbox(prefix="tegami-rpf", extra=[
        "dns_resolver=127.0.0.1@%d" % dns.port, "smtp_port=%d" % ports["mx"],
        "queue_retry_min=1s", "queue_retry_max=1s", "authinfo=text:" + authinfo,
        "smtp_tls_policy=text:" + tls_policy, "smtp_connection_reuse_time=10s"])
    qsock = os.path.join(box.dir, "sock", "queue.sock")
    sender = "%s@localhost" % box.user
    try:
        r = pf.cmd("check")
        ok(r.returncode == 0, "postfix check", r.stdout + r.stderr)
        r = pf.cmd("start")
        up = ts.wait_for(lambda: "starting the Postfix mail system" in pf.log(), 15)
        ok(r.returncode == 0 and up, "a real Postfix starts on 127.0.0.1", r.stderr + pf.log())
        time.sleep(1)
        ok(box.start(), "the suite starts", box.tail())

        def send(rcpt, token, body_extra=b""):
            body = (b"Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
                    b"From: <" + sender.encode() + b">\r\nTo: <" + rcpt.encode() +
                    b">\r\nSubject: " + token.encode() + b"\r\nMessage-ID: <" +
                    token.encode() + b"@test>\r\n\r\nline one " + token.encode() +
                    b"\r\n.dot line\r\n\r\nlast line\r\n" + body_extra)
            st, text, _ = rt.submit(qsock, sender, [rcpt], body)
            return st, body

        def landed(token, timeout=20):
            found = []

            def cond():
                found[:] = [m for m in pf.messages() if token.encode() in m]
                return bool(found)
            ts.wait_for(cond, timeout)
            return found

        # 1. MX delivery over STARTTLS, byte for byte: a body of about 180 KiB with lines
        # that start with a dot here and there (sent as views into the mapped body, in
        # 16 KiB TLS records, each dot line stuffed).
        big = b"".join(b"%s%06d filler line for the large-body path\r\n" %
                       (b"." if i % 37 == 0 else b"", i) for i in range(4000))
        st, body = send("tgpf@pf.example", "P1mx", big)
        got = landed("P1mx")
        ok(st == 2 and len(got) == 1, "MX delivery to a real Postfix", box.tail() + pf.log())
        if got:
            want = body.replace(b"\r\n", b"\n")
            # Postfix's own trace headers go on top: X-Original-To, Delivered-To, Received.
            lines = got[0].split(b"\n")[1:]  # the From_ line
            while lines and (lines[0].startswith((b"X-Original-To:", b"Delivered-To:",
                                                  b"Received:", b"Return-Path:")) or
                             lines[0][:1] in (b" ", b"\t")):
                lines.pop(0)
            arrived = b"\n".join(lines)
            ok(arrived.rstrip(b"\n") == want.rstrip(b"\n"),
               "the message (%d bytes) arrives byte for byte (below Postfix's trace headers)" %
               len(body), repr(arrived[:300]) + "\n" + repr(want[:300]))
        ok("TLS connection established from localhost[127.0.0.1]" in pf.log() and
           "with ESMTPS id" in got[0].decode("utf-8", "replace") if got else False,
           "STARTTLS was used (opportunistic): Postfix logs TLS, Received says ESMTPS", pf.log())

        # 1b. the next message to the same destination reuses the connection
        connects = pf.log().count("connect from localhost[127.0.0.1]")
        send("tgpf@pf.example", "P1reuse")
        ok(len(landed("P1reuse")) == 1, "a second message to the same MX", box.tail())
        ok(pf.log().count("connect from localhost[127.0.0.1]") == connects,
           "it went over the open connection (no new connect at Postfix)", pf.log()[-2000:])

        # 1c. a TLS policy requiring a verified certificate: the self-signed one fails
        time.sleep(1.1)
        with open(tls_policy, "w") as f:
            f.write("pf.example verify\n")
        time.sleep(1.1)
        send("tgpf@pf.example", "P1verify")
        ok(ts.wait_for(lambda: "dsn=4.7.5, status=deferred" in box.log(), 15),
           "smtp_tls_policy verify: an unverifiable certificate defers with 4.7.5", box.tail())
        with open(tls_policy, "w") as f:
            f.write("# none\n")

        # 2. the smarthost on the submission port: STARTTLS, then AUTH PLAIN
        set_key(box.conf, "smarthost", "[127.0.0.1]:%d" % ports["sub"])
        n = box.log().count("queue: retry")
        os.kill(box.proc.pid, 1)
        ts.wait_for(lambda: box.log().count("queue: retry") > n, 5)
        time.sleep(0.5)
        st, body = send("tgpf@pf.example", "P2smarthost")
        got = landed("P2smarthost")
        ok(len(got) == 1, "through the submission smarthost (STARTTLS + AUTH)",
           box.tail() + pf.log()[-3000:])
        ok("sasl_method=PLAIN, sasl_username=tguser@pf.example" in pf.log(),
           "Postfix logs the SASL login", pf.log()[-3000:])

        # 3. port 465: TLS from the first byte, AUTH LOGIN
        if ports["smtps"]:
            with open(authinfo, "w") as f:
                f.write('AuthInfo:127.0.0.1 "U:tguser@pf.example" "P:s3cret-pw" "M:LOGIN"\n')
            set_key(box.conf, "smarthost", "[127.0.0.1]:465")
            n = box.log().count("queue: retry")
            os.kill(box.proc.pid, 1)
            ts.wait_for(lambda: box.log().count("queue: retry") > n, 5)
            time.sleep(0.5)
            send("tgpf@pf.example", "P3smtps")
            ok(len(landed("P3smtps")) == 1, "through an implicit-TLS smarthost on 465 (AUTH LOGIN)",
               box.tail() + pf.log()[-3000:])
            ok("sasl_method=LOGIN" in pf.log(), "Postfix logs the LOGIN authentication")
        else:
            ok(False, "127.0.0.1:465 is free for the implicit-TLS case")

        # 4. a wrong password defers, never bounces
        with open(authinfo, "w") as f:
            f.write('AuthInfo:127.0.0.1 "U:tguser@pf.example" "P:wrong" "M:PLAIN"\n')
        set_key(box.conf, "smarthost", "[127.0.0.1]:%d" % ports["sub"])
        n = box.log().count("queue: retry")
        os.kill(box.proc.pid, 1)
        ts.wait_for(lambda: box.log().count("queue: retry") > n, 5)
        time.sleep(1.5)  # the text map is re-read when its mtime changes (checked each second)
        send("tgpf@pf.example", "P4badauth")
        ok(ts.wait_for(lambda: "dsn=4.7.8, status=deferred" in box.log(), 20),
           "refused credentials defer with 4.7.8", box.tail())
        ok(not landed("P4badauth", 1), "nothing is relayed without authentication")
    finally:
        box.stop()
        pf.cmd("stop")
        dns.stop()
        if not FAILED:
            box.remove()
            subprocess.run(["rm", "-rf", work], check=False, timeout=60)
        else:
            print("# kept %s and %s" % (box.dir, work))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
