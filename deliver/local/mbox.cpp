// mbox.cpp - see mbox.hpp. Runs in the delivery child as the recipient. Trusts the
// spool directory to be the configured one; trusts nothing found in it: the mailbox is
// opened without following symlinks and refused unless it is a regular file with one
// link owned by the recipient. Invariant: the mailbox never keeps half a message - a
// failed write or fsync cuts the file back to the size it had under the lock.
#include "deliver/local/mbox.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "deliver/local/mbox_journal.hpp"
#include "deliver/local/write_all.hpp"
#include "lib/core/clock.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::local {

namespace {

void pause_ms(int ms) {
    timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// USER.lock in the spool directory, removed when this goes out of scope.
class DotLock {
  public:
    DotLock() = default;
    DotLock(const DotLock&) = delete;
    DotLock& operator=(const DotLock&) = delete;
    ~DotLock() {
        if (held_) ::unlinkat(dirfd_, name_.c_str(), 0);
    }
    // true: locked; false: the directory does not let us create it (skip, fcntl only).
    Result<bool> acquire(int dirfd, std::string name, const MboxOptions& opt);

  private:
    int dirfd_ = -1;
    std::string name_;
    bool held_ = false;
};

// A dotlock whose writer (its pid, written in it) no longer exists was left by a
// delivery process that was killed: stale at once, not only after stale_lock_sec. So is
// an empty one older than two seconds (killed between creating it and writing the pid).
bool holder_gone(int dirfd, const std::string& name, time_t mtime) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return false;
    char buf[32];
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n == 0) return time(nullptr) - mtime > 2;
    if (n <= 1 || buf[n - 1] != '\n') return false;  // being written, or not ours
    long pid = 0;
    for (ssize_t i = 0; i + 1 < n; ++i) {
        if (buf[i] < '0' || buf[i] > '9') return false;
        pid = pid * 10 + (buf[i] - '0');
    }
    return pid > 0 && pid != getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

Result<bool> DotLock::acquire(int dirfd, std::string name, const MboxOptions& opt) {
    int64_t deadline = monotonic_ms() + opt.lock_wait_ms;
    for (;;) {
        UniqueFd fd(::openat(dirfd, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd) {
            std::string pid = std::to_string(getpid()) + "\n";
            ssize_t w = ::write(fd.get(), pid.data(), pid.size());
            (void)w;  // the content is informational only
            dirfd_ = dirfd;
            name_ = std::move(name);
            held_ = true;
            return true;
        }
        if (errno == EACCES || errno == EPERM || errno == EROFS) return false;
        if (errno != EEXIST) return sys_error("dotlock " + name, errno, Exit::temp_fail);
        struct stat st {};
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (time(nullptr) - st.st_mtime > opt.stale_lock_sec ||
             holder_gone(dirfd, name, st.st_mtime))) {
            ::unlinkat(dirfd, name.c_str(), 0);
            continue;
        }
        if (monotonic_ms() >= deadline) return make_error(Exit::temp_fail, "mailbox is dotlocked");
        pause_ms(opt.retry_ms);
    }
}

Result<void> lock_fcntl(int fd, const MboxOptions& opt) {
    int64_t deadline = monotonic_ms() + opt.lock_wait_ms;
    for (;;) {
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (::fcntl(fd, F_SETLK, &fl) == 0) return {};
        if (errno != EACCES && errno != EAGAIN && errno != EINTR)
            return sys_error("fcntl lock", errno, Exit::temp_fail);
        if (monotonic_ms() >= deadline) return make_error(Exit::temp_fail, "mailbox is locked");
        pause_ms(opt.retry_ms);
    }
}

// Opens (or creates, mode 0600) the mailbox for appending and checks what it is.
Result<UniqueFd> open_mailbox(int dirfd, const std::string& user, uid_t owner, bool& created) {
    constexpr int kFlags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    created = false;
    UniqueFd fd(::openat(dirfd, user.c_str(), kFlags));
    if (!fd && errno == ENOENT) {
        fd.reset(::openat(dirfd, user.c_str(), kFlags | O_CREAT | O_EXCL, 0600));
        created = fd.valid();
        if (!fd && errno == EEXIST) fd.reset(::openat(dirfd, user.c_str(), kFlags));
    }
    if (!fd && errno == ELOOP) return make_error(Exit::cant_create, "mailbox is a symbolic link");
    if (!fd) return sys_error("cannot open mailbox", errno, Exit::cant_create);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("fstat mailbox", errno, Exit::temp_fail);
    if (!S_ISREG(st.st_mode)) return make_error(Exit::cant_create, "mailbox is not a regular file");
    if (st.st_uid != owner)
        return make_error(Exit::cant_create, "mailbox is owned by uid " +
                                                 std::to_string(st.st_uid) + ", not " +
                                                 std::to_string(owner));
    if (st.st_nlink != 1)
        return make_error(Exit::cant_create,
                          "mailbox has " + std::to_string(st.st_nlink) + " links");
    return fd;
}

void add_note(std::string& note, const std::string& more) {
    note += (note.empty() ? "" : "; ") + more;
}

bool valid_mailbox_name(const std::string& user) {
    return !user.empty() && user != "." && user != ".." && user.find('/') == std::string::npos &&
           user.find('\0') == std::string::npos;
}

// Writes the mbox entries of msgs, whose sizes add up to total, in pieces of about
// kWritePiece octets; a mapped body gives back its pages as they are written, so
// neither the copies nor the body's pages add up over a large batch. A total that does
// not come out as announced (the journal's new size) is an error: the caller cuts back.
Result<void> write_entries(int fd, const std::vector<const MailMessage*>& msgs, time_t when,
                           uint64_t total) {
    std::string buf;
    buf.reserve(kWritePiece + 4096);
    uint64_t written = 0;
    auto flush = [&]() -> Result<void> {
        if (auto w = write_all(fd, buf, "mailbox"); !w) return w;
        written += buf.size();
        buf.clear();
        return {};
    };
    for (const MailMessage* m : msgs) {
        MessagePieces pieces(*m, MessagePieces::Form::mbox, when);
        while (!pieces.done()) {
            pieces.append(buf, kWritePiece);
            if (buf.size() >= kWritePiece)
                if (auto w = flush(); !w) return w;
        }
    }
    if (auto w = flush(); !w) return w;
    if (written != total)
        return make_error(Exit::temp_fail, "mailbox entries came to " + std::to_string(written) +
                                               " octets, not the " + std::to_string(total) +
                                               " announced");
    return {};
}

}  // namespace

