"""tegami_sandbox.py - helpers for the interop and crash tests: run the real suite
(tegami-master -f and the daemons it starts) in a temporary directory on a free loopback
port, and read what local delivery wrote into the sandbox's mbox.

Used by the interop suites (tests/interop/*_test.py), tests/interop/swaks.sh (command
line: freeport, user, extract) and tests/crash/crash.py. Every wait is bounded. For the
suites also: Tap (the "ok - ..." / "not ok - ..." lines and the "N passed, N failed" end),
run_suite (one sandbox started, the cases run, the sandbox stopped and removed) and
Dnsmasq (dnsmasq-base on 127.0.0.1 with the suite's records).

Command line:
  tegami_sandbox.py freeport               a loopback port that was free a moment ago
  tegami_sandbox.py user                   the local user test mail goes to
  tegami_sandbox.py extract MBOX TOKEN     the one message holding TOKEN, without its
                                           From_ line and trace headers (exit 1 if not
                                           exactly one)
"""

import os
import pwd
import random
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback


_GIVEN_PORTS = set()


def free_port():
    """A loopback port free now, chosen at random below the kernel's ephemeral range and
    never one handed out before by this process: bind(0) may give the same port to two
    calls in a row, and its ports are ephemeral ones, which any client socket may take as
    its source port before the sandbox binds them."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        port = random.randrange(10000, max(low, 10101))
        if port in _GIVEN_PORTS:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            _GIVEN_PORTS.add(port)
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise SystemExit("no free loopback port")


def ensure_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=False, timeout=30)


def mail_user():
    """The invoking user, or tgtest1 when run as root (mail for uid 0 is refused)."""
    if os.geteuid() == 0:
        ensure_user("tgtest1")
        return "tgtest1"
    return pwd.getpwuid(os.geteuid()).pw_name


def wait_for(cond, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def mbox_entries(data):
    """Splits mbox bytes into messages: each starts with "From " at the start of the file
    or after an empty line."""
    if not data:
        return []
    if not data.startswith(b"From "):
        return [data]  # not an mbox at all: one malformed entry
    out, start = [], 0
    pos = data.find(b"\n\nFrom ")
    while pos != -1:
        out.append(data[start:pos + 2])
        start = pos + 2
        pos = data.find(b"\n\nFrom ", pos + 1)
    out.append(data[start:])
    return out


def strip_trace(entry):
    """The message as the client sent it: without the From_ line and the Return-Path,
    Delivered-To and Received headers (with their continuation lines) that delivery and
    smtpd put on top."""
    lines = entry.split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    i = 0
    trace = (b"Return-Path:", b"Delivered-To:", b"Received:")
    while i < len(lines) and lines[i].startswith(trace):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


class Tap:
    """Test lines as tests/lib/tap.sh prints them: "ok - NAME" or "not ok - NAME" with the
    last detail_lines lines of the detail as "#   " comments; finish() prints
    "N passed, N failed" and returns the exit status (1 on any failure)."""

    def __init__(self, detail_lines=25):
        self.passed = 0
        self.failed = 0
        self.detail_lines = detail_lines

    def ok(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            print("ok - " + name)
        else:
            self.failed += 1
            print("not ok - " + name)
            if detail:
                for line in str(detail).splitlines()[-self.detail_lines:]:
                    print("#   " + line)
        sys.stdout.flush()
        return bool(cond)

    def case(self, fn, *args, tail=None):
        """Runs fn(*args), one check function; an exception is a failure with its
        traceback (and tail(), the log's last lines, when given)."""
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            self.ok(False, fn.__name__.replace("_", " "),
                    traceback.format_exc() + ("\n" + tail() if tail else ""))
        return fn

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


def run_suite(box, tap, cases, tail_lines=30):
    """Starts box, reports that it greets, runs each case (tap.case), shows the last
    tail_lines log lines after a failure, reports that SIGTERM stops it, then stops and
    removes it whatever happened. Returns tap.finish()."""
    try:
        try:
            up = box.start()
        except RuntimeError as e:
            up = False
            print("# " + str(e))
        tap.ok(up, "suite greets on 127.0.0.1:%d" % box.port, box.tail())
        if up:
            for fn in cases:
                tap.case(fn)
            if tap.failed:
                print("# last lines of the log:\n" +
                      "\n".join("#   " + line for line in box.tail(tail_lines).splitlines()))
        tap.ok(box.stop(), "SIGTERM stops the suite")
    finally:
        box.stop()
        box.remove()
    return tap.finish()


def keep_or_remove(box, tap, *dirs):
    """After a suite: removes the sandbox and the given work directories when every check
    passed, else keeps them and says where they are."""
    if not tap.failed:
        box.remove()
        for d in dirs:
            subprocess.run(["rm", "-rf", d], check=False, timeout=60)
    else:
        print("# kept %s" % " and ".join([box.dir] + list(dirs)))


class ThreadedServer:
    """A test server on a listening socket (bound by the caller): one thread accepts,
    each connection is served by session(conn) in a thread of its own; accepted() is
    called under no lock before that. stop() closes the socket and joins, bounded."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def accepted(self):
        pass

    def session(self, conn):
        raise NotImplementedError

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted()
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)


class Dnsmasq:
    """dnsmasq (Debian's dnsmasq-base) on 127.0.0.1 at a free port, authoritative for
    example (and whatever conf_lines add), answering from records (dnsmasq.conf lines),
    logging its queries into workdir/dnsmasq.log. stop() always."""

    def __init__(self, workdir, records, conf_lines=()):
        self.port = free_port()
        self.dir = workdir
        conf = os.path.join(workdir, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
                    "local=/example/\n" % self.port)
            for line in conf_lines:
                f.write(line + "\n")
            f.write("log-queries\n")
            f.write(records)
        self.pidfile = os.path.join(workdir, "dnsmasq.pid")
        subprocess.run(["dnsmasq", "-C", conf, "--pid-file=" + self.pidfile,
                        "--log-facility=" + os.path.join(workdir, "dnsmasq.log")],
                       check=True, timeout=10)

    def stop(self):
        try:
            with open(self.pidfile) as f:
                os.kill(int(f.read().strip()), 15)
        except (OSError, ValueError):
            pass


class SmtpLines:
    """A line-level SMTP client for the tests that need exact replies and timing: over
    TCP to 127.0.0.1:port (from a chosen 127.0.0.x source address), or over a Unix
    socket (the MSP's). Replies are (code, text); a closed connection reads as -1."""

    def __init__(self, port=None, source=None, unix=None):
        if unix:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(20)
            self.s.connect(unix)
        else:
            self.s = socket.create_connection(
                ("127.0.0.1", port), timeout=20,
                source_address=(source, 0) if source else None)
        self.f = self.s.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return (-1, "\n".join(lines))
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return (int(line[:3]), "\n".join(lines))

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def timed(self, line):
        t = time.monotonic()
        r = self.cmd(line)
        return r, time.monotonic() - t

    def closed(self):
        try:
            self.s.settimeout(5)
            return self.s.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.s.close()


class Sandbox:
    """The suite in a temporary directory; start() then stop() (always)."""

    def __init__(self, prefix="tegami-py", extra=(), aliases=None):
        self.bin = os.environ.get("TEGAMI_BIN") or os.path.join(os.getcwd(), "build/bin")
        self.src = os.environ.get("TEGAMI_SRC") or os.getcwd()
        self.user = mail_user()
        if os.geteuid() == 0:
            subprocess.run(["sh", os.path.join(self.src, "scripts/accounts.sh")], check=False,
                           timeout=60, stdout=subprocess.DEVNULL)
        self.dir = tempfile.mkdtemp(prefix=prefix + ".", dir="/tmp")
        os.chmod(self.dir, 0o755)  # the daemons' user traverses it when run as root
        self.port = free_port()
        self.extra = list(extra)
        self.proc = None
        with open(os.path.join(self.dir, "aliases"), "w") as f:
            f.write(aliases if aliases is not None else "postmaster: %s\n" % self.user)
        subprocess.run(["sh", os.path.join(self.src, "scripts/mkconf.sh"), self.dir,
                        str(self.port), self.bin] + self.extra,
                       check=True, timeout=30, stdout=subprocess.DEVNULL)
        self.conf = os.path.join(self.dir, "tegami.conf")
        self.mbox = os.path.join(self.dir, "mail", self.user)
        self.log_path = os.path.join(self.dir, "master.log")

    def start(self, timeout=10):
        """Starts master in its own process group; True once the MTA port greets."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "tegami-master"), "-c", self.conf, "-f"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        return self.wait_greeting(timeout)

    def wait_greeting(self, timeout=10):
        def greets():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("tegami-master exited:\n" + self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(2)
                    ok = s.recv(512).startswith(b"220")
                    s.sendall(b"QUIT\r\n")
                    return ok
            except OSError:
                return False
        return wait_for(greets, timeout, 0.1)

    def smtp(self, local_hostname="client.example.org"):
        """A Python smtplib client connected to the MTA port, after EHLO."""
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname=local_hostname, timeout=20)
        s.ehlo()
        return s

    def log(self):
        return read_bytes(self.log_path).decode("utf-8", "replace")

    def tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def messages(self):
        return mbox_entries(read_bytes(self.mbox))

    def children(self):
        """{name: pid} of master's children (tegami-smtpd, tegami-queue, tegami-local)."""
        out = {}
        if self.proc is None:
            return out
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode("utf-8", "replace")
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            if ppid == self.proc.pid:
                out[os.path.basename(argv0).replace("tegami-", "")] = int(pid)
        return out

    def kill_tree(self):
        """SIGKILL to master and everything in its process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def stop(self, timeout=15):
        """SIGTERM and a bounded wait; SIGKILL to the process group as a fallback.
        Returns True if master stopped on its own."""
        if self.proc is None:
            return True
        clean = False
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
            clean = True
        except subprocess.TimeoutExpired:
            pass
        pid = self.proc.pid
        try:
            os.killpg(pid, signal.SIGKILL)  # leftovers in master's group
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        return clean

    def remove(self):
        if not os.environ.get("TEGAMI_KEEP"):
            subprocess.run(["rm", "-rf", self.dir], check=False, timeout=60)


def main(argv):
    if len(argv) == 2 and argv[1] == "freeport":
        print(free_port())
        return 0
    if len(argv) == 2 and argv[1] == "user":
        print(mail_user())
        return 0
    if len(argv) == 4 and argv[1] == "extract":
        token = argv[3].encode()
        found = [e for e in mbox_entries(read_bytes(argv[2])) if token in e]
        if len(found) != 1:
            sys.stderr.write("%d messages hold %s\n" % (len(found), argv[3]))
            return 1
        sys.stdout.buffer.write(strip_trace(found[0]))
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
