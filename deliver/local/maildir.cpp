// maildir.cpp - see maildir.hpp. Runs in the delivery child as the recipient. Trusts
// the maildir path (it comes from the configuration and the passwd entry), nothing in
// the message. Invariants: a file appears in new/ only complete and fsync'ed (rename from
// tmp/), and the rename itself is made durable by fsync of new/ before success; every
// directory this code creates (the Maildir, any missing component above it, tmp, new,
// cur) is fsync'ed together with its parent before anything is written into it, so a
// power failure cannot take away a Maildir that holds delivered mail.
#include "deliver/local/maildir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "deliver/local/write_all.hpp"
#include "lib/core/dir_sync.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::local {

namespace {

// fsync of each directory in made and of its parent (a file system that cannot fsync
// a directory is taken as having done so: nothing better can be had there).
Result<void> sync_made(const std::vector<std::string>& made) {
    std::vector<std::string> dirs = made;
    for (const std::string& d : made)
        dirs.push_back(parent_dir(d));
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const std::string& d : dirs)
        if (auto r = fsync_dir(d); !r) return make_error(Exit::temp_fail, r.error().message);
    return {};
}

// mkdir -p with mode 0700 for every component that is missing; appends what it made.
Result<void> make_tree(const std::string& path, std::vector<std::string>& made) {
    for (size_t pos = 1; pos <= path.size(); ++pos) {
        if (pos != path.size() && path[pos] != '/') continue;
        std::string prefix = path.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0700) == 0) {
            made.push_back(std::move(prefix));
        } else if (errno != EEXIST) {
            return sys_error("mkdir " + prefix, errno, Exit::cant_create);
        }
    }
    return {};
}

Result<UniqueFd> open_dir(int at, const std::string& name, const std::string& shown) {
    UniqueFd fd(::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open " + shown, errno, Exit::cant_create);
    return fd;
}

// Writes msg to tmp/name in pieces of about piece octets, and fsyncs it; removes it
// again on failure.
Result<void> write_tmp(int tmpfd, const std::string& name, const MailMessage& msg, size_t piece) {
    UniqueFd fd(
        ::openat(tmpfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return storage_error("create tmp/" + name, errno);
    MessagePieces pieces(msg, MessagePieces::Form::maildir);
    std::string buf;
    Result<void> r;
    while (r && !pieces.done()) {
        buf.clear();
        pieces.append(buf, piece);
        r = write_all(fd.get(), buf, "maildir file");
    }
    if (r && ::fsync(fd.get()) != 0) r = storage_error("fsync tmp/" + name, errno);
    if (!r) ::unlinkat(tmpfd, name.c_str(), 0);
    return r;
}

}  // namespace

std::string expand_maildir_path(std::string_view pattern, std::string_view user,
                                std::string_view home) {
    std::string out;
    if (pattern.starts_with("~")) {
        out = home;
        pattern.remove_prefix(1);
    }
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'u') {
            out += user;
            ++i;
        } else {
            out += pattern[i];
        }
    }
    if (!out.starts_with("/") && !home.empty()) out = std::string(home) + "/" + out;
    while (out.size() > 1 && out.back() == '/')
        out.pop_back();
    return out;
}

std::string maildir_unique(const timeval& tv, pid_t pid, unsigned long seq, std::string_view host) {
    std::string h;
    for (char c : host) {
        if (c == '/')
            h += "\\057";
        else if (c == ':')
            h += "\\072";
        else
            h += c;
    }
    char buf[96];
    std::snprintf(buf, sizeof buf, "%lld.M%06ldP%ldQ%lu.", static_cast<long long>(tv.tv_sec),
                  static_cast<long>(tv.tv_usec), static_cast<long>(pid), seq);
    return buf + h;
}

Result<std::string> deliver_maildir(const std::string& root, std::string_view hostname,
                                    const MailMessage& msg, unsigned long seq, size_t piece) {
    std::vector<std::string> made;
    if (auto r = make_tree(root, made); !r) return r.error();
    auto rootfd = open_dir(AT_FDCWD, root, root);
    if (!rootfd) return rootfd.error();
    for (const char* sub : {"tmp", "new", "cur"}) {
        if (::mkdirat(rootfd->get(), sub, 0700) == 0)
            made.push_back(root + "/" + sub);
        else if (errno != EEXIST)
            return sys_error("mkdir " + root + "/" + sub, errno, Exit::cant_create);
    }
    if (auto r = sync_made(made); !r) return r.error();
    auto tmpfd = open_dir(rootfd->get(), "tmp", root + "/tmp");
    if (!tmpfd) return tmpfd.error();
    auto newfd = open_dir(rootfd->get(), "new", root + "/new");
    if (!newfd) return newfd.error();

    timeval tv{};
    gettimeofday(&tv, nullptr);
    std::string name = maildir_unique(tv, getpid(), seq, hostname);
    if (auto r = write_tmp(tmpfd->get(), name, msg, piece); !r) return r.error();
    if (::renameat(tmpfd->get(), name.c_str(), newfd->get(), name.c_str()) != 0) {
        Error e = sys_error("rename into " + root + "/new", errno, Exit::temp_fail);
        ::unlinkat(tmpfd->get(), name.c_str(), 0);
        return e;
    }
    if (::fsync(newfd->get()) != 0) {
        Error e = sys_error("fsync " + root + "/new", errno, Exit::temp_fail);
        ::unlinkat(newfd->get(), name.c_str(), 0);
        return e;
    }
    // The fsync of new/ above made the delivery durable: from here the message is delivered.
    return root + "/new/" + name;
}

}  // namespace tegami::local
