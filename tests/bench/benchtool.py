#!/usr/bin/env python3
"""Measurement helpers for tests/bench/bench.sh (Python 3 standard library only).

A server under test is named by a HANDLE: "cgroup:DIR" (a cgroup directory holding every
process the server ever started, exited ones included in its CPU counter) or "tree:PID"
(the live process tree under PID, for machines without a usable cgroup).

Subcommands:
  cpu HANDLE                 CPU seconds consumed so far by the server's processes
  pss HANDLE                 "PSS ANON NPROCS": summed Pss and Pss_Anon (KiB, smaps_rollup)
                             of its live processes, and their number
  pss-settled HANDLE         the same, once two samples half a second apart agree
  pids HANDLE                its live process IDs, one a line
  free-port START            first TCP port >= START that 127.0.0.1 can bind
  wait-banner PORT SECS      wait until 127.0.0.1:PORT answers with a 220 greeting
  idle PORT COUNT READY HOLD open COUNT idle SMTP sessions to 127.0.0.1:PORT, read each
                             greeting, write the number held to the file READY, then hold
                             them at most HOLD seconds (or until terminated)
  latency PORT RATE COUNT SIZE FROM TO SESSIONS
                             end of data -> reply latency: COUNT messages of SIZE bytes
                             offered at RATE msg/s over SESSIONS persistent sessions
                             (PIPELINING: MAIL, RCPT, DATA in one write, then the body);
                             prints "p50_ms p99_ms max_ms achieved_rate failures"
  count-mbox FILE            number of "From " separator lines in an mbox (0 if absent)
  wait-mbox FILE N SECS STALL  wait until FILE holds N messages, at most SECS seconds and
                             at most STALL seconds without progress; prints the count
  cpu-by-process PID         "COMM SECONDS" per process name in the live tree under PID:
                             each thread's on-CPU time from /proc/.../schedstat (nanoseconds)
                             plus the cutime+cstime of the children it has reaped
  big-bodies PORT COUNT SIZE FROM TO SECS
                             COUNT clients at once, each one message of SIZE octets (a MIME
                             message whose lines are 78 octets: a base64 attachment):
                             all connect and reach DATA's 354, wait at a barrier, then all
                             stream their body; at most SECS seconds in all; prints
                             "ACCEPTED FAILED SECONDS" (250s after the final dot, the rest,
                             barrier to last reply) and each failure kind on stderr
  rss-watch HANDLE OUT SECS  sample VmRSS of the handle's processes every 50 ms until
                             SIGTERM (at most SECS seconds), then write to OUT the peak of
                             their sum and each process's VmHWM summed by kind (see rss_watch)
  now                        monotonic clock, seconds
  median X...                median of the numbers given
"""

