"""trace_check.py - checks, from strace output, that every directory entry the queue and
local delivery rely on was made durable first, independent of the file system.

Input: one `strace -f -y -x -s 256 -o FILE` trace of tegami-master and everything it starts
(syscalls: see TRACED). Strace serialises the events of all traced tasks into one file,
and a task is stopped at every syscall entry and exit until strace has written it, so
the line order is a real-time order of entries and exits consistent with causality.

The model (the pessimistic POSIX reading of fsync):
  - a name is created by mkdir, an open with O_CREAT of a path not known to exist, link,
    symlink, or as the target of a rename; it is removed by unlink, rmdir, or as the
    source of a rename. Only names under ROOT (the sandbox) are considered, and the
    sandbox starts empty but for what the test made before the trace began.
  - a created name is durable once an fsync (or fdatasync) of its directory *began*
    after the creation returned and has returned; syncfs/sync make everything durable.
  - reliance points: queue's write of a submit_result frame with status 2 (smtpd turns
    it into "250 2.0.0"), local's write of a deliver_result frame with status 2 (the
    queue then marks the recipient sent and forgets the message), and the end of the
    queue process (it said "store checkpointed and closed").
  - at a reliance point of role R (queue or local), every name that still exists and
    was created by R must be durable, and so must every directory above it that was
    created during the trace (by anyone: master makes queue_dir). For local, "created
    by R" means by the relying process itself or by a delivery child that has already
    exited: local reports a result only after it has reaped the child that delivered
    it, while other children may still be half-way through their own deliveries. For
    the queue's 250s, names created after the start of the latest file fsync/fdatasync
    that ended before the reliance point are left out: no data made durable by then can
    be in them (the flusher thread may be creating the next log file while the loop
    thread answers for commits in the previous one); its clean stop relies on all. A body
    file (queue_dir/bodies/<queue ID>) is relied on by its own message's 250 only (the
    queue ID in the submit_result): the files of other messages still being received are
    not. For the queue, every removal of a name
    whose creation had been made durable must be durable too (its old log files:
    a removal that comes undone could bring back a log file recovery would misread).
    Removals of body files are not checked either: a body file that comes back has no
    envelope and is removed at the next start. Removals by local are not checked: the names it removes are its own temporary ones
    (tmp/ files renamed into new/, dotlocks), whose reappearance after a power failure
    is harmless (a stale tmp/ file; a stale dotlock broken after stale_lock_sec).

Command line:
  trace_check.py ROOT TRACE     prints a summary and each violation; exit 1 on any
  trace_check.py --self-test    runs the checker on small synthetic traces (both ways)
"""

import os
import re
import sys

# The queue writes its next log file ahead under this name and links it into place
# (queue/store_bdb.cpp, prepare_next_log). No record is in it until Berkeley DB switches
# to it, which it does by an open with O_CREAT (whose hook syncs the directory): only
# from then on does a 250 rely on its name. The queue's clean stop relies on it anyway.
READY_LOG_TEMP = "log-prepare.tmp"

TRACED = ("open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,"
          "symlinkat,unlink,unlinkat,rmdir,fsync,fdatasync,syncfs,sync,write,writev,sendmsg,"
          "sendto,execve,clone,clone3,fork,vfork")

MAGIC = b"IMGT"  # ipc::kMagic 0x54474d49 in host (little-endian) order
SUBMIT_RESULT = 11
DELIVER_RESULT = 21
STATUS_OK = 2

LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>(.*)$")


def unescape(s):
    """strace's quoted-string escapes (with -x) to bytes."""
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34, "'": 39,
              "a": 7, "b": 8}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        n = s[i + 1] if i + 1 < len(s) else ""
        if n == "x" and i + 3 < len(s) + 1:
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif n in simple:
            out.append(simple[n])
            i += 2
        elif n.isdigit():
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out += n.encode()
            i += 2
    return bytes(out)


def split_args(s):
    """Top-level comma-separated arguments of a syscall line's argument text (which
    ends with ") = ret"). Returns (args, ret_text)."""
    args, cur, depth, i, quote = [], [], 0, 0, False
    while i < len(s):
        c = s[i]
        if quote:
            cur.append(c)
            if c == "\\":
                cur.append(s[i + 1])
                i += 2
                continue
            if c == '"':
                quote = False
            i += 1
            continue
        if c == '"':
            quote = True
            cur.append(c)
        elif c in "([{":
            depth += 1
            cur.append(c)
        elif c in ")]}":
            if depth == 0:  # the call's closing parenthesis
                args.append("".join(cur).strip())
                rest = s[i + 1:]
                m = re.search(r"=\s*(.*)$", rest)
                return [a for a in args if a != ""], (m.group(1) if m else "")
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    args.append("".join(cur).strip())
    return [a for a in args if a != ""], None  # unfinished


