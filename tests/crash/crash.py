"""crash.py - the crash test: a bounded load of uniquely tagged messages over parallel SMTP
sessions while the suite's processes are killed with SIGKILL, then the checks that
follow from the queue's invariants:
  - every message that got 250 after DATA is delivered (at least once; duplicates only
    across a crash window, and counted);
  - the mailbox holds no half message: every entry has its From_ line, headers, the whole
    body and the trailer line written last;
  - the suite recovers (master restarts what died; a restarted master recovers the queue).

Two variants, each in its own sandbox on 127.0.0.1:
  children  master keeps running; tegami-queue and tegami-smtpd (found as master's
            children in /proc) are killed a few times mid-load and restarted by master.
  tree      master, smtpd, queue and local are killed together mid-load (a crash of the
            whole suite; delivery processes already writing a mailbox are left to end,
            since an mbox append cut by SIGKILL is outside what the queue can promise),
            then master is started again on the same queue.
  delivery  master and its daemons keep running; the delivery processes tegami-local
            forks are killed with SIGKILL again and again while they append to the
            mailbox (each killed append must be cut back before the next one).

Every variant reports its duplicate deliveries and fails above MAX_DUPLICATES: the
mailbox journal (deliver/local/mbox_journal.hpp) lets a retried delivery find that the
first one completed.

Run by tests/crash/crash.sh. Prints "ok - ..." / "not ok - ..." and, last,
"N passed, N failed"; exits 1 on any failure. Every wait is bounded.
"""

import hashlib
import os
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import tegami_sandbox as ts  # noqa: E402

WORKERS = 10
PER_WORKER = 30  # 300 messages per variant
LOAD_DEADLINE = 90  # seconds for the load phase
DRAIN_DEADLINE = 60  # seconds for the queue to deliver what it acknowledged
MAX_DUPLICATES = 5  # per variant; a handful at most, aiming for none
MAX_DELIVERY_KILLS = 400  # bound on the delivery variant's SIGKILLs
results = {"passed": 0, "failed": 0}
out_lock = threading.Lock()  # load threads write notes too: one whole line at a time


def emit(text):
    with out_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def report(ok, name, detail=""):
    results["passed" if ok else "failed"] += 1
    lines = [("ok - " if ok else "not ok - ") + name]
    if not ok and detail:
        lines += ["#   " + line for line in str(detail).splitlines()[-30:]]
    emit("\n".join(lines))


def note(text):
    emit("# " + text)


def body_lines(token):
    """Deterministic body for a token: 1 to 300 lines, so that bodies differ in size
    (ten times as many for the delivery variant's "d" tokens: appends that take long
    enough to be cut by a kill)."""
    n = int(hashlib.sha1(token.encode()).hexdigest()[:6], 16) % 300 + 1
    if token.startswith("d"):
        n *= 10
    return ["%s line %d %s" % (token, j, "x" * 60) for j in range(n)]


def message(token, user):
    head = ["From: load@example.org", "To: %s@localhost" % user, "Subject: crash %s" % token,
            "Message-Id: <%s@crash.example.org>" % token]
    return "\r\n".join(head + [""] + body_lines(token) + ["END-OF-MESSAGE " + token]) + "\r\n"


def expected_stored(token, user):
    """The message as the mbox holds it after the trace headers: LF line ends and the
    empty line that ends an entry."""
    return message(token, user).replace("\r\n", "\n").encode() + b"\n"


