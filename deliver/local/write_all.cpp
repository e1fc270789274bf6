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
        if (n < 0) return sys_error(std::string("write ") + what, errno, Exit::temp_fail);
        if (n == 0)
            return make_error(Exit::temp_fail, std::string("write ") + what + ": no progress");
        off += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace tegami::local
