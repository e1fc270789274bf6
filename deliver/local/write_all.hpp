// write_all.hpp - writes a whole buffer to a descriptor (retrying short writes and
// EINTR), for the mbox and Maildir writers. A failure is EX_TEMPFAIL naming `what`.
#pragma once

#include <string_view>

#include "lib/core/result.hpp"

namespace tegami::local {

Result<void> write_all(int fd, std::string_view data, const char* what);

}  // namespace tegami::local