def strings_in(text):
    return [unescape(m.group(1)) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text)]


def path_arg(a):
    """A quoted path argument as text, or None."""
    m = re.match(r'^"((?:[^"\\]|\\.)*)"', a)
    return unescape(m.group(1)).decode("utf-8", "surrogateescape") if m else None


def fd_path(a):
    """The <path> strace -y prints after a descriptor (or AT_FDCWD), or None."""
    m = re.match(r"^(?:AT_FDCWD|-?\d+)<(.*)>$", a)
    return m.group(1) if m else None


def join(dirfd_arg, p, cwd):
    if p is None:
        return None
    if p.startswith("/"):
        return os.path.normpath(p)
    base = fd_path(dirfd_arg) if dirfd_arg is not None else None
    if base is None:
        base = cwd
    if base is None:
        return None
    return os.path.normpath(os.path.join(base, p))


def ok_ret(ret):
    return ret is not None and not ret.strip().startswith("-1") and not ret.strip().startswith("?")


def u32(data, pos):
    return int.from_bytes(data[pos:pos + 4], "little") if pos + 4 <= len(data) else None


def submit_qid(data):
    """The queue ID of a SubmitResultMsg (request_id u64, status u32, queue_id str), or ""."""
    n = u32(data, 28)
    if n is None or n > 64 or 32 + n > len(data):
        return ""
    return data[32:32 + n].decode("ascii", "replace")


def is_body_file(name):
    return os.path.basename(os.path.dirname(name)) == "bodies"


def statuses(data):
    """(type, [status...]) of the frame at the start of a written buffer, if it is one of
    ours, with every status visible in the (possibly truncated) buffer: SubmitResultMsg
    is request_id u64, status u32, ...; DeliverResultMsg is request_id u64, n u32, then n
    times index u32, status u32, dsn str, text str, flags u32 (str = u32 length + bytes)."""
    if len(data) < 16 or data[:4] != MAGIC:
        return None, []
    typ = int.from_bytes(data[6:8], "little")
    if typ == SUBMIT_RESULT:
        st = u32(data, 24)
        return typ, [] if st is None else [st]
    if typ == DELIVER_RESULT:
        out, n, pos = [], u32(data, 24) or 0, 28
        for _ in range(min(n, 100000)):
            st = u32(data, pos + 4)
            if st is None:
                break
            out.append(st)
            dsn = u32(data, pos + 8)
            if dsn is None:
                break
            text = u32(data, pos + 12 + dsn)
            if text is None:
                break
            pos += 20 + dsn + text
        return typ, out
    return typ, []