import base64
import os
import random
import resource
import selectors
import signal
import socket
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields follow the last ')'.
        rest = data[data.rindex(")") + 2:].split()
        ppid = int(rest[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree(root):
    if not os.path.exists(f"/proc/{root}"):
        return []
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def pids_of(handle):
    kind, _, arg = handle.partition(":")
    if kind == "cgroup":
        try:
            with open(os.path.join(arg, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []
    if kind == "tree":
        return _tree(int(arg))
    raise SystemExit(f"benchtool: bad handle {handle!r}")


def cpu_seconds(handle):
    kind, _, arg = handle.partition(":")
    if kind == "cgroup":
        v1 = os.path.join(arg, "cpuacct.usage")
        if os.path.exists(v1):
            with open(v1) as f:
                return int(f.read()) / 1e9
        with open(os.path.join(arg, "cpu.stat")) as f:
            for line in f:
                k, v = line.split()
                if k == "usage_usec":
                    return int(v) / 1e6
        raise SystemExit(f"benchtool: no CPU counter in {arg}")
    # Live processes' own time plus the time of the children they have reaped: every
    # process of the tree is counted once, either live or inside an ancestor's cutime.
    # Processes that were reparented away from the tree (double fork) are missed.
    total = 0
    for pid in pids_of(handle):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        # rest[0] is field 3 (state); utime, stime, cutime, cstime are fields 14..17.
        total += sum(int(x) for x in rest[11:15])
    return total / CLK_TCK


def cpu_by_process(root):
    """{comm: seconds} over the live tree under ROOT, at schedstat's nanosecond resolution."""
    out = {}
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read().decode("ascii", "replace")
            ns = 0
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    ns += int(f.read().split()[0])
        except (OSError, ValueError):
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        rest = data[data.rindex(")") + 2:].split()
        reaped = (int(rest[13]) + int(rest[14])) / CLK_TCK  # cutime, cstime
        out[comm] = out.get(comm, 0.0) + ns / 1e9 + reaped
    return out


def pss_kib(handle):
    """Summed Pss and Pss_Anon (KiB) of the handle's live processes, and how many."""
    total, anon, n = 0, 0, 0
    for pid in pids_of(handle):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = dict(line.split()[:2] for line in f if line.rstrip().endswith("kB"))
        except (OSError, ValueError):
            continue
        if "Pss:" in fields:
            total += int(fields["Pss:"])
            anon += int(fields.get("Pss_Anon:", 0))
            n += 1
    return total, anon, n


def pss_settled(handle, rounds=20):
    """PSS once two samples half a second apart agree within 0.5% (at most rounds tries):
    a server still starting or tearing sessions down is not measured mid-way."""
    last = pss_kib(handle)
    for _ in range(rounds):
        time.sleep(0.5)
        cur = pss_kib(handle)
        if abs(cur[0] - last[0]) <= max(32, last[0] // 200) and cur[2] == last[2]:
            return cur
        last = cur
    return last


def free_port(start):
    for port in range(start, min(start + 200, 65536)):
        s = socket.socket()
        # As servers do: connections left in TIME_WAIT do not keep a listener out.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise SystemExit(f"benchtool: no free port from {start}")


def read_greeting(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        buf = b""
        while b"\n" not in buf and len(buf) < 4096:
            chunk = s.recv(512)
            if not chunk:
                break
            buf += chunk
        if buf.startswith(b"220"):
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
            return True
        return False
    finally:
        s.close()


def wait_banner(port, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            if read_greeting(port, 2.0):
                return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def idle_sessions(port, count, ready_file, hold):
    """Open count sessions, at most 64 waiting for their greeting at any time, so a
    server that forks per connection is not flooded past its listen backlog."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    held, pending, bufs = [], {}, {}
    failed = 0
    opened = 0
    deadline = time.monotonic() + max(60.0, count / 10.0)
    while (opened < count or pending) and time.monotonic() < deadline and not stop["flag"]:
        while opened < count and len(pending) < 64:
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                failed += 1
                s.close()
                opened += 1
                continue
            s.setblocking(False)
            pending[s.fileno()] = s
            bufs[s.fileno()] = b""
            opened += 1
        if not pending:
            continue
        # epoll through selectors: select() cannot watch descriptors past 1023.
        sel = selectors.DefaultSelector()
        for fd, sock in pending.items():
            sel.register(sock, selectors.EVENT_READ)
        ready = [key.fd for key, _ in sel.select(1.0)]
        sel.close()
        for fd in ready:
            s = pending[fd]
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                failed += 1
                del pending[fd]
                s.close()
                continue
            bufs[fd] += chunk
            # A greeting may span several lines ("220-..."); the last one is "220 ...".
            lines = bufs[fd].split(b"\r\n")
            if any(line.startswith(b"220 ") for line in lines):
                del pending[fd]
                held.append(s)
            elif not bufs[fd].startswith(b"220"):
                failed += 1
                del pending[fd]
                s.close()
    failed += len(pending)
    for s in pending.values():
        s.close()
    tmp = ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{len(held)} {failed}\n")
    os.rename(tmp, ready_file)
    end = time.monotonic() + hold
    while time.monotonic() < end and not stop["flag"]:
        time.sleep(0.2)
    for s in held:
        s.close()
    return 0


def latency(port, rate, count, size, sender, rcpt, sessions):
    """End of data -> 250 latency at a fixed offered load. Message i is due at
    start + i/rate; it goes out on the first idle session once due (a message that finds
    every session busy waits, and its latency still counts only from its final dot, as
    the server sees it). Persistent sessions, so connection set-up is not measured."""
    body = b"Subject: latency probe\r\n\r\n"
    line = b"x" * 76 + b"\r\n"
    while len(body) < size:
        body += line
    body = body[:max(size - 2, 0)] + b"\r\n" + b".\r\n"
    envelope = (f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").encode()
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(sessions):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        if not f.readline().startswith(b"220"):
            raise SystemExit("benchtool latency: no greeting")
        s.sendall(b"EHLO latency.test\r\n")
        while True:
            l = f.readline()
            if not l or l[3:4] == b" ":
                break
        f.close()
        s.setblocking(False)
        c = {"sock": s, "buf": b"", "want": 0, "t_dot": 0.0, "busy": False}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    lat, failures = [], 0
    sent = 0
    start = time.monotonic()
    deadline = start + count / rate + 60
    while len(lat) + failures < count and time.monotonic() < deadline:
        now = time.monotonic()
        while sent < count and start + sent / rate <= now:
            idle = next((c for c in conns if not c["busy"]), None)
            if idle is None:
                break
            idle["busy"] = True
            idle["want"] = 3  # 250 MAIL, 250 RCPT, 354 DATA
            idle["sock"].sendall(envelope)
            sent += 1
        due = start + sent / rate - time.monotonic() if sent < count else 0.05
        for key, _ in sel.select(max(0.0, min(due, 0.05))):
            c = key.data
            data = c["sock"].recv(65536)
            if not data:
                raise SystemExit("benchtool latency: the server closed a session")
            c["buf"] += data
            while b"\r\n" in c["buf"]:
                l, c["buf"] = c["buf"].split(b"\r\n", 1)
                if l[3:4] == b"-":
                    continue
                if c["want"] == 3 or c["want"] == 2:
                    if not l.startswith(b"250"):
                        failures += 1
                        c["busy"] = False
                        c["want"] = 0
                        continue
                    c["want"] -= 1
                elif c["want"] == 1:
                    if not l.startswith(b"354"):
                        failures += 1
                        c["busy"] = False
                        c["want"] = 0
                        continue
                    c["sock"].setblocking(True)
                    c["sock"].sendall(body)
                    c["t_dot"] = time.monotonic()
                    c["sock"].setblocking(False)
                    c["want"] = -1
                elif c["want"] == -1:
                    if l.startswith(b"250"):
                        lat.append((time.monotonic() - c["t_dot"]) * 1000.0)
                    else:
                        failures += 1
                    c["busy"] = False
                    c["want"] = 0
    elapsed = time.monotonic() - start
    for c in conns:
        try:
            c["sock"].setblocking(True)
            c["sock"].sendall(b"QUIT\r\n")
        except OSError:
            pass
        c["sock"].close()
    if not lat:
        print(f"nan nan nan 0 {count}")
        return 1
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    print(f"{pct(0.50):.3f} {pct(0.99):.3f} {lat[-1]:.3f} {len(lat) / elapsed:.0f} "
          f"{count - len(lat)}")
    return 0


def count_mbox(path):
    n = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"From "):
                    n += 1
    except FileNotFoundError:
        return 0
    return n


class MboxCounter:
    """Counts "From " separator lines as the mbox grows, reading only what is new (an
    mbox of 100 KiB messages is read once, not at every poll)."""

    def __init__(self, path):
        self.path, self.offset, self.n, self.tail = path, 0, 0, b"\n"

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.n
        if not data:
            return self.n
        self.offset += len(data)
        joined = self.tail + data
        self.n += joined.count(b"\nFrom ")
        self.tail = joined[-5:]
        return self.n


def wait_mbox(path, want, secs, stall):
    start = last_change = time.monotonic()
    last = -1
    counter = MboxCounter(path)
    while True:
        n = counter.count()
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        if n >= want or now - start > secs or now - last_change > stall:
            return n
        time.sleep(0.2 if n else 0.1)


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


BIG_BOUNDARY = "=_tegami_bench_0123456789"


def big_message(size, head_len, seed):
    """The shared part of a big message: a short text part and a base64 attachment of
    pseudo-random octets, every line 76 characters + CRLF, ending with the closing
    boundary; (text before the attachment, the attachment's lines, the end)."""
    text = (f"This is a multi-part message in MIME format.\r\n\r\n--{BIG_BOUNDARY}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "The attachment is the payload of the big-bodies benchmark.\r\n\r\n"
            f"--{BIG_BOUNDARY}\r\n"
            "Content-Type: application/octet-stream; name=\"payload.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"payload.bin\"\r\n\r\n").encode()
    end = f"--{BIG_BOUNDARY}--\r\n".encode()
    lines = max(0, (size - head_len - len(text) - len(end)) // 78)
    raw = random.Random(seed).randbytes(lines * 57)  # 57 octets: one 76-character line
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return text, b64, end


def big_head(i, count, sender, rcpt, pad):
    """Message i's header, of a fixed length plus pad octets (so every message is SIZE)."""
    head = (f"From: Bench Sender <{sender}>\r\nTo: <{rcpt}>\r\n"
            f"Subject: big body {i:06d} of {count:06d}\r\n"
            f"Message-ID: <big.{i:06d}.{os.getpid()}@bench.localhost>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"{BIG_BOUNDARY}\"\r\n")
    if pad >= 14:  # "X-Padding: " + filler + CRLF
        head += "X-Padding: " + "p" * (pad - 13) + "\r\n"
    return head.encode() + b"\r\n"


def _reply(f):
    """One SMTP reply (its last line), or b"" when the connection ended."""
    while True:
        line = f.readline(4096)
        if not line or line[3:4] != b"-":
            return line.rstrip(b"\r\n")


def big_bodies(port, count, size, sender, rcpt, secs):
    """Each client connects, says EHLO, MAIL, RCPT and DATA, and waits at a barrier;
    when all are there (or have failed), all stream their message at once. A client's
    outcome is the reply to its final dot (or where it stopped)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(count + 64, hard), hard))
    head_len = len(big_head(0, count, sender, rcpt, 0))
    text, b64, end = big_message(size, head_len + 14, 12)  # room for an X-Padding line
    pad = size - head_len - len(text) - len(b64) - len(end)
    body = memoryview(b"".join([text, b64, end]))
    deadline = time.monotonic() + secs
    barrier = threading.Barrier(count + 1)
    outcome = [b""] * count
    done_at = [0.0] * count

    def left():
        return max(0.5, deadline - time.monotonic())

    def client(i):
        waited = False
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=left())
            f = s.makefile("rb")
            steps = [(None, b"220"), (b"EHLO big.bench.test\r\n", b"250"),
                     (f"MAIL FROM:<{sender}>\r\n".encode(), b"250"),
                     (f"RCPT TO:<{rcpt}>\r\n".encode(), b"250"), (b"DATA\r\n", b"354")]
            for cmd, want in steps:
                if cmd:
                    s.sendall(cmd)
                r = _reply(f)
                if not r.startswith(want):
                    outcome[i] = b"before the body: " + (r or b"connection closed")
                    return
            waited = True
            barrier.wait(timeout=left())
            # sendall's timeout bounds the whole send, not each part of it.
            s.settimeout(left())
            s.sendall(big_head(i, count, sender, rcpt, pad))
            s.sendall(body)
            s.sendall(b".\r\n")
            outcome[i] = _reply(f) or b"connection closed after the body"
            done_at[i] = time.monotonic()
            s.settimeout(5)
            s.sendall(b"QUIT\r\n")
            _reply(f)
        except threading.BrokenBarrierError:
            outcome[i] = b"the barrier broke (a client did not reach DATA in time)"
        except OSError as e:
            outcome[i] = outcome[i] or f"{type(e).__name__}: {e}".encode()
        finally:
            if not waited:
                try:
                    barrier.wait(timeout=left())
                except threading.BrokenBarrierError:
                    pass
            if s is not None:
                s.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    try:
        barrier.wait(timeout=left())
    except threading.BrokenBarrierError:
        pass
    t0 = time.monotonic()
    for t in threads:
        t.join(timeout=left())
    ok = sum(1 for o in outcome if o.startswith(b"250"))
    kinds = {}
    for o in outcome:
        if not o.startswith(b"250"):
            k = (o or b"no reply in time").decode("ascii", "replace")[:200]
            kinds[k] = kinds.get(k, 0) + 1
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"big-bodies: {n} x {k}", file=sys.stderr)
    last = max(done_at) if ok else time.monotonic()
    print(f"{ok} {count - ok} {max(0.0, last - t0):.2f}")
    return 0 if ok == count else 1


def _proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Name", "PPid", "VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = v.strip()
    except OSError:
        return None
    return out


def _tree_children(root):
    """The live tree under ROOT through /proc/PID/task/TID/children (only the tree's own
    files are read, so sampling it every 50 ms costs little), else the /proc scan."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return _tree(root)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return out


def _kind(pid, seen):
    name, ppid = seen[pid][0], seen[pid][1]
    k = name[len("tegami-"):] if name.startswith("tegami-") else name
    return k + "-child" if ppid in seen and seen[ppid][0] == name else k


def rss_watch(handle, out_path, secs, interval=0.05):
    """Every INTERVAL the handle's processes: their VmRSS summed (its peak is what the
    machine held at once, to the sampling's resolution) and each one's VmHWM, kept for
    processes that exit before the end. OUT gets "peak-rss-sum KIB", "hwm-sum KIB" (the
    sum of every process's own peak: more than was ever held at once), "samples N", a
    "kind NAME KIB COUNT" line per kind (the process name without "tegami-", with
    "-child" when its parent has the same name, as a delivery child of local; KIB is the
    sum of the VmHWM of the COUNT processes of that kind seen), and "at-peak NAME RSS ANON
    FILE SHMEM COUNT" per kind in the sample of the peak: what held it, anonymous memory
    (heap, stacks) apart from mapped file pages (shared with the page cache)."""
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    kind, arg = handle.split(":", 1)
    seen = {}  # pid -> (name, ppid, hwm KiB)
    peak, samples, at_peak = 0, 0, {}
    end = time.monotonic() + secs
    while True:
        last = stop["flag"] or time.monotonic() >= end
        pids = _tree_children(int(arg)) if kind == "tree" else pids_of(handle)
        total, parts = 0, {}
        for pid in pids:
            st = _proc_status(pid)
            if not st or "VmRSS" not in st:  # gone, or a zombie
                continue
            kib = [int(st.get(k, "0 kB").split()[0])
                   for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem")]
            total += kib[0]
            seen[pid] = (st["Name"], int(st["PPid"]), int(st["VmHWM"].split()[0]))
            parts[pid] = kib
        if total > peak:
            peak = total
            at_peak = {}
            for pid, kib in parts.items():
                row = at_peak.setdefault(_kind(pid, seen), [0, 0, 0, 0, 0])
                for j in range(4):
                    row[j] += kib[j]
                row[4] += 1
        samples += 1
        if last:
            break
        time.sleep(interval)
    kinds = {}
    for pid, (_, _, hwm) in seen.items():
        kib, n = kinds.get(_kind(pid, seen), (0, 0))
        kinds[_kind(pid, seen)] = (kib + hwm, n + 1)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"peak-rss-sum {peak}\nhwm-sum {sum(h for _, _, h in seen.values())}\n")
        f.write(f"samples {samples}\n")
        for k, (kib, n) in sorted(kinds.items()):
            f.write(f"kind {k} {kib} {n}\n")
        for k, row in sorted(at_peak.items()):
            f.write(f"at-peak {k} {' '.join(str(x) for x in row)}\n")
    os.rename(tmp, out_path)
    return 0

def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "cpu":
        print(f"{cpu_seconds(args[0]):.6f}")
    elif cmd == "pss":
        print(*pss_kib(args[0]))
    elif cmd == "pss-settled":
        print(*pss_settled(args[0]))
    elif cmd == "pids":
        for p in pids_of(args[0]):
            print(p)
    elif cmd == "free-port":
        print(free_port(int(args[0])))
    elif cmd == "wait-banner":
        return wait_banner(int(args[0]), float(args[1]))
    elif cmd == "idle":
        return idle_sessions(int(args[0]), int(args[1]), args[2], float(args[3]))
    elif cmd == "latency":
        return latency(int(args[0]), float(args[1]), int(args[2]), int(args[3]), args[4],
                       args[5], int(args[6]))
    elif cmd == "count-mbox":
        print(count_mbox(args[0]))
    elif cmd == "wait-mbox":
        print(wait_mbox(args[0], int(args[1]), float(args[2]), float(args[3])))
    elif cmd == "cpu-by-process":
        for comm, secs in sorted(cpu_by_process(int(args[0])).items()):
            print(comm, f"{secs:.6f}")
    elif cmd == "big-bodies":
        return big_bodies(int(args[0]), int(args[1]), int(args[2]), args[3], args[4],
                          float(args[5]))
    elif cmd == "rss-watch":
        return rss_watch(args[0], args[1], float(args[2]))
    elif cmd == "now":
        print(f"{time.monotonic():.6f}")
    elif cmd == "median":
        if not args:
            print("nan")
        else:
            v = median([float(x) for x in args])
            print(f"{v:.6f}")
    else:
        print(f"benchtool: unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
