// write_full.hpp - writes a whole buffer to a blocking descriptor (a regular file, a
// pipe), retrying short writes and EINTR. For sockets that may raise SIGPIPE use send(2)
// with MSG_NOSIGNAL instead.
#pragma once

#include <string_view>

namespace tegami {

// 0 when every byte was written, else the errno of the write that failed (EIO for a
// write that made no progress). Callers word the error for their own context.
int write_full(int fd, std::string_view data);

}  // namespace tegami