class Checker:
    def __init__(self, root):
        self.root = os.path.normpath(root)
        self.roles = {}  # pid -> program basename ("tegami-queue")
        self.parent = {}
        self.exists = {}  # name -> {"role", "pid", "pos", "durable"}
        self.exited = set()
        self.data_sync_start = {}  # role -> latest start of a completed file sync
        self.pending_removals = []  # (name, pos, role)
        self.violations = []
        self.stats = {"created": 0, "removed": 0, "dir_syncs": 0, "reliance_queue": 0,
                      "reliance_local": 0, "log_files": 0, "mailboxes": 0, "maildirs": 0}
        self.flagged = set()

    # ---- roles
    def role(self, pid):
        seen = set()
        while pid in self.parent or pid in self.roles:
            if pid in self.roles:
                return self.roles[pid]
            if pid in seen:
                break
            seen.add(pid)
            pid = self.parent[pid]
        return "?"

    def short(self, pid):
        r = self.role(pid)
        return {"tegami-queue": "queue", "tegami-local": "local", "tegami-master": "master",
                "tegami-smtpd": "smtpd"}.get(r, r)

    def prepass(self, lines):
        pending = {}
        for line in lines:
            m = LINE.match(line)
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            c = CALL.match(rest)
            r = RESUMED.match(rest)
            if c:
                name, text = c.group(1), c.group(2)
                if text.endswith("<unfinished ...>"):
                    pending[pid] = (name, text[:-len("<unfinished ...>")])
                    continue
                self._pre(pid, name, text)
            elif r and pid in pending:
                name, text = pending.pop(pid)
                self._pre(pid, name, text + r.group(2))

    def _pre(self, pid, name, text):
        args, ret = split_args(text)
        if name in ("clone", "clone3", "fork", "vfork") and ok_ret(ret):
            child = re.match(r"\s*(\d+)", ret or "")
            if child:
                self.parent[int(child.group(1))] = pid
        elif name == "execve" and ok_ret(ret) and args:
            p = path_arg(args[0])
            if p:
                self.roles[pid] = os.path.basename(p)

    # ---- events
    def under_root(self, p):
        return p is not None and (p == self.root or p.startswith(self.root + "/"))

    def create(self, pid, name, pos, kind="file"):
        if not self.under_root(name):
            return
        self.stats["created"] += 1
        base = os.path.basename(name)
        if base.startswith("log.") and self.short(pid) == "queue":
            self.stats["log_files"] += 1
        if base == READY_LOG_TEMP:
            kind = "ready"  # the temporary name itself: never relied on
        self.exists[name] = {"role": self.short(pid), "pid": pid, "pos": pos, "durable": False,
                             "kind": kind}

    def remove(self, pid, name, pos):
        if not self.under_root(name):
            return
        self.stats["removed"] += 1
        rec = self.exists.pop(name, None)
        if self.short(pid) == "queue" and is_body_file(name):
            return
        if rec is None or rec["durable"]:
            self.pending_removals.append((name, pos, self.short(pid)))

    def dir_sync(self, d, entry_pos, everything=False):
        self.stats["dir_syncs"] += 1
        for name, rec in self.exists.items():
            if rec["pos"] < entry_pos and (everything or os.path.dirname(name) == d):
                rec["durable"] = True
        self.pending_removals = [
            (n, p, r) for (n, p, r) in self.pending_removals
            if not (p < entry_pos and (everything or os.path.dirname(n) == d))]

    def relied_on(self, pid, role, everything, qid=""):
        """The existing names a reliance point of pid depends on (see the docstring)."""
        names = set()
        horizon = self.data_sync_start.get(role, 0)
        for name, rec in self.exists.items():
            if rec["role"] != role:
                continue
            if rec["kind"] == "ready" and not everything:
                continue
            if role == "queue" and not everything and is_body_file(name):
                if os.path.basename(name) != qid:
                    continue
            elif role == "queue" and not everything and rec["pos"] > horizon:
                continue
            if role == "local" and rec["pid"] != pid and rec["pid"] not in self.exited:
                continue
            names.add(name)
            d = os.path.dirname(name)
            while self.under_root(d) and d != self.root:
                if d in self.exists:
                    names.add(d)
                d = os.path.dirname(d)
        return sorted(names)

    def rely(self, pid, pos, what, lineno, everything=False, qid=""):
        role = self.short(pid)
        for name in self.relied_on(pid, role, everything, qid):
            rec = self.exists[name]
            if rec["durable"]:
                continue
            key = ("create", name)
            if key in self.flagged:
                continue
            self.flagged.add(key)
            self.violations.append(
                "line %d: %s relies on %s (%s) but %s, created by %s at line %d, has had no "
                "fsync of %s since" % (lineno, role, what, pid, name, rec["role"], rec["pos"],
                                       os.path.dirname(name)))
        if role == "queue":
            for name, p, r in self.pending_removals:
                if r != "queue" or ("remove", name) in self.flagged:
                    continue
                self.flagged.add(("remove", name))
                self.violations.append(
                    "line %d: queue relies on %s but the removal of %s at line %d has had no "
                    "fsync of %s since" % (lineno, what, name, p, os.path.dirname(name)))

    def run(self, lines):
        self.prepass(lines)
        pending = {}  # pid -> (name, text, entry position)
        for pos, line in enumerate(lines, 1):
            m = LINE.match(line)
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            if rest.startswith("+++ exited") or rest.startswith("+++ killed"):
                self.exited.add(pid)
                if self.role(pid) == "tegami-queue" and pid in self.roles:
                    self.rely(pid, pos, "its clean stop", pos, everything=True)
                continue
            c = CALL.match(rest)
            if c:
                name, text = c.group(1), c.group(2)
                if text.endswith("<unfinished ...>"):
                    text = text[:-len("<unfinished ...>")]
                    pending[pid] = (name, text, pos)
                    self.entry(pid, name, text, pos)
                    continue
                self.entry(pid, name, text, pos)
                self.exit(pid, name, text, pos, pos)
                continue
            r = RESUMED.match(rest)
            if r and pid in pending:
                name, text, entry = pending.pop(pid)
                self.exit(pid, name, text + r.group(2), entry, pos)
        return self.violations

    def entry(self, pid, name, text, pos):
        """Reliance points take effect when the write begins."""
        if name not in ("write", "writev", "sendmsg", "sendto"):
            return
        args, _ = split_args(text)
        if not args:
            return
        data = b"".join(strings_in(",".join(args[1:])))
        role = self.short(pid)
        typ, sts = statuses(data)
        if STATUS_OK not in sts:
            return
        if typ == SUBMIT_RESULT and role == "queue":
            self.stats["reliance_queue"] += 1
            self.rely(pid, pos, "a submit_result 2 (the 250)", pos, qid=submit_qid(data))
        elif typ == DELIVER_RESULT and role == "local":
            self.stats["reliance_local"] += 1
            self.rely(pid, pos, "a deliver_result with a recipient delivered", pos)

    def exit(self, pid, name, text, entry, pos):
        args, ret = split_args(text)
        if not ok_ret(ret):
            return
        if name in ("fsync", "fdatasync"):
            d = fd_path(args[0]) if args else None
            if d is not None:
                d = os.path.normpath(d)
                rec = self.exists.get(d)
                if rec is not None and rec["kind"] == "file":
                    role = self.short(pid)
                    self.data_sync_start[role] = max(self.data_sync_start.get(role, 0), entry)
                self.dir_sync(d, entry)
            return
        if name in ("sync", "syncfs"):
            self.dir_sync(None, entry, everything=True)
            return
        cwd = None
        if name == "open" or name == "creat":
            p = join(None, path_arg(args[0]), cwd)
            if name == "creat" or "O_CREAT" in (args[1] if len(args) > 1 else ""):
                if p not in self.exists:
                    self.create(pid, p, pos)
            return
        if name == "openat":
            p = join(args[0], path_arg(args[1]), cwd)
            rec = self.exists.get(p)
            if rec is not None and rec["kind"] == "ready" and "O_CREAT" in (
                    args[2] if len(args) > 2 else ""):
                rec["kind"] = "file"  # Berkeley DB switched to the ready log file
                return
            if "O_CREAT" in (args[2] if len(args) > 2 else "") and p not in self.exists:
                self.create(pid, p, pos)
                if os.path.dirname(p or "").endswith("/mail") and self.short(pid) == "local":
                    if not os.path.basename(p).endswith(".lock"):
                        self.stats["mailboxes"] += 1
            return
        if name == "mkdir":
            self.create(pid, join(None, path_arg(args[0]), cwd), pos, "dir")
            return
        if name == "mkdirat":
            p = join(args[0], path_arg(args[1]), cwd)
            if p and p.endswith("/Maildir") or (p and os.path.basename(p) == "new"):
                self.stats["maildirs"] += 1 if os.path.basename(p) == "new" else 0
            self.create(pid, p, pos, "dir")
            return
        if name == "rename":
            a, b = join(None, path_arg(args[0]), cwd), join(None, path_arg(args[1]), cwd)
        elif name in ("renameat", "renameat2"):
            a, b = join(args[0], path_arg(args[1]), cwd), join(args[2], path_arg(args[3]), cwd)
        elif name == "link":
            src = join(None, path_arg(args[0]), cwd)
            kind = "ready" if os.path.basename(src or "") == READY_LOG_TEMP else "file"
            self.create(pid, join(None, path_arg(args[1]), cwd), pos, kind)
            return
        elif name == "linkat":
            self.create(pid, join(args[2], path_arg(args[3]), cwd), pos)
            return
        elif name == "symlink":
            self.create(pid, join(None, path_arg(args[1]), cwd), pos)
            return
        elif name == "symlinkat":
            self.create(pid, join(args[1], path_arg(args[2]), cwd), pos)
            return
        elif name in ("unlink", "rmdir"):
            self.remove(pid, join(None, path_arg(args[0]), cwd), pos)
            return
        elif name == "unlinkat":
            self.remove(pid, join(args[0], path_arg(args[1]), cwd), pos)
            return
        else:
            return
        kind = self.exists.get(a, {}).get("kind", "file")
        self.remove(pid, a, pos)
        self.create(pid, b, pos, kind)


