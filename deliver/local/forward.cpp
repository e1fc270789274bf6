// forward.cpp - see forward.hpp. The only code of tegami-local, besides the delivery
// child, that acts as a recipient: the reader child becomes the user, opens and checks
// the file, writes "OK\n" and the content (or "NO why\n") to a pipe and exits; the
// parent waits at most kReadTimeoutSec for it. The content is trusted no further than
// alias targets are (expand.cpp parses it).
#include "deliver/local/forward.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/priv/priv.hpp"

namespace tegami::local {

namespace {

constexpr int kReadTimeoutSec = 10;

// Reads the checked .forward as the current user: "OK\n" + content, or "NO why\n" for
// a file that is not there or not safe.
std::string read_as_current(const LocalUser& u) {
    std::string path = u.home + "/.forward";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR) return "NO\n";
        return "NO " + sys_error("cannot open " + path, errno).message + "\n";
    }
    if (auto safe = forward_safe(fd.get(), u.home, u.uid); !safe)
        return "NO " + path + " is unsafe: " + safe.error().message + "\n";
    std::string out = "OK\n";
    char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        if (total > kMaxForwardFile) return "NO " + path + " is larger than 64 KiB\n";
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<std::optional<std::string>> interpret(const std::string& text, const LocalUser& u) {
    if (text.rfind("OK\n", 0) == 0) return std::optional<std::string>(text.substr(3));
    if (text.rfind("NO", 0) == 0) {
        std::string why = text.size() > 3 ? text.substr(3) : "";
        while (!why.empty() && why.back() == '\n')
            why.pop_back();
        if (!why.empty())
            log_warning("local: ignoring the .forward of %s: %s", u.name.c_str(), why.c_str());
        return std::optional<std::string>();
    }
    return make_error(Exit::temp_fail, "reading the .forward of " + u.name + " failed");
}

}  // namespace

Result<void> forward_safe(int fd, const std::string& home, uid_t uid) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error("fstat", errno);
    if (!S_ISREG(st.st_mode)) return make_error(Exit::no_perm, "not a regular file");
    if (st.st_uid != uid && st.st_uid != 0)
        return make_error(Exit::no_perm, "owned by uid " + std::to_string(st.st_uid));
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return make_error(Exit::no_perm, "writable by group or others");
    struct stat hs {};
    if (::stat(home.c_str(), &hs) != 0) return sys_error("stat " + home, errno);
    if (hs.st_uid != uid && hs.st_uid != 0)
        return make_error(Exit::no_perm, home + " is owned by uid " + std::to_string(hs.st_uid));
    if ((hs.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return make_error(Exit::no_perm, home + " is writable by group or others");
    return {};
}

Result<std::optional<std::string>> read_forward(const LocalUser& user, bool switch_user) {
    if (user.home.empty() || user.home.front() != '/') return std::optional<std::string>();
    std::string path = user.home + "/.forward";
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return std::optional<std::string>();  // the common case: no child needed
    if (!switch_user) return interpret(read_as_current(user), user);
    auto text = read_in_child_as(
        user.name, [&user] { return read_as_current(user); }, kMaxForwardFile + 128);
    if (!text) return text.error();
    return interpret(*text, user);
}

Result<std::string> read_in_child_as(const std::string& name,
                                     const std::function<std::string()>& reader, size_t limit) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe", errno, Exit::temp_fail);
    UniqueFd rd(p[0]), wr(p[1]);
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = ::fork();
    if (pid == 0) {
        // The reader child: default signals, an alarm, only the pipe kept, the user's
        // identity without capabilities; then read, report, exit.
        for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGALRM})
            signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        alarm(kReadTimeoutSec);
        int keep = wr.get();
        if (keep > 3) close_range(3, static_cast<unsigned>(keep) - 1, 0);
        close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
        auto id = lookup_identity(name);
        std::string out;
        if (!id || !become_user(id->uid, id->gid, id->groups))
            out = "ER cannot become " + name + "\n";
        else
            out = reader();
        size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::write(keep, out.data() + off, out.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        _exit(0);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return sys_error("fork", fork_errno, Exit::temp_fail);
    wr.reset();
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (text.size() < limit) text.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return text;
}

Result<IncludeText> read_include_as(const std::string& path, uid_t as, bool switch_user) {
    if (as == 0 || !switch_user) return read_include_file(path);
    struct passwd* pw = ::getpwuid(as);
    if (pw == nullptr) return make_error(Exit::temp_fail, "no user with uid " + std::to_string(as));
    std::string name = pw->pw_name;
    // The child reports "OK <owner>\n<text>" or "NO <exit>\n<why>".
    auto text = read_in_child_as(
        name,
        [&path] {
            auto r = read_include_file(path);
            if (!r)
                return "NO " + std::to_string(static_cast<int>(r.error().exit)) + "\n" +
                       r.error().message;
            return "OK " + std::to_string(r->owner) + "\n" + r->text;
        },
        kMaxIncludeFile + 128);
    if (!text) return text.error();
    size_t nl = text->find('\n');
    if (nl == std::string::npos || nl < 4)
        return make_error(Exit::temp_fail, "reading " + path + " as " + name + " failed");
    std::string head = text->substr(3, nl - 3);
    char* end = nullptr;
    unsigned long v = std::strtoul(head.c_str(), &end, 10);
    if (end == head.c_str() || *end != '\0')
        return make_error(Exit::temp_fail, "reading " + path + " as " + name + " failed");
    if (text->rfind("NO ", 0) == 0)
        return make_error(static_cast<Exit>(v), text->substr(nl + 1) + " (read as " + name + ")");
    if (text->rfind("OK ", 0) != 0)
        return make_error(Exit::temp_fail, "reading " + path + " as " + name + " failed");
    return IncludeText{text->substr(nl + 1), static_cast<uid_t>(v)};
}

}  // namespace tegami::local
