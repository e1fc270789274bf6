// pidfile.cpp - see pidfile.hpp.
#include "smtpd/master/pidfile.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tegami::master {

Result<PidFile> PidFile::acquire(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return sys_error("open " + path, errno, Exit::cant_create);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {};
        ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
        (void)n;
        return make_error(Exit::temp_fail, "another master is running (pid " +
                                               std::string(buf, std::strcspn(buf, "\n")) + ", " +
                                               path + ")");
    }
    PidFile p(path, std::move(fd));
    p.update();
    return p;
}

void PidFile::update() {
    std::string s = std::to_string(getpid()) + "\n";
    if (::ftruncate(fd_.get(), 0) == 0 &&
        ::pwrite(fd_.get(), s.data(), s.size(), 0) == static_cast<ssize_t>(s.size()))
        ::fsync(fd_.get());
}

void PidFile::remove() {
    if (fd_) ::unlink(path_.c_str());
    fd_.reset();
}

}  // namespace tegami::master
