"""remote_test.py - remote delivery against real servers on loopback, all started here:
dnsmasq (Debian's dnsmasq-base) on 127.0.0.1 serving MX, A, AAAA and null-MX records for
test domains under .example, pointing at 127.0.0.x and ::1; Postfix's smtp-sink (from
Debian's postfix package, extracted with dpkg -x, never installed) as the receiving MX,
made to refuse at a stage or to withhold PIPELINING/8BITMIME/ESMTP; and the Tegami suite
in a sandbox whose remote agent asks that DNS server (dns_resolver) and connects to the
sinks' port (smtp_port). One domain (dnsfail.example) dnsmasq forwards to a small
in-process server that answers SERVFAIL (a temporary DNS failure).

Mail for other domains cannot be submitted over SMTP until relay control lands (smtpd
refuses it with 550 5.7.1), so this test hands messages to the queue the way smtpd does:
one SubmitMsg frame on the queue's Unix socket (test-only path; same uid, SO_PEERCRED).
Bounces go to a local sender and are read from its mbox and parsed with Python's email
package. Every wait is bounded; intervals are seconds, never minutes.

Env: TEGAMI_BIN, TEGAMI_SRC, REMOTE_PF_DIR (a directory with usr/sbin/smtp-sink from the
postfix package; fetched with apt-get download when missing).
"""

import email
import email.policy
import glob
import os
import re
import random
import socket
import struct
import subprocess
import sys
import threading
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=30)
ok = TAP.ok


# --- IPC: one SubmitMsg frame (lib/ipc/wire.hpp, lib/ipc/messages.cpp) ---------------

MAGIC = 0x54474d49


