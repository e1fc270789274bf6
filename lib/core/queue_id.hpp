// queue_id.hpp - queue IDs: 16 characters of [0-9A-Z] that sort by creation time.
// 11 characters of microseconds since the epoch (base 32), then 5 of a per-process
// counter mixed with the process ID. smtpd names a message when MAIL is accepted (so its
// log lines and Received header carry the ID, as admins expect); the queue refuses a
// duplicate (it never overwrites) and names the messages it makes itself (bounces).
#pragma once

#include <string>
#include <string_view>

namespace tegami {

std::string new_queue_id();
bool valid_queue_id(std::string_view id);

}  // namespace tegami