Result<MboxDelivered> deliver_mbox(int spool_dirfd, const std::string& dir_path,
                                   const std::string& user, uid_t owner, const MailMessage& msg,
                                   time_t when, const MboxOptions& opt) {
    return deliver_mbox_batch(spool_dirfd, dir_path, user, owner, std::vector<MailMessage>{msg},
                              when, opt);
}

Result<MboxDelivered> deliver_mbox_batch(int spool_dirfd, const std::string& dir_path,
                                         const std::string& user, uid_t owner,
                                         const std::vector<MailMessage>& msgs, time_t when,
                                         const MboxOptions& opt) {
    if (!valid_mailbox_name(user)) return make_error(Exit::no_user, "bad mailbox name");
    MboxDelivered out{dir_path + "/" + user, ""};
    DotLock dotlock;
    auto locked = dotlock.acquire(spool_dirfd, user + ".lock", opt);
    if (!locked) return locked.error();
    if (!locked.value()) out.note = "dotlock skipped: " + dir_path + " is not writable";
    bool created = false;
    auto fd = open_mailbox(spool_dirfd, user, owner, created);
    if (!fd) return fd.error();
    if (auto r = lock_fcntl(fd->get(), opt); !r) return r.error();
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return sys_error("fstat mailbox", errno, Exit::temp_fail);
    // The journal first: an append cut by a crash is removed before anything else is
    // written, and messages it lists as delivered are not appended again.
    MboxJournal journal;
    UniqueFd jfd;
    if (auto jf = open_journal(spool_dirfd, user); jf) {
        jfd.reset(*jf);
        auto jr = read_journal(jfd.get());
        if (!jr) return jr.error();
        journal = std::move(jr.value());
    } else {
        add_note(out.note, "no journal: " + jf.error().message);
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (jfd) {
        auto rec = recover_mbox(journal, fd->get(), static_cast<uint64_t>(st.st_ino), size);
        if (!rec) return rec.error();
        if (*rec == Recovery::cut_back) add_note(out.note, "cut back a partial entry");
        if (*rec == Recovery::foreign) add_note(out.note, "journal reset");
    }
    const off_t old_size = static_cast<off_t>(size);
    // Every message of the batch in one append and one fsync: all of them or none. The
    // entries of a large batch are made and written a piece at a time (write_entries), so
    // the child's memory stays bounded whatever the size of the batch; their total size
    // comes first, for the journal.
    // A batch whose bodies come to at most half a write piece is made once, in memory,
    // and its size is that of what was made: one pass over the bodies instead of two.
    std::vector<const MailMessage*> todo;
    uint64_t total = 0, body_octets = 0;
    for (const MailMessage& m : msgs)
        body_octets += m.body.size();
    const bool in_memory = body_octets <= kWritePiece / 2;
    std::string made;
    if (in_memory) made.reserve(body_octets + 512 * msgs.size());
    MboxJournal::Pending pending;
    size_t again = 0;
    for (const MailMessage& m : msgs) {
        if (jfd && !m.queue_id.empty() && journal.delivered(m.queue_id)) {
            ++again;
            continue;
        }
        todo.push_back(&m);
        if (in_memory) {
            MessagePieces pieces(m, MessagePieces::Form::mbox, when);
            while (!pieces.done())
                pieces.append(made, SIZE_MAX);
        } else {
            total += mbox_entry_size(m, when);  // reads the body: its pages go back too
            if (m.mapped) UniqueMapping::drop_pages(m.body.data(), m.body.size());
        }
        if (!m.queue_id.empty()) pending.qids.emplace_back(m.queue_id);
    }
    if (in_memory) total = made.size();
    if (again > 0) add_note(out.note, std::to_string(again) + " already delivered");
    if (todo.empty()) {
        if (jfd) (void)write_journal(jfd.get(), journal, false);
        return out;
    }
    if (jfd) {
        pending.old_size = size;
        pending.new_size = size + total;
        journal.pending = pending;
        if (auto w = write_journal(jfd.get(), journal, true); !w) return w.error();
    }
    Result<void> wrote = in_memory ? write_all(fd->get(), made, "mailbox")
                                   : write_entries(fd->get(), todo, when, total);
    if (wrote && ::fsync(fd->get()) != 0) wrote = storage_error("fsync mailbox", errno);
    if (wrote && created && ::fsync(spool_dirfd) != 0)
        wrote = sys_error("fsync " + dir_path, errno, Exit::temp_fail);
    if (!wrote) {
        if (::ftruncate(fd->get(), old_size) != 0 || ::fsync(fd->get()) != 0)
            return make_error(Exit::temp_fail,
                              wrote.error().message + "; could not restore the mailbox size");
        if (jfd) {
            journal.pending.reset();
            (void)write_journal(jfd.get(), journal, false);
        }
        return wrote.error();
    }
    if (jfd) {
        // Not synced: should this be lost, recovery finds the mailbox at the pending
        // line's new size and completes it the same way.
        for (auto& q : pending.qids)
            journal.done.push_back({std::move(q), pending.new_size});
        journal.pending.reset();
        (void)write_journal(jfd.get(), journal, false);
    }
    // The fsync above made the messages durable in the mailbox: from here they are delivered.
    return out;
}

}  // namespace tegami::local
