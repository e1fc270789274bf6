// write_all.cpp - see write_all.hpp. Runs in the delivery child.
#include "deliver/local/write_all.hpp"

#include <cerrno>
#include <string>

#include "lib/core/write_full.hpp"

namespace tegami::local {

Result<void> write_all(int fd, std::string_view data, const char* what) {
    if (int err = write_full(fd, data)) return storage_error(std::string("write ") + what, err);
    return {};
}

Error storage_error(const std::string& what, int err) {
    Error e = sys_error(what, err, Exit::temp_fail);
    if (err == ENOSPC) e.message = "4.3.1 mail system full: " + e.message;
    if (err == EDQUOT) e.message = "4.2.2 mailbox over quota: " + e.message;
    return e;
}

}  // namespace tegami::local
