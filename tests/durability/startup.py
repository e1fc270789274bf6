"""startup.py - start-up order and the unrecoverable store, against the real suite in a
sandbox on 127.0.0.1:
  0. Master warns at start-up about a directory whose names cannot be made durable.
  1. smtpd starts only after the queue reported ready (master's log says so, in order).
  2. A store whose newest log file was lost after a checkpoint (what a power failure did
     to a log-file switch before names were made durable): the queue logs one fatal line
     naming the file, the LSN and the recovery steps and exits 65 (EX_DATAERR); master
     gives up after 5 start-up failures in a row, says so, and starts nothing more;
     smtpd never greets meanwhile (a client that connects waits: no 220, no 421, no 451).
  3. The documented way out (move the environment aside) gives a working suite.
  4. (root) A queue that was ready and then cannot start again is given up after 5 tries
     and master stops smtpd with it (no greeting for mail that could not be queued).

Run by tests/durability/startup.sh. Env: TEGAMI_BIN, TEGAMI_SRC. Prints "ok - ..." /
"not ok - ..." lines; exit 1 on a failure. Every wait is bounded.
"""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import tegami_sandbox as ts  # noqa: E402

MESSAGES = 120
TAP = ts.Tap(detail_lines=30)
report = TAP.ok


def send(box, n):
    to = "%s@localhost" % box.user
    with smtplib.SMTP("127.0.0.1", box.port, timeout=30) as s:
        for i in range(n):
            body = "\r\n".join("startup %d line %d %s" % (i, j, "z" * 60) for j in range(50))
            s.sendmail("s@example.org", [to], "Subject: startup %d\r\n\r\n%s\r\n" % (i, body))


def start_master(box):
    log = open(box.log_path, "ab")
    box.proc = subprocess.Popen(
        [os.path.join(box.bin, "tegami-master"), "-c", box.conf, "-f"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()


def log_since(box, offset):
    return box.log()[offset:]


def greeting_within(port, seconds):
    """The first bytes a fresh connection receives within seconds (b"" if none)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(seconds)
            try:
                return s.recv(512)
            except socket.timeout:
                return b""
    except OSError as e:
        return ("connect failed: %s" % e).encode()


def unsafe_directory_is_reported():
    """0. master says at start-up when a directory mail relies on cannot be fsync'ed (here
    mail_spool_dir on /proc, which answers EINVAL)."""
    box = ts.Sandbox(prefix="tegami-startup-fs")
    with open(box.conf) as f:
        conf = [("mail_spool_dir = /proc/sys" if line.startswith("mail_spool_dir = ") else line)
                for line in f.read().splitlines()]
    with open(box.conf, "w") as f:
        f.write("\n".join(conf) + "\n")
    try:
        box.start(20)
        report("mail_spool_dir /proc/sys: this file system cannot fsync a directory" in box.log(),
               "master says at start-up that a directory cannot be made durable", box.tail())
    finally:
        box.stop()
    box.remove()


def main():
    unsafe_directory_is_reported()
    box = ts.Sandbox(prefix="tegami-startup", extra=["queue_log_file_size=262144"])
    spool = os.path.join(box.dir, "spool")
    try:
        # 1. order at start
        ok = box.start(20)
        log = box.log()
        ready = log.find("queue (pid")
        ready = log.find("ready", ready) if ready >= 0 else -1
        smtpd = log.find("started smtpd")
        report(ok and "smtpd starts once queue is ready" in log and 0 <= ready < smtpd,
               "smtpd is started only after the queue reported ready", box.tail())

        # fill a few log files, deliver, stop cleanly (checkpoint)
        send(box, MESSAGES)
        ts.wait_for(lambda: len(box.messages()) >= MESSAGES, 60, 0.5)
        report(len(box.messages()) >= MESSAGES, "%d messages delivered before the damage" %
               len(box.messages()))
        report(box.stop(), "master stops cleanly", box.tail())
        logs = sorted(f for f in os.listdir(spool) if f.startswith("log."))
        # 2. lose the newest log file, as a power failure did before names were durable
        os.unlink(os.path.join(spool, logs[-1]))
        offset = len(box.log())
        start_master(box)
        ts.wait_for(lambda: "started queue" in log_since(box, offset), 10, 0.05)
        first = greeting_within(box.port, 3)
        report(first == b"", "no greeting (and no 421/451) while the queue cannot open its store",
               "got %r" % first)
        gave_up = ts.wait_for(lambda: "failed at start-up" in log_since(box, offset), 45, 0.5)
        text = log_since(box, offset)
        report(gave_up and "queue failed at start-up 5 times in a row (last: exit status 65)"
               in text, "master gives up on the queue after 5 start-up failures, saying why",
               text[-3000:])
        fatal = [line for line in text.splitlines() if "fatal:" in line and "unrecoverable" in line]
        m = re.search(r"(\S+) has LSN (\d+/\d+)", fatal[0]) if fatal else None
        report(len(fatal) == 5 and m is not None and ("db_recover -c -h %s" % spool) in fatal[0]
               and ("mv %s %s.broken" % (spool, spool)) in fatal[0],
               "each failed start logs one fatal line with the file, the LSN and the recovery "
               "steps", "\n".join(fatal[:1]) or text[-2000:])
        report(text.count("exited with status 65") == 5,
               "the queue exits with status 65 (EX_DATAERR), not 74",
               "\n".join(line for line in text.splitlines() if "exited" in line))
        time.sleep(3)
        text = log_since(box, offset)
        report(text.count("started queue") == 5 and "started smtpd" not in text,
               "nothing is restarted after master gave up; smtpd was never started", text[-2000:])
        report(greeting_within(box.port, 1) == b"", "still no greeting after master gave up")
        report(box.stop(), "master still stops cleanly", box.tail())

        # 3. the way out: move the environment aside. A client that connects as soon as
        # master has bound the port (before smtpd runs) gets its 220 once the queue is up.
        os.rename(spool, spool + ".broken")
        offset = len(box.log())
        start_master(box)
        ts.wait_for(lambda: "started queue" in log_since(box, offset), 10, 0.02)
        early = greeting_within(box.port, 15)
        report(early.startswith(b"220"), "a client connecting before smtpd runs is greeted with "
               "220 once the queue is ready", "got %r" % early)
        ok = box.wait_greeting(20)
        sent = False
        if ok:
            try:
                send(box, 1)
                sent = True
            except (OSError, smtplib.SMTPException) as e:
                print("# %s" % e)
        report(ok and sent, "with the environment moved aside the suite starts and accepts mail",
               box.tail())

        # 4. a queue that was ready, then cannot start again (here: queue_dir unreadable
        # to its user, root only): after 5 failures master gives up and stops smtpd too.
        if os.geteuid() == 0 and ok:
            offset = len(box.log())
            os.chmod(spool, 0)
            os.kill(box.children()["queue"], signal.SIGKILL)
            gave_up = ts.wait_for(lambda: "failed at start-up" in log_since(box, offset), 45, 0.5)
            stopped = ts.wait_for(lambda: "smtpd" not in box.children(), 15, 0.2)
            text = log_since(box, offset)
            report(gave_up and stopped and "stopping smtpd" in text,
                   "a queue that cannot start again is given up and smtpd is stopped with it",
                   text[-2000:])
            time.sleep(2)
            report(greeting_within(box.port, 1) == b"" and "smtpd" not in box.children(),
                   "no greeting once the queue is given up", box.tail())
            os.chmod(spool, 0o700)
    finally:
        box.stop()
    if TAP.failed == 0:
        box.remove()
    else:
        print("# kept %s" % box.dir)
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
