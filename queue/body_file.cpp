// body_file.cpp - see body_file.hpp.
#include "queue/body_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "queue/store.hpp"

namespace tegami::queue {

namespace {

constexpr char kMarkerTag = 'F';
constexpr size_t kMarkerSize = 1 + 8 + 8 + 1;
constexpr unsigned char kFlagHeadInline = 1;

void put_be64(std::string& out, uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out += static_cast<char>((v >> shift) & 0xff);
}

uint64_t get_be64(std::string_view in) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i)
        v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

}  // namespace

std::string encode_body_marker(const BodyMarker& m) {
    std::string out;
    out.reserve(kMarkerSize);
    out += kMarkerTag;
    put_be64(out, m.offset);
    put_be64(out, m.size);
    out += static_cast<char>(m.head_inline ? kFlagHeadInline : 0);
    return out;
}

Result<BodyMarker> parse_body_marker(std::string_view rec) {
    if (rec.size() != kMarkerSize || rec[0] != kMarkerTag)
        return make_error(Exit::data_err, "body marker: not a body-file record");
    BodyMarker m;
    m.offset = get_be64(rec.substr(1, 8));
    m.size = get_be64(rec.substr(9, 8));
    auto flags = static_cast<unsigned char>(rec[17]);
    if ((flags & ~kFlagHeadInline) != 0)
        return make_error(Exit::data_err, "body marker: unknown flags");
    m.head_inline = (flags & kFlagHeadInline) != 0;
    if (m.offset > kBodyHeadRoom || m.size > UINT64_MAX - m.offset)
        return make_error(Exit::data_err, "body marker: range out of bounds");
    return m;
}

std::string body_file_path(const std::string& dir, std::string_view qid) {
    std::string p = dir;
    p += "/bodies/";
    p += qid;
    return p;
}

Result<void> pwrite_all(int fd, std::string_view bytes, uint64_t offset) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                             static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sys_error("write body file", n < 0 ? errno : EIO, Exit::io_err);
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<void> pread_exact(int fd, uint64_t offset, uint64_t size, std::string& out) {
    size_t start = out.size();
    out.resize(start + size);
    uint64_t done = 0;
    while (done < size) {
        ssize_t n =
            ::pread(fd, out.data() + start + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.resize(start);
            return sys_error("read body file", errno, Exit::io_err);
        }
        if (n == 0) {
            out.resize(start);
            return make_error(Exit::data_err, "body file short: " + std::to_string(done) + " of " +
                                                  std::to_string(size) + " octets at offset " +
                                                  std::to_string(offset));
        }
        done += static_cast<uint64_t>(n);
    }
    return {};
}

Result<void> check_body_file(int fd, const BodyMarker& m) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error("fstat body file", errno, Exit::io_err);
    if (!S_ISREG(st.st_mode)) return make_error(Exit::data_err, "body file: not a regular file");
    auto have = static_cast<uint64_t>(st.st_size);
    if (have < m.offset + m.size)
        return make_error(Exit::data_err, "body file short: " + std::to_string(have) +
                                              " octets, the message needs " +
                                              std::to_string(m.offset + m.size));
    return {};
}

Result<BodyFd> sealed_body_memfd(std::string_view bytes) {
    UniqueFd fd(::memfd_create("tegami-body", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) return sys_error("memfd_create", errno);
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sys_error("write memfd", n < 0 ? errno : EIO);
        off += static_cast<size_t>(n);
    }
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
        0)
        return sys_error("seal memfd", errno);
    BodyFd b;
    b.fd = std::move(fd);
    b.size = bytes.size();
    return b;
}

}  // namespace tegami::queue