class Load:
    """WORKERS threads, each one SMTP session at a time, PER_WORKER messages each."""

    def __init__(self, box, run):
        self.box, self.run = box, run
        self.acked, self.unacked, self.refused = set(), set(), 0
        self.lock = threading.Lock()
        self.done_count = 0
        self.deadline = time.monotonic() + LOAD_DEADLINE

    def worker(self, w):
        conn = None
        for i in range(PER_WORKER):
            token = "%s-w%02d-n%03d" % (self.run, w, i)
            sent = False
            while not sent and time.monotonic() < self.deadline:
                try:
                    if conn is None:
                        conn = smtplib.SMTP("127.0.0.1", self.box.port,
                                            local_hostname="load.example.org", timeout=20)
                    conn.sendmail("load@example.org", ["%s@localhost" % self.box.user],
                                  message(token, self.box.user).encode())
                    with self.lock:
                        self.acked.add(token)
                    sent = True
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                        smtplib.SMTPDataError) as e:
                    # A refusal. A 5xx means the message must never be delivered. A 4xx
                    # after DATA (451 when the queue died with the message in flight) means
                    # "outcome unknown": the queue may have made it durable just before it
                    # was killed, so a delivery is allowed (the client would retry and get a
                    # duplicate, never a loss). The next attempt uses a new token.
                    code = getattr(e, "smtp_code", 0)
                    with self.lock:
                        self.refused += 1
                        if isinstance(e, smtplib.SMTPDataError) and 400 <= code < 500:
                            self.unacked.add(token)
                    note("refused %s: %s" % (token, e))
                    sent = True
                    try:
                        conn.rset()
                    except Exception:  # noqa: BLE001 - the session is dropped below
                        conn = self.drop(conn)
                except (OSError, smtplib.SMTPException):
                    # The session died (smtpd killed): whether this one was queued is
                    # unknown; it is allowed to be delivered or not.
                    with self.lock:
                        self.unacked.add(token)
                    conn = self.drop(conn)
                    sent = True
                    time.sleep(0.2)
            with self.lock:
                self.done_count += 1
        if conn is not None:
            try:
                conn.quit()
            except Exception:  # noqa: BLE001
                pass
            self.drop(conn)

    @staticmethod
    def drop(conn):
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        return None

    def progress(self):
        with self.lock:
            return self.done_count

    def start(self):
        self.threads = [threading.Thread(target=self.worker, args=(w,), daemon=True)
                        for w in range(WORKERS)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(max(1, self.deadline - time.monotonic() + 30))
        return not any(t.is_alive() for t in self.threads)


def wait_progress(load, fraction, timeout=60):
    total = WORKERS * PER_WORKER
    return ts.wait_for(lambda: load.progress() >= fraction * total, timeout, 0.02)


def kill_child(box, name):
    """SIGKILL master's child name; True once master has started a new one."""
    old = box.children().get(name)
    if old is None:
        note("no %s child to kill" % name)
        return False
    os.kill(old, signal.SIGKILL)
    note("killed %s (pid %d)" % (name, old))
    return ts.wait_for(lambda: box.children().get(name) not in (None, old), 20, 0.05)


def kill_tree(box):
    """SIGKILL master and its daemons at once (not the delivery processes they fork)."""
    pids = [box.proc.pid] + list(box.children().values())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        box.proc.wait(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    note("killed master and its daemons: %s" % pids)


def check_mailbox(box, load, variant):
    acked = sorted(load.acked)
    report(len(acked) > 0, "%s: some messages acknowledged during the load" % variant,
           box.tail())
    note("%s: %d acknowledged, %d without a reply, %d refused" %
         (variant, len(acked), len(load.unacked), load.refused))

    def tokens_seen():
        data = ts.read_bytes(box.mbox)
        return all(("END-OF-MESSAGE %s\n" % t).encode() in data for t in acked)

    drained = ts.wait_for(tokens_seen, DRAIN_DEADLINE, 0.5)
    entries = box.messages()
    counts, bad = {}, []
    for idx, e in enumerate(entries):
        stored = ts.strip_trace(e)
        tok = None
        for line in stored.split(b"\n"):
            if line.startswith(b"Message-Id: <") and line.endswith(b"@crash.example.org>"):
                tok = line[len(b"Message-Id: <"):-len(b"@crash.example.org>")].decode()
                break
        if not e.startswith(b"From load@example.org ") or tok is None:
            bad.append("entry %d: no From_ line or Message-Id: %r" % (idx, e[:200]))
            continue
        if stored != expected_stored(tok, box.user):
            bad.append("entry %d (%s): content differs; ends %r" % (idx, tok, stored[-120:]))
            continue
        counts[tok] = counts.get(tok, 0) + 1
    missing = [t for t in acked if counts.get(t, 0) == 0]
    dups = {t: n for t, n in counts.items() if n > 1}
    stray = [t for t in counts if t not in load.acked and t not in load.unacked]
    unacked_delivered = [t for t in counts if t in load.unacked]
    report(drained and not missing,
           "%s: every acknowledged message delivered within %d s (%d)" %
           (variant, DRAIN_DEADLINE, len(acked)),
           "missing %d: %s\n%s" % (len(missing), missing[:20], box.tail()))
    report(not bad, "%s: no half or damaged message in the mailbox (%d entries)" %
           (variant, len(entries)), "\n".join(bad[:10]))
    report(not stray, "%s: nothing delivered that was never sent" % variant, stray[:20])
    ndup = sum(n - 1 for n in dups.values())
    report(ndup <= MAX_DUPLICATES, "%s: %d duplicate deliveries (at most %d)" %
           (variant, ndup, MAX_DUPLICATES), sorted(dups.items())[:20])
    note("%s: %d of %d unacknowledged messages were delivered" %
         (variant, len(unacked_delivered), len(load.unacked)))
    return missing


def start_box(variant):
    """A started sandbox for one variant, or None (reported) when it does not come up."""
    box = ts.Sandbox(prefix="tegami-crash", extra=["queue_retry_min=1s", "queue_retry_max=2s"])
    try:
        up = box.start()
    except RuntimeError as e:
        up = False
        note(str(e))
    report(up, "%s: suite greets on 127.0.0.1:%d" % (variant, box.port), box.tail())
    if up:
        return box
    box.stop()
    box.remove()
    return None


def variant_children():
    box = start_box("children")
    if box is None:
        return
    try:
        load = Load(box, "c%d" % os.getpid())
        load.start()
        restarted = []
        for frac, name in ((0.10, "queue"), (0.25, "smtpd"), (0.45, "queue"), (0.65, "smtpd")):
            if wait_progress(load, frac):
                restarted.append((name, kill_child(box, name)))
        finished = load.join()
        report(finished, "children: load finished within its deadline")
        report(len(restarted) == 4 and all(ok for _, ok in restarted),
               "children: master restarted each killed process", "%r\n%s" %
               (restarted, box.tail()))
        check_mailbox(box, load, "children")
        report(box.proc.poll() is None, "children: master still running", box.tail())
    finally:
        report(box.stop(), "children: SIGTERM stops the suite", box.tail())
        box.remove()


def variant_tree():
    box = start_box("tree")
    if box is None:
        return
    try:
        load = Load(box, "t%d" % os.getpid())
        load.start()
        for frac in (0.2, 0.6):
            if not wait_progress(load, frac):
                break
            kill_tree(box)
            time.sleep(0.5)
            try:
                again = box.start(timeout=15)
            except RuntimeError as e:
                again = False
                note(str(e))
            report(again, "tree: master starts again on the crashed queue (at %d%%)" %
                   int(frac * 100), box.tail())
            if not again:
                break
        finished = load.join()
        report(finished, "tree: load finished within its deadline")
        check_mailbox(box, load, "tree")
    finally:
        report(box.stop(), "tree: SIGTERM stops the suite", box.tail())
        box.remove()


def delivery_children(local):
    """Pids of the processes tegami-local (pid local) has forked: its delivery children."""
    try:
        with open("/proc/%d/task/%d/children" % (local, local)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def variant_delivery():
    box = start_box("delivery")
    if box is None:
        return
    try:
        load = Load(box, "d%d" % os.getpid())
        load.start()
        kills = 0
        total = WORKERS * PER_WORKER
        local = box.children().get("local", 0)
        while load.progress() < total and kills < MAX_DELIVERY_KILLS and \
                time.monotonic() < load.deadline:
            for pid in delivery_children(local):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.0005 * (kills % 7))  # a varying phase against the children's
        note("delivery: %d delivery processes killed" % kills)
        report(kills > 0, "delivery: delivery processes were killed during the load", box.tail())
        finished = load.join()
        report(finished, "delivery: load finished within its deadline")
        check_mailbox(box, load, "delivery")
        log = box.log()
        note("delivery: on recovery, %d partial appends cut back, %d appends found complete "
             "(their messages not appended again)" %
             (log.count("cut back a partial entry"), log.count("already delivered")))
    finally:
        report(box.stop(), "delivery: SIGTERM stops the suite", box.tail())
        box.remove()


def main():
    start = time.monotonic()
    for v in (variant_children, variant_tree, variant_delivery):
        try:
            v()
        except Exception as e:  # noqa: BLE001 - report and go on to the next variant
            import traceback
            report(False, "%s raised %s" % (v.__name__, e), traceback.format_exc())
    note("took %.1f s" % (time.monotonic() - start))
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
