// dir_sync.cpp - see dir_sync.hpp.
#include "lib/core/dir_sync.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "lib/core/unique_fd.hpp"

namespace tegami {

bool dir_sync_unsupported(int err) {
    return err == EINVAL || err == ENOTSUP || err == EROFS;
}

Result<DirSync> fsync_dir_fd(int dirfd, const std::string& shown) {
    if (::fsync(dirfd) == 0) return DirSync::done;
    int err = errno;
    if (dir_sync_unsupported(err)) return DirSync::unsupported;
    return sys_error("fsync " + shown, err, Exit::io_err);
}

Result<DirSync> fsync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("open " + dir, errno, Exit::io_err);
    return fsync_dir_fd(fd.get(), dir);
}

std::string parent_dir(std::string_view path) {
    while (path.size() > 1 && path.back() == '/')
        path.remove_suffix(1);
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return ".";
    if (slash == 0) return "/";
    return std::string(path.substr(0, slash));
}

Result<DirSync> fsync_parent(std::string_view path) {
    return fsync_dir(parent_dir(path));
}

}  // namespace tegami
