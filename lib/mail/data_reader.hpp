// data_reader.hpp - the streaming DATA decoder (RFC 5321 4.1.1.4, 4.5.2): fed the
// client's octets after "354" in pieces of any size, it removes dot-stuffing, appends
// the content to the caller's buffer and finds the end of data.
//
// Called by the smtpd session; trusts nothing it is fed. Invariants:
//  - ONLY CRLF "." CRLF ends the data (the CRLF before the dot may be the one that
//    ended the DATA command). "\n.\n", "\r.\r\n", "\r\n.\n", "\n.\r\n" never do: each
//    holds a bare CR or LF, which is flagged (SMTP smuggling), and reading goes on.
//  - feed() stops right after the terminator and says how much it consumed, so
//    pipelined commands after the dot stay with the caller.
//  - a line (on the wire, dot-stuffing included) longer than 1000 octets with its CRLF
//    is flagged (RFC 5321 4.5.3.1.6).
//  - content beyond size_limit (0: none) is flagged and not stored; after any flag
//    nothing more is stored (the message will be refused) but reading goes on, so
//    memory is bounded by size_limit.
//  - the stored content has CRLF line endings and ends with CRLF (or is empty).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tegami {

constexpr size_t kMaxTextLine = 1000;  // octets, CRLF included

class DataReader {
  public:
    explicit DataReader(uint64_t size_limit = 0) : limit_(size_limit) {}

    struct Step {
        size_t consumed = 0;  // octets of `in` used (the terminator included when done)
        bool done = false;    // CRLF.CRLF seen
    };
    // Appends the unstuffed content to out while nothing is flagged.
    Step feed(std::string_view in, std::string& out);

    bool done() const { return state_ == State::done; }
    // No line begun: the last octet fed ended a line (or nothing was fed yet).
    bool at_line_start() const { return state_ == State::line_start || state_ == State::done; }
    bool too_big() const { return too_big_; }
    bool long_line() const { return long_line_; }
    bool bare_cr_lf() const { return bare_; }
    bool storing() const { return !too_big_ && !long_line_ && !bare_; }
    uint64_t size() const { return size_; }  // content octets seen, stored or not

  private:
    enum class State : uint8_t { line_start, dot, dot_cr, mid, cr, done };
    void emit(std::string_view s, std::string& out);
    size_t feed_lines(std::string_view in, size_t i, std::string& out);
    size_t feed_mid(std::string_view in, size_t i, std::string& out);

    uint64_t limit_;
    uint64_t size_ = 0;
    size_t line_ = 0;  // octets of the current line before its CRLF
    State state_ = State::line_start;
    bool too_big_ = false;
    bool long_line_ = false;
    bool bare_ = false;
};

}  // namespace tegami
