// write_full.cpp - see write_full.hpp.
#include "lib/core/write_full.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace tegami {

int write_full(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;
        data.remove_prefix(static_cast<size_t>(n));
    }
    return 0;
}

}  // namespace tegami
