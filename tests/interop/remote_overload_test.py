"""remote_overload_test.py - under sustained overload the queue retries deferred mail while
new mail keeps arriving (issue 14: the fair share of the active set between new mail and
due retries, queue/runner.hpp fresh_). Real servers on loopback: two Postfix smtp-sinks,
one answering 4xx to RCPT (its mail is deferred and retried every second), one waiting
a second before each DATA reply (two connections at a time: about two messages a
second). The active set holds 8 messages. Three messages for the deferring sink are
queued first; then new mail for the slow sink arrives at three times its rate for 8 s.
Checked: every deferred message is tried again at least twice during the overload, and
the new mail is delivered meanwhile. Every wait is bounded. Env: TEGAMI_BIN, TEGAMI_SRC,
REMOTE_PF_DIR (as remote_test.py).
"""

import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remote_test as rt  # noqa: E402
import tegami_sandbox as ts  # noqa: E402

TAP = ts.Tap(detail_lines=15)
ok = TAP.ok


def attempts(log, rcpt):
    return len(re.findall(r"to=<%s>.*status=deferred" % re.escape(rcpt), log))


def main():
    pf = rt.postfix_dir()
    work = tempfile.mkdtemp(prefix="tegami-overload.", dir="/tmp")
    os.chmod(work, 0o755)
    port = ts.free_port()
    soft = rt.Sink(pf, work, "127.0.0.5", port, ["-r", "rcpt"])
    busy = rt.Sink(pf, work, "127.0.0.2", port, ["-w", "1"])
    mailertable = os.path.join(work, "mailertable")
    with open(mailertable, "w") as f:
        f.write("soft.test smtp:[127.0.0.5]\nbusy.test smtp:[127.0.0.2]\n")
    os.chmod(mailertable, 0o644)
    box = ts.Sandbox(prefix="tegami-overload", extra=[
        "mailertable=text:" + mailertable, "smtp_port=%d" % port,
        "queue_retry_min=1s", "queue_retry_max=1s", "queue_lifetime=300s",
        "queue_active_limit=8", "smtp_destination_concurrency_limit=2",
        "smtp_connect_timeout=5s",
    ])
    sender = "%s@localhost" % box.user
    qsock = os.path.join(box.dir, "sock", "queue.sock")
    body = b"Subject: overload\r\n\r\nfiller line\r\n" * 4
    deferred = ["d%d@soft.test" % i for i in range(3)]
    try:
        ok(box.start(), "the suite starts", box.tail())
        for r in deferred:
            st, text, _ = rt.submit(qsock, sender, [r], body)
            ok(st == 2, "queued for the deferring destination: " + r, text)
        ok(ts.wait_for(lambda: all(attempts(box.log(), r) >= 1 for r in deferred), 10),
           "each is deferred once before the load starts", box.tail())
        before = {r: attempts(box.log(), r) for r in deferred}
        sent = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8 and sent < 60:  # about 6 a second, bounded
            st, text, _ = rt.submit(qsock, sender, ["n%03d@busy.test" % sent], body)
            if st != 2:
                break
            sent += 1
            time.sleep(0.15)
        log = box.log()
        during = {r: attempts(log, r) - before[r] for r in deferred}
        delivered = len(re.findall(r"to=<n\d+@busy\.test>.*status=sent", log))
        ok(sent >= 40, "new mail kept arriving for 8 s (%d messages)" % sent)
        ok(delivered < sent, "the new mail overloads its destination (%d of %d delivered)" %
           (delivered, sent))
        ok(all(n >= 2 for n in during.values()),
           "every deferred message was retried at least twice meanwhile (%s)" % during,
           box.tail())
        ok(delivered >= 8, "new mail was delivered meanwhile (%d)" % delivered, box.tail())
        done = ts.wait_for(lambda: len(re.findall(r"to=<n\d+@busy\.test>.*status=sent",
                                                  box.log())) >= sent, 60)
        ok(done, "all %d new messages are delivered in the end" % sent, box.tail())
    finally:
        box.stop()
        soft.stop()
        busy.stop()
        ts.keep_or_remove(box, TAP, work)
    return TAP.finish()


if __name__ == "__main__":
    sys.exit(main())
