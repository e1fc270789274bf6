// write_all.hpp - writes a whole buffer to a descriptor (retrying short writes and
// EINTR), for the mbox and Maildir writers. A failure is EX_TEMPFAIL naming `what`.
#pragma once

#include <string_view>

#include "lib/core/result.hpp"

namespace tegami::local {

Result<void> write_all(int fd, std::string_view data, const char* what);

// The error for a failed write or fsync of a mailbox: temporary, and for a full file
// system or an exhausted quota with the enhanced code in front ("4.3.1 mail system
// full: ...", "4.2.2 mailbox over quota: ..."), which the result then carries.
Error storage_error(const std::string& what, int err);

}  // namespace tegami::local
