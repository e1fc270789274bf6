// body_file.hpp - the pieces of the Berkeley DB store's body files (doc/QUEUE.md "Body
// files"): a streamed message's body lives in queue_dir/bodies/<queue ID>, written once
// (outside Berkeley DB's log) and made durable by the group flush before the 250.
//
// Layout of a body file: kBodyHeadRoom octets of head room (a hole), then the content
// chunks as they arrived. At the end of data the head (the header block smtpd puts before
// the content) is written into the end of the head room, so the message is the one
// contiguous range [kBodyHeadRoom - head size, end of file) and a delivery agent maps it
// from the file itself. A head larger than the head room stays in bodies.db (chunk 0).
//
// The envelope's transaction stores a marker record (bodies.db, key queue ID + FF FF FF FF)
// naming that range: the message is complete only if the file holds all of it. Called by
// store_bdb.cpp (and its unit tests); trusts no marker or file: each is checked against
// the other (parse_body_marker, check_body_file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace tegami::queue {

// Room before the content for the head (a Received field and any policy header fields).
constexpr uint64_t kBodyHeadRoom = 16 * 1024;
// The chunk number of the marker record: sorts after every real chunk.
constexpr uint32_t kBodyMarkerIndex = 0xffffffffu;

struct BodyMarker {
    uint64_t offset = 0;  // where the message starts in the file
    uint64_t size =
        0;  // octets from offset that are the message (head included unless head_inline)
    bool head_inline = false;  // the head is bodies.db's chunk 0, not in the file
};

// 'F', offset and size in 8 octets each (big endian), a flags octet.
std::string encode_body_marker(const BodyMarker& m);
// Refuses anything else: wrong length or tag, unknown flags, offset + size overflowing.
Result<BodyMarker> parse_body_marker(std::string_view rec);

// The path of a message's body file below dir ("<dir>/bodies/<qid>"); the queue ID must
// be valid (lib/core/queue_id.hpp), so no name leaves the directory.
std::string body_file_path(const std::string& dir, std::string_view qid);

// Writes all of bytes at offset (pwrite, EINTR and short writes retried).
Result<void> pwrite_all(int fd, std::string_view bytes, uint64_t offset);
// Reads exactly size octets at offset into out (appended); a file that ends early is an
// error (Exit::data_err) saying how much was there.
Result<void> pread_exact(int fd, uint64_t offset, uint64_t size, std::string& out);
// The file holds the whole range of m (a regular file at least offset + size long): a
// missing or short file is Exit::data_err naming both sizes.
Result<void> check_body_file(int fd, const BodyMarker& m);

}  // namespace tegami::queue
