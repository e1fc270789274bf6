// write_all.cpp - see write_all.hpp. Runs in the delivery child.
#include "deliver/local/write_all.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace tegami::local {

Result<void> write_all(int fd, std::string_view data, const char* what) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return storage_error(std::string("write ") + what, errno);
        if (n == 0)
            return make_error(Exit::temp_fail, std::string("write ") + what + ": no progress");
        off += static_cast<size_t>(n);
    }
    return {};
}

Error storage_error(const std::string& what, int err) {
    Error e = sys_error(what, err, Exit::temp_fail);
    if (err == ENOSPC) e.message = "4.3.1 mail system full: " + e.message;
    if (err == EDQUOT) e.message = "4.2.2 mailbox over quota: " + e.message;
    return e;
}

}  // namespace tegami::local