def check_file(root, path):
    with open(path, "r", encoding="utf-8", errors="surrogateescape") as f:
        lines = f.read().splitlines()
    c = Checker(root)
    violations = c.run(lines)
    return c, violations


# ---- self-test: synthetic traces, each with the answer it must give

def _frame(typ, status, first=None, qid=b""):
    """A frame as the suite writes it. For deliver_result: two recipients, the first
    with status `first` (default: status) and the second with `status`."""
    if typ == DELIVER_RESULT:
        def rcpt(i, st):
            dsn, text = b"2.0.0", b"delivered"
            return (i.to_bytes(4, "little") + st.to_bytes(4, "little") +
                    len(dsn).to_bytes(4, "little") + dsn + len(text).to_bytes(4, "little") + text +
                    (0).to_bytes(4, "little"))
        body = (7).to_bytes(8, "little") + (2).to_bytes(4, "little") + \
            rcpt(0, status if first is None else first) + rcpt(1, status)
    else:
        body = (7).to_bytes(8, "little") + status.to_bytes(4, "little") + \
            len(qid).to_bytes(4, "little") + qid + b"\0" * 4
    head = MAGIC + (1).to_bytes(2, "little") + typ.to_bytes(2, "little") + \
        len(body).to_bytes(4, "little") + (0).to_bytes(4, "little")
    return "".join("\\x%02x" % b for b in head + body)