def wire_version():
    """kVersion of lib/ipc/wire.hpp, read from the source the suite was built from."""
    src = os.environ.get("TEGAMI_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(src, "lib", "ipc", "wire.hpp")) as f:
        m = re.search(r"constexpr uint16_t kVersion = (\d+);", f.read())
    if not m:
        raise SystemExit("remote_test: no kVersion in lib/ipc/wire.hpp")
    return int(m.group(1))


VERSION = wire_version()
T_SUBMIT = 10
T_SUBMIT_RESULT = 11
QID_DIGITS = "0123456789ABCDEFGHJKLMNPQRSTVWXY"


def f_str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("=I", len(b)) + b


def f_strs(v):
    return struct.pack("=I", len(v)) + b"".join(f_str(s) for s in v)


def new_qid():
    return "".join(random.choice(QID_DIGITS) for _ in range(16))


def submit(sock_path, sender, rcpts, body, flags=0, dsn=None):
    """Queues one message as smtpd would; returns (status, text, queue_id). As root, the
    frame is sent by a child running as the daemons' user (the queue checks SO_PEERCRED)."""
    if os.geteuid() == 0:
        import json
        import pwd
        pw = pwd.getpwnam("tegami-smtpd")  # the queue admits smtpd's account only
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(rfd)
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                res = submit_frame(sock_path, sender, rcpts, body, flags, dsn)
                os.write(wfd, json.dumps(res).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(wfd)
        data = b""
        while True:
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            data += chunk
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("submit child failed")
        st, text, qid = json.loads(data)
        return st, text, qid
    return submit_frame(sock_path, sender, rcpts, body, flags, dsn)


def submit_frame(sock_path, sender, rcpts, body, flags=0, dsn=None):
    """dsn: None, or (envid, [notify bits per recipient], [ORCPT "type;addr" per recipient])."""
    qid = new_qid()
    envid, notify, orcpts = dsn if dsn else ("", [], [])
    payload = (struct.pack("=Q", 1) + f_str(qid) + f_str(sender) + f_strs(rcpts) +
               f_strs(rcpts) + f_str("127.0.0.1") + f_str("localhost") +
               f_str("test.example") + f_str("ESMTP") + struct.pack("=I", flags) +
               f_str(envid) + struct.pack("=I", len(notify)) +
               b"".join(struct.pack("=I", n) for n in notify) + f_strs(orcpts) + f_str(body))
    frame = struct.pack("=IHHII", MAGIC, VERSION, T_SUBMIT, len(payload), 0) + payload
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    s.sendall(frame)
    hdr = b""
    while len(hdr) < 16:
        chunk = s.recv(16 - len(hdr))
        if not chunk:
            raise RuntimeError("queue closed the socket")
        hdr += chunk
    magic, ver, typ, length, nfds = struct.unpack("=IHHII", hdr)
    data = b""
    while len(data) < length:
        chunk = s.recv(length - len(data))
        if not chunk:
            raise RuntimeError("short frame")
        data += chunk
    s.close()
    (status,) = struct.unpack_from("=I", data, 8)
    off = 12
    (n,) = struct.unpack_from("=I", data, off)
    off += 4 + n
    (n,) = struct.unpack_from("=I", data, off)
    text = data[off + 4:off + 4 + n].decode()
    return status, text, qid


# --- the servers ---------------------------------------------------------------------

def postfix_dir():
    d = os.environ.get("REMOTE_PF_DIR") or "/tmp/tegami-remote-test-pf"
    if os.path.exists(os.path.join(d, "usr/sbin/smtp-sink")):
        return d
    os.makedirs(d, exist_ok=True)
    subprocess.run(["apt-get", "-q", "download", "postfix"], cwd=d, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    deb = glob.glob(os.path.join(d, "postfix_*.deb"))[0]
    subprocess.run(["dpkg", "-x", deb, d], check=True, timeout=120)
    return d


class ServFail:
    """A DNS server on 127.0.0.1 that answers every query with SERVFAIL (dnsmasq forwards
    one test domain to it: a temporary DNS failure)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            i = 12  # the question: labels, then type and class
            while i < len(data) and data[i] != 0:
                i += data[i] + 1
            q = data[12:i + 5]
            hdr = data[:2] + bytes([0x80 | (data[2] & 0x79), 0x82]) + b"\0\1\0\0\0\0\0\0"
            try:
                self.sock.sendto(hdr + q, peer)
            except OSError:
                return

    def stop(self):
        self.sock.close()


class Sink:
    """smtp-sink on addr:port; each accepted message dumped to a file in self.dump."""

    def __init__(self, pf, workdir, addr, port, opts=()):
        self.dump = tempfile.mkdtemp(prefix="sink.", dir=workdir)
        os.chmod(self.dump, 0o777)
        listen = "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)
        argv = [os.path.join(pf, "usr/sbin/smtp-sink"), "-c", "-d",
                os.path.join(self.dump, "%Y%m%d%H%M%S.")] + list(opts) + [listen, "20"]
        if os.geteuid() == 0:
            argv[1:1] = ["-u", "nobody"]
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(pf, "usr/lib/postfix"))
        self.log = open(os.path.join(workdir, "sink-%s-%d.log" % (addr, port)), "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET

        def up():
            try:
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect((addr, port))
                    return True
            except OSError:
                return False
        ts.wait_for(up, 5)

    def messages(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dump, "*"))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def dsns(box, token):
    """The DSNs in the sandbox mbox about the message holding token, parsed."""
    out = []
    for e in box.messages():
        if token.encode() not in e:
            continue
        raw = ts.strip_trace(e)
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        if msg.get_content_type() == "multipart/report":
            out.append(msg)
    return out


def status_fields(dsn):
    """[(Final-Recipient, Action, Status, Diagnostic-Code)] of a multipart/report."""
    out = []
    for part in dsn.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for b in blocks[1:]:
            out.append((b.get("Final-Recipient", ""), b.get("Action", ""), b.get("Status", ""),
                        b.get("Diagnostic-Code", "")))
    return out


def main():
    pf = postfix_dir()
    work = tempfile.mkdtemp(prefix="tegami-remote.", dir="/tmp")
    os.chmod(work, 0o755)
    sink_port = ts.free_port()
    records = "\n".join([
        "mx-host=good.example,mx1.good.example,10",
        "host-record=mx1.good.example,127.0.0.2",
        # the first MX refuses connections; the second (IPv6 only) takes the mail
        "mx-host=fallback.example,dead.fallback.example,10",
        "mx-host=fallback.example,v6.fallback.example,20",
        "host-record=dead.fallback.example,127.0.0.9",
        "host-record=v6.fallback.example,::1",
        "host-record=implicit.example,127.0.0.3",
        "dns-rr=nullmx.example,15,000000",
        "mx-host=reject.example,mx.reject.example,10",
        "host-record=mx.reject.example,127.0.0.4",
        "mx-host=soft.example,mx.soft.example,10",
        "host-record=mx.soft.example,127.0.0.5",
        "mx-host=secure.example,mx1.good.example,10",
        "mx-host=slow.example,mx.slow.example,10",
        "host-record=mx.slow.example,127.0.0.8",
        "mx-host=old.example,mx.old.example,10",
        "host-record=mx.old.example,127.0.0.6",
        "",
    ])
    servfail = ServFail()
    records += "server=/dnsfail.example/127.0.0.1#%d\n" % servfail.port
    dns = ts.Dnsmasq(work, records, ["server=127.0.0.1#9"])
    sinks = {
        "good": Sink(pf, work, "127.0.0.2", sink_port),
        "v6": Sink(pf, work, "::1", sink_port),
        "implicit": Sink(pf, work, "127.0.0.3", sink_port),
        "reject": Sink(pf, work, "127.0.0.4", sink_port, ["-f", "rcpt"]),
        "soft": Sink(pf, work, "127.0.0.5", sink_port, ["-r", "rcpt"]),
        "old": Sink(pf, work, "127.0.0.6", sink_port, ["-e", "-8"]),
        "slow": Sink(pf, work, "127.0.0.8", sink_port, ["-w", "3"]),
    }
    mailertable = os.path.join(work, "mailertable")
    with open(mailertable, "w") as f:
        f.write("# test routes\nrouted.example smtp:[127.0.0.3]\n"
                ".sub.example esmtp:[127.0.0.2]:%d\n"
                "refused.example error:5.7.1:550 no mail for refused.example\n" % sink_port)
    tls_policy = os.path.join(work, "tls_policy")
    with open(tls_policy, "w") as f:
        f.write("secure.example encrypt\n")
    os.chmod(work, 0o755)
    os.chmod(mailertable, 0o644)
    os.chmod(tls_policy, 0o644)
    alias_user = ts.mail_user()
    box = ts.Sandbox(prefix="tegami-remote", aliases=(
        "postmaster: %s\nfar: %s, Fwd1@GOOD.example, Fwd1@good.example\n" % (
            alias_user, alias_user)), extra=[
        "mailertable=text:" + mailertable,
        "smtp_tls_policy=text:" + tls_policy,
        "dns_resolver=127.0.0.1@%d" % dns.port,
        "smtp_port=%d" % sink_port,
        "queue_retry_min=1s", "queue_retry_max=1s", "queue_lifetime=4s",
        "delay_warning_time=2s", "smtp_destination_concurrency_limit=2",
        "smtp_connect_timeout=5s",
    ])
    user = box.user
    sender = "%s@localhost" % user
    qsock = os.path.join(box.dir, "sock", "queue.sock")
    try:
        ok(box.start(), "the suite starts with tegami-remote", box.tail())
        ok("remote" in box.children(), "master runs tegami-remote", box.children())

        def send(rcpts, token, extra_body=b"", flags=0, dsn=None):
            body = (b"From: <" + sender.encode() + b">\r\nSubject: " + token.encode() +
                    b"\r\nMessage-ID: <" + token.encode() + b"@test>\r\n\r\nbody " +
                    token.encode() + b"\r\n" + extra_body)
            st, text, qid = submit(qsock, sender, rcpts, body, flags, dsn)
            return st, text, qid, body

        def delivered(sink, token, timeout=15):
            found = []

            def cond():
                found[:] = [m for m in sink.messages() if token.encode() in m]
                return bool(found)
            ts.wait_for(cond, timeout)
            return found

        # 1. MX lookup, delivery; a bare LF and a leading dot in the body
        st, text, qid, body = send(["u1@good.example"], "T1good",
                                   b".leading dot\r\nbare\nlf\r\n")
        ok(st == 2, "the queue takes a message for good.example", text)
        got = delivered(sinks["good"], "T1good")
        ok(len(got) == 1, "delivered to the MX host of good.example", box.tail())
        if got:
            m = got[0]
            ok(b"X-Rcpt-Args: <u1@good.example>" in m, "the envelope recipient arrives", m)
            ok(b"\n.leading dot\nbare\nlf\n" in m,
               "the body arrives unstuffed, the bare LF as a line ending", m)

        # 1b. A large clean body (the zero-copy path: views into the mapped body, split at
        # each line that starts with a dot) arrives whole and unstuffed.
        big = b"".join(b"%s%06d filler line of the large body\r\n" %
                       (b"." if i % 29 == 0 else b"", i) for i in range(3000))
        st, text, qid, body = send(["u1b@good.example"], "T1bbig", big)
        want = big.replace(b"\r\n", b"\n")
        got = []

        def whole():  # the sink writes its dump as the data arrives: wait for all of it
            got[:] = [m for m in sinks["good"].messages() if b"T1bbig" in m]
            return len(got) == 1 and want in got[0]
        ts.wait_for(whole, 15)
        ok(st == 2 and len(got) == 1 and want in got[0],
           "a %d-byte body with dot lines arrives whole and unstuffed" % len(body),
           box.tail() if not got else got[0][:300])

        # 1c. Past smtp_destination_recipient_limit (50): 120 recipients for one next hop
        # go as three transactions (50, 50, 20), each recipient in exactly one of them.
        many = ["split%03d@good.example" % k for k in range(120)]
        st, text, qid, body = send(many, "T1csplit")
        got = []

        def all_split():
            got[:] = [m for m in sinks["good"].messages() if b"T1csplit" in m]
            return sum(m.count(b"X-Rcpt-Args: <split") for m in got) >= 120
        ts.wait_for(all_split, 20)
        seen = [a.decode() for m in got for a in re.findall(rb"X-Rcpt-Args: <(split[^>]*)>", m)]
        sizes = sorted(len(re.findall(rb"X-Rcpt-Args: <split", m)) for m in got)
        ok(st == 2 and sizes == [20, 50, 50],
           "120 recipients to one next hop: 3 transactions of at most 50 (%s)" % sizes,
           box.tail())
        ok(sorted(seen) == sorted(many), "every one of the 120 recipients arrives exactly once",
           "%d seen, %d distinct" % (len(seen), len(set(seen))))
        sent = set(re.findall(r"to=<(split\d+@good\.example)>.*status=sent", box.log()))
        ts.wait_for(lambda: len(set(re.findall(r"to=<(split\d+@good\.example)>.*status=sent",
                                               box.log()))) == 120, 5)
        sent = set(re.findall(r"to=<(split\d+@good\.example)>.*status=sent", box.log()))
        ok(len(sent) == 120, "the queue logs status=sent for each of the 120 (%d)" % len(sent),
           box.tail())
        ok(ts.wait_for(lambda: "relay=mx1.good.example[127.0.0.2]:%d" % sink_port in box.log()
                       and "status=sent" in box.log(), 5),
           "log line: relay=host[addr]:port, status=sent", box.tail())

        # 2. two MX hosts: the first refuses the connection, the second (IPv6) takes it
        send(["u2@fallback.example"], "T2fallback")
        got = delivered(sinks["v6"], "T2fallback")
        ok(len(got) == 1, "the next MX host is tried after a refused connection (IPv6)",
           box.tail())

        # 3. no MX: the A record (implicit MX)
        send(["u3@implicit.example"], "T3implicit")
        ok(len(delivered(sinks["implicit"], "T3implicit")) == 1, "implicit MX (A record)",
           box.tail())

        # 4. one message, recipients in two domains plus a 5xx: one DSN for the failure
        send(["a@good.example", "b@implicit.example", "c@reject.example"], "T4multi")
        ok(len(delivered(sinks["good"], "T4multi")) == 1 and
           len(delivered(sinks["implicit"], "T4multi")) == 1,
           "one message to two domains reaches both", box.tail())
        ds = []
        ts.wait_for(lambda: bool(ds.extend(dsns(box, "T4multi")) or ds), 15)
        ok(len(ds) == 1, "one DSN for the refused recipient", box.tail())
        if ds:
            f = status_fields(ds[0])
            ok(len(f) == 1 and "c@reject.example" in f[0][0] and f[0][1] == "failed" and
               f[0][2].startswith("5."), "DSN: Final-Recipient, Action failed, Status 5.x.x", f)
            ok(any(x[3].startswith("smtp; 500 5.3.0") for x in f) and
               "Remote-MTA: dns; mx.reject.example" in str(ds[0]),
               "DSN: Remote-MTA and the remote reply as an smtp Diagnostic-Code", str(ds[0]))

        # 5. null MX and NXDOMAIN fail at once
        send(["n@nullmx.example"], "T5nullmx")
        send(["x@nxdomain.example"], "T5nxdomain")
        d1, d2 = [], []
        ts.wait_for(lambda: bool(d1.extend(dsns(box, "T5nullmx")) or d1) and
                    bool(d2.extend(dsns(box, "T5nxdomain")) or d2), 10)
        ok(d1 and any(x[2] == "5.1.10" for x in status_fields(d1[0])),
           "null MX bounces with 5.1.10", box.tail())
        ok(d2 and any(x[2] == "5.1.2" for x in status_fields(d2[0])),
           "NXDOMAIN bounces with 5.1.2", box.tail())

        # 6. 4xx at RCPT: deferred, retried, failed after the queue lifetime
        send(["s@soft.example"], "T6soft")
        ok(ts.wait_for(lambda: "to=<s@soft.example>" in box.log() and
                       "status=deferred" in box.log(), 10), "4xx defers", box.tail())
        d6 = []

        def failed_report():
            d6[:] = [d for d in dsns(box, "T6soft")
                     if any(x[1] == "failed" for x in status_fields(d))]
            return bool(d6)
        ts.wait_for(failed_report, 20)
        warn = [d for d in dsns(box, "T6soft") if any(x[1] == "delayed" for x in status_fields(d))]
        ok(len(warn) == 1 and "Delayed Mail" in warn[0].get("Subject", ""),
           "one delay warning (Action: delayed) after delay_warning_time", box.tail())
        if warn:
            f = status_fields(warn[0])
            ok(f[0][2].startswith("4.") and "mx.soft.example" in
               str(warn[0]).split("Remote-MTA:")[1].split("\n")[0] if "Remote-MTA:" in str(warn[0])
               else False, "the warning names the remote MTA and a 4.x.x status", str(warn[0]))
        ok(d6 and any(x[2].startswith("4.") or "expired" in x[3] for x in status_fields(d6[0])),
           "after queue_lifetime the deferred recipient bounces", box.tail())
        attempts = box.log().count("to=<s@soft.example>")
        ok(attempts >= 2, "the deferred recipient was retried (%d attempts)" % attempts)

        # 6b. a temporary DNS failure (dnsfail.example is forwarded by dnsmasq to a port where
        # nothing answers: SERVFAIL) defers with 4.4.3; it does not bounce at once
        send(["t@dnsfail.example"], "T6bdns")
        pat = r"to=<t@dnsfail\.example>, .*dsn=4\.4\.3, status=deferred \(DNS lookup of MX for " \
              r"dnsfail\.example failed, try again"
        ok(ts.wait_for(lambda: re.search(pat, box.log()) is not None, 20),
           "a temporary DNS failure defers with 4.4.3", box.tail())
        first = re.search(r"to=<t@dnsfail\.example>, .*status=(\w+)", box.log())
        ok(first is not None and first.group(1) == "deferred",
           "the temporary DNS failure is not a bounce (the first outcome is deferred)",
           box.tail())

        # 6c. the log lines carry relay=host[addr]:port, delay=, delays=a/b/c/d, dsn= and
        # status= with the remote reply, for sent, deferred and bounced recipients
        num = r"[0-9.]+(?:e[+-]?[0-9]+)?"
        fields = r", relay=%s\[%s\]:%d, delay=" + num + r", delays=" + "/".join([num] * 4) + \
                 r", dsn=%s, status=%s \(%s"
        for rcpt, host, addr, dsn, status, reply in [
                ("u1@good.example", "mx1.good.example", "127.0.0.2", r"2\.0\.0", "sent",
                 r".* said: 250 "),
                ("s@soft.example", "mx.soft.example", "127.0.0.5", r"4\.\d+\.\d+", "deferred",
                 r".* said: 4\d\d "),
                ("c@reject.example", "mx.reject.example", "127.0.0.4", r"5\.\d+\.\d+", "bounced",
                 r".* said: 5\d\d ")]:
            line = r"to=<%s>" % re.escape(rcpt) + fields % (
                re.escape(host), re.escape(addr), sink_port, dsn, status, reply)
            ok(re.search(line, box.log()) is not None,
               "log line fields for status=%s: relay=, delay=, delays=, dsn=, reply" % status,
               [x for x in box.log().splitlines() if rcpt in x][-3:])

        # 6d. the bounce of a bounce: a remote sender whose bounce is refused too; the
        # failed bounce goes to the postmaster (a local mailbox here) and is logged
        st, text, _ = submit(qsock, "s@reject.example", ["b@reject.example"],
                             b"From: <s@reject.example>\r\nSubject: T6dbb\r\n"
                             b"Message-ID: <T6dbb@test>\r\n\r\nbody T6dbb\r\n")
        ok(st == 2, "queued from a remote sender whose domain refuses mail", text)
        pm = []

        def to_postmaster():
            pm[:] = [d for d in dsns(box, "s@reject.example")
                     if "postmaster@" in d.get("To", "") and
                     any("s@reject.example" in x[0] and x[1] == "failed"
                         for x in status_fields(d))]
            return bool(pm)
        ok(ts.wait_for(to_postmaster, 20),
           "a refused bounce goes to the postmaster as a report (Final-Recipient the "
           "remote sender, Action failed)", box.tail())
        ok(re.search(r"to=<s@reject\.example>, .*status=bounced", box.log()) is not None,
           "the refused bounce to the remote sender is logged as bounced", box.tail())
        ok(len(pm) == 1, "the postmaster gets exactly one report (%d); no bounce loop" % len(pm))

        # 7. an 8-bit message to a server without 8BITMIME (nor EHLO): a clear bounce
        send(["o@old.example"], "T7old", "caf\u00e9\r\n".encode(), flags=1)
        send(["p@old.example"], "T7plain")
        d7 = []
        ts.wait_for(lambda: bool(d7.extend(dsns(box, "T7old")) or d7), 10)
        ok(d7 and any(x[2] == "5.6.3" for x in status_fields(d7[0])),
           "8-bit content to a peer without 8BITMIME bounces with 5.6.3", box.tail())
        ok(len(delivered(sinks["old"], "T7plain")) == 1,
           "a 7-bit message goes to a HELO-only peer", box.tail())
        mail_args = [m for m in sinks["old"].messages() if b"T7plain" in m]
        ok(mail_args and b"X-Mail-Args: <" + sender.encode() + b">\n" in mail_args[0],
           "no ESMTP parameters to a HELO-only peer", mail_args)

        # 8. mailertable: a route to a bracketed host, subdomains, an error route
        send(["m@routed.example", "k@a.sub.example", "r@refused.example"], "T8mailertable")
        ok(len(delivered(sinks["implicit"], "T8mailertable")) == 1,
           "mailertable smtp:[host] routes a domain without DNS", box.tail())
        ok(len(delivered(sinks["good"], "T8mailertable")) == 1,
           "mailertable .domain routes its subdomains", box.tail())
        d8 = []
        ts.wait_for(lambda: bool(d8.extend(dsns(box, "T8mailertable")) or d8), 10)
        f8 = status_fields(d8[0]) if d8 else []
        ok(len(f8) == 1 and f8[0][2] == "5.7.1" and "refused.example" in f8[0][0],
           "mailertable error: bounces with its code", f8)

        # 8b. a TLS policy requiring encryption, to a server without STARTTLS: deferred
        send(["t@secure.example"], "T8tls")
        ok(ts.wait_for(lambda: "to=<t@secure.example>" in box.log() and
                       "dsn=4.7.4, status=deferred" in box.log(), 10),
           "smtp_tls_policy encrypt without STARTTLS defers with 4.7.4", box.tail())
        ok(not delivered(sinks["good"], "T8tls", 1), "nothing is sent in the clear")

        # 11. an alias with a local user and an address elsewhere: the local copy, and the
        # address added to the envelope by the queue and sent to good.example's MX, once
        send(["far@localhost"], "T11alias")
        got = delivered(sinks["good"], "T11alias")
        ok(len(got) == 1 and b"X-Rcpt-Args: <Fwd1@good.example>" in got[0],
           "an alias's remote address is handed to the remote agent, once", box.tail())
        ok(ts.wait_for(lambda: sum(1 for m in box.messages() if b"T11alias" in m) == 1, 10),
           "the alias's local user got its one copy", box.tail())
        ok("<far@localhost> expanded to <Fwd1@good.example>" in box.log(),
           "the expansion is logged by the queue", box.tail())

        # 10. a slow destination holds up only its own mail: 2 at a time to slow.example
        # (3 s each before the DATA reply), while good.example gets its message at once
        t0 = time.monotonic()
        for i in range(4):
            send(["w%d@slow.example" % i], "T10slow%d" % i)
        send(["q@good.example"], "T10fast")
        ok(len(delivered(sinks["good"], "T10fast", 5)) == 1 and time.monotonic() - t0 < 2.5,
           "a message to another domain is not held up by a slow one (%.1fs)" %
           (time.monotonic() - t0), box.tail())
        slow_now = sum(1 for m in sinks["slow"].messages() if b"T10slow" in m)
        ok(slow_now == 0, "the slow destination is still busy meanwhile (%d done)" % slow_now)
        ts.wait_for(lambda: sum(1 for m in sinks["slow"].messages() if b"T10slow" in m) == 4, 15)
        took = time.monotonic() - t0
        done = sum(1 for m in sinks["slow"].messages() if b"T10slow" in m)
        ok(done == 4 and took >= 5.5,
           "all 4 reach the slow destination, at most 2 at a time (%d in %.1fs)" % (done, took),
           box.tail())

        # 11. DSN passed on: a peer offering DSN gets RET/ENVID on MAIL and NOTIFY/ORCPT on
        # RCPT and reports success itself (no report from us); a peer without ESMTP gets
        # none of them, and NOTIFY=SUCCESS makes our report say "relayed" (RFC 3461 5.2.2).
        notify_sf = 2 | 4  # kNotifySuccess | kNotifyFailure
        send(["d1@good.example"], "T11dsn", flags=8,  # kFlagRetHdrs
             dsn=("ENV+T11", [notify_sf], ["rfc822;Orig=D1@Example.org"]))
        got = delivered(sinks["good"], "T11dsn")
        ok(len(got) == 1 and b" RET=HDRS ENVID=ENV+2BT11" in got[0] and
           b"X-Rcpt-Args: <d1@good.example> NOTIFY=SUCCESS,FAILURE "
           b"ORCPT=rfc822;Orig+3DD1@Example.org" in got[0],
           "RET, ENVID, NOTIFY and ORCPT reach a DSN peer, xtext-encoded", got[:1])
        send(["d2@old.example"], "T11relayed", dsn=("ENV-T11R", [notify_sf], [""]))
        got = delivered(sinks["old"], "T11relayed")
        ok(len(got) == 1 and b"NOTIFY" not in got[0] and b"ENVID" not in got[0],
           "a peer without ESMTP gets no DSN parameters", got[:1])
        rel = []
        ts.wait_for(lambda: bool(rel.extend(dsns(box, "T11relayed")) or rel), 15)
        f = status_fields(rel[0]) if rel else []
        ok(len(rel) == 1 and len(f) == 1 and f[0][1] == "relayed" and f[0][2].startswith("2."),
           "NOTIFY=SUCCESS to a peer without DSN: a report with Action relayed", f or box.tail())
        ok(not dsns(box, "T11dsn"), "the DSN peer reports success itself: no report from us")

        # 9. smarthost, set in the file and read again on SIGHUP
        with open(box.conf, "a") as f:
            f.write("smarthost = [127.0.0.2]:%d\n" % sink_port)
        reloads = box.log().count("queue: retry")
        os.kill(box.proc.pid, 1)
        ok(ts.wait_for(lambda: box.log().count("queue: retry") > reloads, 5),
           "the queue reloads on SIGHUP", box.tail())
        send(["h@anywhere-nx.example"], "T9smarthost")
        ok(len(delivered(sinks["good"], "T9smarthost")) == 1,
           "after SIGHUP every non-local domain goes to the smarthost", box.tail())
    finally:
        box.stop()
        for s in sinks.values():
            s.stop()
        dns.stop()
        servfail.stop()
        ts.keep_or_remove(box, TAP, work)
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
