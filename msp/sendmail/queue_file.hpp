// queue_file.hpp - one client-queue file: the envelope sendmail was given (sender,
// recipients, DSN parameters) and the message, normalized (CRLF lines, not
// dot-stuffed). Written by the submission path, read back by the client-queue runner
// and by mailq -Ac. Internal format, no parser worth the name: the magic line
// "TEGAMI-MSP 1", then fields "<decimal length>:<bytes>\n" in this order: sender,
// flags, notify, ret, envid, number of recipients, each recipient, message.
//
// decode_queue_file trusts nothing (the file is group-writable): a short, truncated or
// overlong field, a bad number or trailing bytes is an error, never a crash. The
// submitter's identity is NOT in the file: the runner takes it from the file's owner.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::msp {

constexpr uint32_t kQueueFile8Bit = 1u << 0;  // BODY=8BITMIME
constexpr uint32_t kQueueFileUtf8 = 1u << 1;  // SMTPUTF8
constexpr size_t kMaxQueueFileRecipients = 10000;

struct QueuedMessage {
    std::string sender;  // "" for <>
    uint32_t flags = 0;
    std::string notify;  // DSN NOTIFY (-N), as given
    std::string ret;     // DSN RET (-R)
    std::string envid;   // DSN ENVID (-V)
    std::vector<std::string> recipients;
    std::string message;
};

// The envelope part (everything before the message field), then the message field's
// length prefix: the caller writes header + message + "\n" without copying the message.
std::string encode_queue_file_head(const QueuedMessage& m);
Result<QueuedMessage> decode_queue_file(std::string_view data);

// Name of a new file: "qf" + a queue ID (unique across processes and time).
std::string new_queue_file_name();
bool is_queue_file_name(std::string_view name);
// "Lost" items, as sendmail calls the queue files it gave up on (mailq -qL): "Qf" + ID,
// a message that could be neither handed on, mailed back nor saved in dead.letter, and
// "bf" + ID, a file the runner found malformed. The runner never picks them up.
std::string lost_queue_file_name(std::string_view qf_name);
bool is_lost_queue_file_name(std::string_view name);

}  // namespace tegami::msp
