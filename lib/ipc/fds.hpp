// fds.hpp - descriptors over Unix sockets (SCM_RIGHTS): one sendmsg with descriptors
// attached, and the collection of those that arrived with a recvmsg. Used by the frame
// channel (lib/ipc/channel.hpp) and by local's delivery batches.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "lib/core/unique_fd.hpp"

namespace tegami::ipc {

// The most descriptors send_with_fds attaches to one message.
constexpr size_t kMaxFdsPerSend = 64;

// sendmsg of [data, data + len) with fds attached (none when empty), MSG_NOSIGNAL added
// to flags. -1 with errno EINVAL for more than kMaxFdsPerSend descriptors.
ssize_t send_with_fds(int sock, const char* data, size_t len, const std::vector<int>& fds,
                      int flags);

// Takes ownership of every SCM_RIGHTS descriptor of a received message, appending them to
// out in order.
void collect_fds(msghdr& msg, std::vector<UniqueFd>& out);

}  // namespace tegami::ipc
