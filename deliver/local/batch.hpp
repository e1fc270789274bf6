// batch.hpp - how the local server hands a batch of messages to a delivery process and
// hears back. The two ends share an AF_UNIX SOCK_SEQPACKET pair made before the fork:
//
//   server -> child   one datagram per batch: "TGB1", the first Maildir sequence number
//                     (u64), the count (u32), then per message the envelope sender, the
//                     address the copy is for and the queue ID (u32 length + octets each),
//                     the body's offset and size (u64 each) in its descriptor; the bodies'
//                     descriptors ride along as SCM_RIGHTS, one per message, in order.
//   child -> server   one datagram per message's report line ("CODE text\n", as
//                     parse_reports reads them), then the end marker ".\n".
//
// A delivery process for a mailbox stays for further batches until the server closes
// its end; one for a program or a file takes one batch and exits. Integers are in host
// order: both ends are the same binary on the same host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/unique_fd.hpp"

namespace tegami::local {

struct BatchItem {
    std::string sender, recipient, queue_id;
    uint64_t offset = 0, size = 0;  // the body's range in its descriptor
};

struct Batch {
    unsigned long seq = 0;
    std::vector<BatchItem> items;
    std::vector<UniqueFd> fds;  // parallel to items once received
    std::string buf;            // receive_batch's datagram buffer, kept for the next one
};

// The largest batch datagram the server builds (it stops adding messages before it) and
// the child accepts.
constexpr size_t kMaxBatchBytes = 64 * 1024;
constexpr std::string_view kBatchEnd = ".\n";

// The encoded size of one more item (for the server's bound).
size_t batch_item_bytes(const BatchItem& item);
std::string encode_batch(unsigned long seq, const std::vector<BatchItem>& items);
// False when the datagram is not a well-formed batch.
bool decode_batch(std::string_view data, Batch& out);

// Sends a batch with its descriptors (one per item). Returns 0 or an errno value.
int send_batch(int sock, const std::string& datagram, const std::vector<int>& fds);

enum class Received { batch, end, bad };
// Blocks for the next batch: end when the peer closed its end (or the socket failed),
// bad when the datagram or its descriptors are malformed or cut.
Received receive_batch(int sock, Batch& out);

}  // namespace tegami::local
