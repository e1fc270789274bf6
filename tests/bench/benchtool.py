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
  count-mbox FILE            number of "From " separator lines in an mbox (0 if absent)
  wait-mbox FILE N SECS STALL  wait until FILE holds N messages, at most SECS seconds and
                             at most STALL seconds without progress; prints the count
  now                        monotonic clock, seconds
  median X...                median of the numbers given
"""

import os
import resource
import select
import signal
import socket
import sys
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
        ready, _, _ = select.select(list(pending), [], [], 1.0)
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


def wait_mbox(path, want, secs, stall):
    start = last_change = time.monotonic()
    last = -1
    while True:
        n = count_mbox(path)
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
    elif cmd == "count-mbox":
        print(count_mbox(args[0]))
    elif cmd == "wait-mbox":
        print(wait_mbox(args[0], int(args[1]), float(args[2]), float(args[3])))
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