def _trace(body):
    q = '100 execve("/b/tegami-queue", ["q"], 0x0 /* 1 vars */) = 0\n'
    loc = '200 execve("/b/tegami-local", ["l"], 0x0 /* 1 vars */) = 0\n'
    kids = ('100 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 101\n'
            '200 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 201\n'
            '200 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 202\n'
            '300 execve("/b/tegami-master", ["m"], 0x0 /* 1 vars */) = 0\n')
    return (q + loc + kids + body).splitlines()


SUB_RAW = '100 sendmsg(9<UNIX-STREAM:[1->2]>, {msg_iov=[{iov_base="%s", iov_len=36}]}, ' \
    'MSG_NOSIGNAL) = 36\n' % _frame(SUBMIT_RESULT, STATUS_OK)
# the group flush of the log file, then the 250
SUB_OK = '100 fdatasync(7</r/q/log.0000000002>) = 0\n' + SUB_RAW
SUB_TEMP = SUB_OK.replace(_frame(SUBMIT_RESULT, STATUS_OK), _frame(SUBMIT_RESULT, 4))
DEL_OK = '200 sendmsg(5<UNIX-STREAM:[3->4]>, {msg_iov=[{iov_base="%s", iov_len=36}]}, ' \
    'MSG_NOSIGNAL) = 36\n' % _frame(DELIVER_RESULT, STATUS_OK)
NEWLOG = '100 openat(AT_FDCWD</>, "/r/q/log.0000000002", O_RDWR|O_CREAT|O_CLOEXEC, 0600) = ' \
    '7</r/q/log.0000000002>\n'
QSYNC = '100 fsync(8</r/q>) = 0\n'
LINK_READY = '101 link("/r/q/log-prepare.tmp", "/r/q/log.0000000003") = 0\n'
OPEN_READY = '100 openat(AT_FDCWD</>, "/r/q/log.0000000003", O_RDWR|O_CREAT|O_CLOEXEC, 0600) = ' \
    '9</r/q/log.0000000003>\n'
DEL_DONE = '201 +++ exited with 0 +++\n' + DEL_OK  # the delivering child was reaped
DEL_TEMP = DEL_OK.replace(_frame(DELIVER_RESULT, STATUS_OK), _frame(DELIVER_RESULT, 4))
DEL_SECOND = DEL_OK.replace(_frame(DELIVER_RESULT, STATUS_OK), _frame(DELIVER_RESULT, 2, 4))
SUB_Q1 = '100 fdatasync(7</r/q/log.0000000002>) = 0\n' + SUB_RAW.replace(
    _frame(SUBMIT_RESULT, STATUS_OK), _frame(SUBMIT_RESULT, STATUS_OK, qid=b"Q1"))
