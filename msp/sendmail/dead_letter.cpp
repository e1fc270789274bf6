// dead_letter.cpp - see dead_letter.hpp.
#include "msp/sendmail/dead_letter.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "lib/core/unique_fd.hpp"

namespace tegami::msp {

std::string dead_letter_entry(std::string_view sender, uint64_t when, std::string_view message) {
    std::string out;
    out.reserve(message.size() + 128);
    time_t t = static_cast<time_t>(when);
    std::tm tm{};
    localtime_r(&t, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
    std::string who = sender.empty() ? "MAILER-DAEMON" : std::string(sender);
    for (char& c : who)
        if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 32) c = '_';
    out += "From " + who + " " + date + "\n";
    out += "Return-Path: <" + std::string(sender) + ">\n";
    bool in_body = false;
    size_t pos = 0;
    while (pos < message.size()) {
        size_t eol = message.find("\r\n", pos);
        size_t next = eol == std::string_view::npos ? message.size() : eol + 2;
        std::string_view line =
            message.substr(pos, (eol == std::string_view::npos ? message.size() : eol) - pos);
        if (in_body && line.substr(0, 5) == "From ") out += '>';
        out.append(line);
        out += '\n';
        if (line.empty()) in_body = true;
        pos = next;
    }
    out += '\n';
    return out;
}

Result<std::string> save_dead_letter(uid_t uid, std::string_view sender, std::string_view message) {
    passwd pw{};
    passwd* res = nullptr;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res || !pw.pw_dir ||
        pw.pw_dir[0] != '/')
        return make_error(Exit::no_user, "no home directory for uid " + std::to_string(uid));
    std::string path = std::string(pw.pw_dir) + (pw.pw_dir[1] ? "/" : "") + "dead.letter";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return make_error(Exit::cant_create, path + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid || st.st_nlink != 1)
        return make_error(Exit::cant_create, path + ": not a regular file of its own");
    ::flock(fd.get(), LOCK_EX);
    std::string entry =
        dead_letter_entry(sender, static_cast<uint64_t>(std::time(nullptr)), message);
    std::string_view rest = entry;
    off_t before = st.st_size;
    while (!rest.empty()) {
        ssize_t n = ::write(fd.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            (void)::ftruncate(fd.get(), before);  // no half entry left behind
            return make_error(Exit::io_err, path + ": " + std::strerror(e));
        }
        rest.remove_prefix(static_cast<size_t>(n));
    }
    if (::fsync(fd.get()) != 0) return make_error(Exit::io_err, path + ": " + std::strerror(errno));
    return path;
}

}  // namespace tegami::msp
