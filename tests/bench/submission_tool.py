"""submission_tool.py - the client side of tests/bench/submission.sh: the submission load
(a new connection per message: EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT,
as a mail client submits) and idle TLS sessions for the memory figure, plus the PSS sum
of a process tree. Every wait is bounded.

  submission_tool.py load PORT LOGIN PASSWORD RCPT MESSAGES SESSIONS SIZE
      prints "MESSAGES_OK SECONDS" (accepted messages, wall time)
  submission_tool.py idle PORT COUNT READY HOLD
      opens COUNT sessions, each through STARTTLS and a second EHLO, writes READY
      ("opened failed") and holds them HOLD seconds (or until killed)
  submission_tool.py pss PID...
      KiB of PSS of each PID and all its descendants, summed
  submission_tool.py cpu PID...
      CPU seconds (user + system, with reaped children) of each PID and all its
      descendants, summed

The load itself is build/tests/submission-load (tests/bench/submission_load.cpp) since
the Python load was the limit; `load` stays for a quick check without a build.
"""

import multiprocessing
import os
import smtplib
import ssl
import sys
import time


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def worker(args):
    port, login, password, rcpt, count, size = args
    c = ctx()
    body = ("Subject: submission bench\r\n\r\n" + ("x" * 76 + "\r\n") * max(1, size // 78))
    ok = 0
    for _ in range(count):
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("bench.client")
            s.starttls(context=c)
            s.ehlo("bench.client")
            s.user, s.password = login, password
            s.auth("PLAIN", s.auth_plain)  # both servers: AUTH PLAIN, as the case says
            if not s.sendmail("%s" % login_address(login), [rcpt], body):
                ok += 1
            s.quit()
        except (smtplib.SMTPException, OSError) as e:
            sys.stderr.write("submission: %r\n" % (e,))
    return ok


def login_address(login):
    return login if "@" in login else login + "@localhost"


def load(port, login, password, rcpt, messages, sessions, size):
    per = [messages // sessions + (1 if i < messages % sessions else 0) for i in range(sessions)]
    t = time.monotonic()
    with multiprocessing.Pool(sessions) as pool:
        done = pool.map(worker, [(port, login, password, rcpt, n, size) for n in per])
    print("%d %.3f" % (sum(done), time.monotonic() - t))
    return 0


def idle(port, count, ready, hold):
    c = ctx()
    held, failed = [], 0
    for _ in range(count):
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=30)
            s.ehlo("bench.client")
            s.starttls(context=c)
            s.ehlo("bench.client")
            held.append(s)
        except (smtplib.SMTPException, OSError):
            failed += 1
    with open(ready + ".tmp", "w") as f:
        f.write("%d %d\n" % (len(held), failed))
    os.rename(ready + ".tmp", ready)
    time.sleep(hold)
    return 0


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rfind(")") + 2:].split()[1]) == pid:
            out.append(int(p))
    return out


def pss(pids):
    seen, todo, total = set(), list(pids), 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(children(p))
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    print(total)
    return 0


def cpu(pids):
    seen, todo, ticks = set(), list(pids), 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(children(p))
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    print("%.2f" % (ticks / os.sysconf("SC_CLK_TCK")))
    return 0


def main(argv):
    if len(argv) == 9 and argv[1] == "load":
        return load(int(argv[2]), argv[3], argv[4], argv[5], int(argv[6]), int(argv[7]),
                    int(argv[8]))
    if len(argv) == 6 and argv[1] == "idle":
        return idle(int(argv[2]), int(argv[3]), argv[4], float(argv[5]))
    if len(argv) >= 3 and argv[1] == "pss":
        return pss([int(a) for a in argv[2:]])
    if len(argv) >= 3 and argv[1] == "cpu":
        return cpu([int(a) for a in argv[2:]])
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
