"""ordering.py - the syscall-ordering test: runs the real suite under strace during a
bounded load with small queue log files (so the queue switches log files several times)
and first deliveries into new mailboxes, then checks the trace with trace_check.py: no
name created, renamed or removed is relied on (a 250, a delivery reported) before an
fsync of its directory.

Two runs, each in its own sandbox on 127.0.0.1: `mbox` (new mbox files in the spool
directory) and `maildir` (new Maildirs, with a missing directory above them). Each sends
MESSAGES messages round-robin to a few local users, waits until all are delivered,
stops master cleanly (the checkpoint removes old log files) and checks the trace.

Run by tests/durability/ordering.sh. Env: TEGAMI_BIN, TEGAMI_SRC; ORDERING_DB_CONFIG=1
sets the small log files through DB_CONFIG instead of queue_log_file_size (for binaries
that predate that key). Prints "ok - ..." / "not ok - ..." lines; exit 1 on a failure.
"""

import os
import signal
import smtplib
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import tegami_sandbox as ts  # noqa: E402
import trace_check  # noqa: E402

MESSAGES = 150
WORKERS = 3
LOG_FILE = 256 * 1024
LOAD_DEADLINE = 120
DELIVER_DEADLINE = 60
results = {"passed": 0, "failed": 0}


def report(ok, name, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("ok - " if ok else "not ok - ") + name)
    if not ok and detail:
        for line in str(detail).splitlines()[-30:]:
            print("#   " + line)
    sys.stdout.flush()


def users():
    if os.geteuid() != 0:
        return [ts.mail_user()]
    names = ["tgdur1", "tgdur2", "tgdur3"]
    for n in names:
        ts.ensure_user(n)
    return names


def body(i):
    # 2 to 6 KiB: with 256 KiB log files, a switch every few dozen messages.
    n = 30 + (i * 37) % 60
    return "\r\n".join("ordering %d line %d %s" % (i, j, "y" * 50) for j in range(n))


def load(port, rcpts, errors, acked):
    def worker(w):
        for i in range(w, MESSAGES, WORKERS):
            to = "%s@localhost" % rcpts[i % len(rcpts)]
            msg = "From: o@example.org\r\nTo: %s\r\nSubject: ordering %d\r\n\r\n%s\r\n" % (
                to, i, body(i))
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.sendmail("o@example.org", [to], msg)
                acked.append(i)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                errors.append("message %d: %s" % (i, e))
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOAD_DEADLINE)


def delivered_count(box, fmt, rcpts):
    n = 0
    for u in rcpts:
        if fmt == "mbox":
            n += len(ts.mbox_entries(ts.read_bytes(os.path.join(box.dir, "mail", u))))
        else:
            d = os.path.join(box.dir, "maildirs", u, "deep", "Maildir", "new")
            try:
                n += len(os.listdir(d))
            except OSError:
                pass
    return n


def run(fmt):
    rcpts = users()
    # A 4 KiB data buffer streams the bodies over 4 KiB (about half): their body files'
    # names are checked like every other name the queue relies on.
    extra = ["mailbox_format=%s" % fmt, "smtpd_data_buffer_size=4k"]
    db_config = os.environ.get("ORDERING_DB_CONFIG") == "1"
    if not db_config:
        extra.append("queue_log_file_size=%d" % LOG_FILE)
    box = ts.Sandbox(prefix="tegami-order-" + fmt, extra=extra)
    if fmt == "maildir":
        # maildirs/USER/deep/Maildir: local creates USER, deep and Maildir (each new).
        with open(box.conf) as f:
            conf = f.read().splitlines()
        conf = [("maildir = %s/maildirs/%%u/deep/Maildir" % box.dir)
                if line.startswith("maildir = ") else line for line in conf]
        with open(box.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
    if os.geteuid() == 0:
        os.chmod(os.path.join(box.dir, "maildirs"), 0o1777)
    if db_config:
        spool = os.path.join(box.dir, "spool")
        os.makedirs(spool, mode=0o700, exist_ok=True)
        with open(os.path.join(spool, "DB_CONFIG"), "w") as f:
            f.write("set_lg_bsize %d\nset_lg_max %d\n" % (LOG_FILE // 4, LOG_FILE))
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("tegami")
            for p in (spool, os.path.join(spool, "DB_CONFIG")):
                os.chown(p, pw.pw_uid, pw.pw_gid)
    trace = os.path.join(box.dir, "strace.out")
    log = open(box.log_path, "ab")
    proc = subprocess.Popen(
        ["strace", "-f", "-q", "-y", "-x", "-s", "256", "-e", "signal=none",
         "-e", "trace=" + trace_check.TRACED, "-o", trace,
         os.path.join(box.bin, "tegami-master"), "-c", box.conf, "-f"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    name = "ordering (%s): " % fmt
    try:
        if not box.wait_greeting(30):
            report(False, name + "the suite greets under strace", box.tail())
            return
        errors, acked = [], []
        load(box.port, rcpts, errors, acked)
        report(not errors and len(acked) == MESSAGES,
               name + "%d messages accepted (%d refused or failed)" % (len(acked), len(errors)),
               "\n".join(errors[:10]))
        ts.wait_for(lambda: delivered_count(box, fmt, rcpts) >= len(acked), DELIVER_DEADLINE,
                    0.5)
        got = delivered_count(box, fmt, rcpts)
        report(got >= len(acked), name + "%d of %d acknowledged messages delivered" %
               (got, len(acked)), box.tail())
    finally:
        master = None
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        st = f.read()
                except OSError:
                    continue
                if int(st[st.rfind(")") + 2:].split()[1]) == proc.pid:
                    master = int(pid)
        if master:
            os.kill(master, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    checker, violations = trace_check.check_file(box.dir, trace)
    st = checker.stats
    print("# %s: %s" % (fmt, ", ".join("%s=%d" % kv for kv in sorted(st.items()))))
    report(st["log_files"] >= 3, name + "the queue switched log files (%d log files created)" %
           st["log_files"])
    want = "mailboxes" if fmt == "mbox" else "maildirs"
    report(st[want] >= len(rcpts), name + "first deliveries into %d new %s" % (st[want], want))
    report(st["reliance_queue"] >= MESSAGES // 2 and st["reliance_local"] >= 1,
           name + "reliance points seen (%d 250s, %d deliveries)" %
           (st["reliance_queue"], st["reliance_local"]))
    report(not violations, name + "no name relied on before an fsync of its directory",
           "\n".join(violations[:25]))
    if not violations and results["failed"] == 0:
        box.remove()
    else:
        print("# kept %s (trace: %s)" % (box.dir, trace))


def main():
    for fmt in ("mbox", "maildir"):
        run(fmt)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
