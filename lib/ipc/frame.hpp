// frame.hpp - typed writers and strict readers of frame payloads (see wire.hpp).
// FrameWriter appends fields; FrameReader consumes them and fails on a short field;
// finish() fails on trailing bytes. Decoding is all-or-nothing, never best effort.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ipc/wire.hpp"

namespace tegami::ipc {

class FrameWriter {
  public:
    explicit FrameWriter(MsgType type);
    void u32(uint32_t v);
    void u64(uint64_t v);
    void str(std::string_view s);
    void strs(const std::vector<std::string>& v);
    MsgType type() const { return type_; }
    // Header (with nfds) followed by the payload, ready to send.
    std::string finish(uint32_t nfds = 0);

  private:
    MsgType type_;
    std::string buf_;
};

class FrameReader {
  public:
    explicit FrameReader(std::string_view payload) : p_(payload) {}
    bool u32(uint32_t& v);
    bool u64(uint64_t& v);
    bool str(std::string& s);
    bool str_view(std::string_view& s);  // view into the payload
    bool strs(std::vector<std::string>& v);
    // True when every byte was consumed and no field failed.
    bool finish() const { return ok_ && pos_ == p_.size(); }
    bool ok() const { return ok_; }

  private:
    bool take(size_t n, const char*& at);
    std::string_view p_;
    size_t pos_ = 0;
    bool ok_ = true;
};

// Checks a received header: magic, version, known length bound, fd count.
bool header_valid(const FrameHeader& h);

}  // namespace tegami::ipc
