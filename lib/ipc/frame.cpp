// frame.cpp - see frame.hpp. Used by every process on both ends of every channel;
// trusts nothing in a payload it reads.
#include "lib/ipc/frame.hpp"

#include <cstring>

namespace tegami::ipc {

const char* msg_type_name(MsgType t) {
    switch (t) {
        case MsgType::listener:
            return "listener";
        case MsgType::start:
            return "start";
        case MsgType::ready:
            return "ready";
        case MsgType::reload:
            return "reload";
        case MsgType::submit:
            return "submit";
        case MsgType::submit_result:
            return "submit_result";
        case MsgType::body_chunk:
            return "body_chunk";
        case MsgType::body_chunk_result:
            return "body_chunk_result";
        case MsgType::body_abort:
            return "body_abort";
        case MsgType::body_writer:
            return "body_writer";
        case MsgType::deliver:
            return "deliver";
        case MsgType::deliver_result:
            return "deliver_result";
        case MsgType::deliver_redirect:
            return "deliver_redirect";
        case MsgType::auth_start:
            return "auth_start";
        case MsgType::auth_step:
            return "auth_step";
        case MsgType::auth_cancel:
            return "auth_cancel";
        case MsgType::auth_reply:
            return "auth_reply";
        case MsgType::auth_check:
            return "auth_check";
        case MsgType::limit_reply:
            return "limit_reply";
        case MsgType::limit_reserve:
            return "limit_reserve";
        case MsgType::limit_release:
            return "limit_release";
        case MsgType::control_request:
            return "control_request";
        case MsgType::control_list:
            return "control_list";
        case MsgType::control_result:
            return "control_result";
    }
    return "unknown";
}

FrameWriter::FrameWriter(MsgType type) : type_(type) {
    buf_.resize(sizeof(FrameHeader));
}

void FrameWriter::u32(uint32_t v) {
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void FrameWriter::u64(uint64_t v) {
    buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void FrameWriter::str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_.append(s.data(), s.size());
}
void FrameWriter::strs(const std::vector<std::string>& v) {
    u32(static_cast<uint32_t>(v.size()));
    for (const auto& s : v)
        str(s);
}

std::string FrameWriter::finish(uint32_t nfds) {
    FrameHeader h{kMagic, kVersion, static_cast<uint16_t>(type_),
                  static_cast<uint32_t>(buf_.size() - sizeof(FrameHeader)), nfds};
    std::memcpy(buf_.data(), &h, sizeof h);
    return std::move(buf_);
}

bool FrameReader::take(size_t n, const char*& at) {
    if (!ok_ || p_.size() - pos_ < n) {
        ok_ = false;
        return false;
    }
    at = p_.data() + pos_;
    pos_ += n;
    return true;
}

bool FrameReader::u32(uint32_t& v) {
    const char* at;
    if (!take(sizeof v, at)) return false;
    std::memcpy(&v, at, sizeof v);
    return true;
}

bool FrameReader::u64(uint64_t& v) {
    const char* at;
    if (!take(sizeof v, at)) return false;
    std::memcpy(&v, at, sizeof v);
    return true;
}

bool FrameReader::str_view(std::string_view& s) {
    uint32_t n;
    const char* at;
    if (!u32(n) || !take(n, at)) return false;
    s = std::string_view(at, n);
    return true;
}

bool FrameReader::str(std::string& s) {
    std::string_view v;
    if (!str_view(v)) return false;
    s.assign(v);
    return true;
}

bool FrameReader::strs(std::vector<std::string>& v) {
    uint32_t n;
    if (!u32(n)) return false;
    // Each string needs at least its 4-byte length: refuse counts the payload cannot hold.
    if (n > (p_.size() - pos_) / 4) {
        ok_ = false;
        return false;
    }
    v.clear();
    v.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        std::string s;
        if (!str(s)) return false;
        v.push_back(std::move(s));
    }
    return true;
}

bool header_valid(const FrameHeader& h) {
    return h.magic == kMagic && h.version == kVersion && h.length <= kMaxPayload &&
           h.nfds <= kMaxFds;
}

}  // namespace tegami::ipc