BODY_Q1 = '100 openat(AT_FDCWD</>, "/r/q/bodies/Q1", O_WRONLY|O_CREAT|O_EXCL, 0600) = ' \
    '9</r/q/bodies/Q1>\n'
BODY_Q2 = BODY_Q1.replace("Q1", "Q2")
BSYNC = '101 fsync(8</r/q/bodies>) = 0\n'
CASES = [
    # (name, trace body, violations expected)
    ("a body file without an fsync of bodies/ before its message's 250", BODY_Q1 + SUB_Q1, 1),
    ("a body file with an fsync of bodies/ before its message's 250",
     BODY_Q1 + BSYNC + SUB_Q1, 0),
    ("another message's body file, still being received, is not relied on",
     BODY_Q1 + BSYNC + BODY_Q2 + SUB_Q1, 0),
    ("... but the queue's clean stop relies on it", BODY_Q2 + '100 +++ exited with 0 +++\n', 1),
    ("a removed body file need not be durable",
     BODY_Q1 + BSYNC + SUB_Q1 + '101 unlink("/r/q/bodies/Q1") = 0\n' + SUB_Q1, 0),
    ("new log file, no directory fsync, then a 250", NEWLOG + SUB_OK, 1),
    ("new log file, directory fsync, then a 250", NEWLOG + QSYNC + SUB_OK, 0),
    ("directory fsync of another directory does not count",
     NEWLOG + '100 fsync(8</r>) = 0\n' + SUB_OK, 1),
    ("a failed fsync does not count", NEWLOG + '100 fsync(8</r/q>) = -1 EIO (I/O error)\n' +
     SUB_OK, 1),
    ("fsync that began before the creation ended does not count",
     '101 fsync(8</r/q> <unfinished ...>\n' + NEWLOG + '101 <... fsync resumed>) = 0\n' +
     SUB_OK, 1),
    ("a 4xx result relies on nothing", NEWLOG + SUB_TEMP, 0),
    ("the next log file made after the flush that covers the 250 is not relied on by it",
     NEWLOG + QSYNC + '100 fdatasync(7</r/q/log.0000000002>) = 0\n' +
     '101 openat(AT_FDCWD</>, "/r/q/log.0000000003", O_RDWR|O_CREAT, 0600) = 9</r/q/log.3>\n' +
     SUB_RAW + '101 fsync(8</r/q>) = 0\n', 0),
    ("... but a log file made before that flush is",
     NEWLOG + QSYNC +
     '101 openat(AT_FDCWD</>, "/r/q/log.0000000003", O_RDWR|O_CREAT, 0600) = 9</r/q/log.3>\n' +
     '100 fdatasync(7</r/q/log.0000000002>) = 0\n' + SUB_RAW + '101 fsync(8</r/q>) = 0\n', 1),
    ("the fsync racing the 250 does not count",
     NEWLOG + '101 fsync(8</r/q> <unfinished ...>\n' + SUB_OK +
     '101 <... fsync resumed>) = 0\n', 1),
    ("a log file written ahead and linked in, not yet synced, is not relied on by a 250",
     NEWLOG + QSYNC + LINK_READY + SUB_OK, 0),
    ("... but it is once the queue switched to it (open with O_CREAT)",
     NEWLOG + QSYNC + LINK_READY + OPEN_READY + SUB_OK, 1),
    ("... and the directory fsync after that open makes it durable",
     NEWLOG + QSYNC + LINK_READY + OPEN_READY + QSYNC + SUB_OK, 0),
    ("the temporary file a log file is written in is not relied on",
     NEWLOG + QSYNC + '101 openat(AT_FDCWD</>, "/r/q/log-prepare.tmp", O_WRONLY|O_CREAT|O_TRUNC|'
     'O_CLOEXEC, 0600) = 9</r/q/log-prepare.tmp>\n' + SUB_OK, 0),
    ("... and the queue's clean stop relies on a ready file too",
     LINK_READY + '100 +++ exited with 0 +++\n', 1),
    ("removed log file, no fsync, then a 250",
     NEWLOG + QSYNC + '100 unlink("/r/q/log.0000000002") = 0\n' + SUB_OK, 1),
    ("removed log file, fsync, then a 250",
     NEWLOG + QSYNC + '100 unlink("/r/q/log.0000000002") = 0\n' + QSYNC + SUB_OK, 0),
    ("queue's clean stop relies on its names", NEWLOG + '100 +++ exited with 0 +++\n', 1),
    ("Maildir made without fsync of its parent, message delivered",
     '201 mkdir("/r/m/bob", 0700) = 0\n'
     '201 mkdirat(3</r/m/bob>, "new", 0700) = 0\n'
     '201 renameat(4</r/m/bob/tmp>, "x", 5</r/m/bob/new>, "x") = 0\n'
     '201 fsync(5</r/m/bob/new>) = 0\n' + DEL_DONE, 2),
    ("Maildir made and synced, message delivered",
     '201 mkdir("/r/m/bob", 0700) = 0\n'
     '201 mkdirat(3</r/m/bob>, "new", 0700) = 0\n'
     '201 fsync(3</r/m/bob>) = 0\n201 fsync(6</r/m>) = 0\n'
     '201 renameat(4</r/m/bob/tmp>, "x", 5</r/m/bob/new>, "x") = 0\n'
     '201 fsync(5</r/m/bob/new>) = 0\n' + DEL_DONE, 0),
    ("a delivered file renamed into new/ without fsync of new/",
     '201 renameat(4</r/m/bob/tmp>, "x", 5</r/m/bob/new>, "x") = 0\n' + DEL_DONE, 1),
    ("new mbox without fsync of the spool directory",
     '201 openat(3</r/mail>, "bob", O_WRONLY|O_CREAT|O_EXCL|O_APPEND, 0600) = 4</r/mail/bob>\n'
     '201 fsync(4</r/mail/bob>) = 0\n' + DEL_DONE, 1),
    ("a deliver_result with only 4xx recipients relies on nothing",
     '201 mkdir("/r/m/bob", 0700) = 0\n201 +++ exited with 0 +++\n' + DEL_TEMP, 0),
    ("a deliver_result whose second recipient was delivered relies on the names",
     '201 mkdir("/r/m/bob", 0700) = 0\n201 +++ exited with 0 +++\n' + DEL_SECOND, 1),
    ("dotlock created and removed: nothing to sync",
     '201 openat(3</r/mail>, "bob.lock", O_WRONLY|O_CREAT|O_EXCL, 0600) = 4</r/mail/bob.lock>\n'
     '201 unlinkat(3</r/mail>, "bob.lock", 0) = 0\n' + DEL_DONE, 0),
    ("a Maildir half-made by a delivery still running is not relied on yet",
     '202 mkdir("/r/m/eve", 0700) = 0\n' + DEL_OK, 0),
    ("... but is once that delivery process has exited",
     '202 mkdir("/r/m/eve", 0700) = 0\n202 +++ exited with 0 +++\n' + DEL_OK, 1),
    ("a directory master made above the queue's names is relied on",
     '300 mkdir("/r/q", 0700) = 0\n' + NEWLOG + QSYNC + SUB_OK, 1),
    ("... and is fine once its parent is synced",
     '300 mkdir("/r/q", 0700) = 0\n300 fsync(3</r>) = 0\n' + NEWLOG + QSYNC + SUB_OK, 0),
    ("master's other names (pid file, sockets) are not the queue's business",
     '300 openat(AT_FDCWD</>, "/r/master.pid", O_RDWR|O_CREAT, 0644) = 3</r/master.pid>\n' +
     NEWLOG + QSYNC + SUB_OK, 0),
    ("local's names are not the queue's business",
     '201 mkdir("/r/m/bob", 0700) = 0\n' + SUB_OK, 0),
    ("names outside the root are ignored",
     '100 openat(AT_FDCWD</>, "/elsewhere/x", O_RDWR|O_CREAT, 0600) = 7</elsewhere/x>\n' +
     SUB_OK, 0),
]


def self_test():
    failed = 0
    for name, body, want in CASES:
        c = Checker("/r")
        got = c.run(_trace(body))
        ok = len(got) == want
        failed += 0 if ok else 1
        print(("ok - " if ok else "not ok - ") + "trace_check: " + name)
        if not ok:
            print("#   expected %d violations, got %d: %s" % (want, len(got), got))
    return failed


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return 1 if self_test() else 0
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 64
    c, violations = check_file(argv[1], argv[2])
    print("# " + ", ".join("%s=%d" % kv for kv in sorted(c.stats.items())))
    for v in violations[:40]:
        print("# VIOLATION " + v)
    if len(violations) > 40:
        print("# ... and %d more" % (len(violations) - 40))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
