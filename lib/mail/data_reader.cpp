// data_reader.cpp - see data_reader.hpp. A byte-level state machine; runs of ordinary
// octets inside a line are copied in one piece, and at a line start a run of whole,
// clean CRLF lines (the common case) is found with memchr and appended at once.
#include "lib/mail/data_reader.hpp"

#include <cstring>

namespace tegami {

void DataReader::emit(std::string_view s, std::string& out) {
    size_ += s.size();
    if (limit_ != 0 && size_ > limit_) too_big_ = true;
    if (storing()) out.append(s);
}

// At a line start, nothing flagged: takes whole lines that end in CRLF, start with
// no dot, hold no other CR, fit kMaxTextLine and the size limit, and appends them in
// one piece. Returns where it stopped (a line start); anything else is left to the
// state machine, which flags it exactly as before.
size_t DataReader::feed_lines(std::string_view in, size_t i, std::string& out) {
    const char* base = in.data();
    const size_t n = in.size();
    const size_t start = i;
    while (i < n && base[i] != '.') {
        const void* lf = std::memchr(base + i, '\n', n - i);
        if (lf == nullptr) break;
        size_t q = static_cast<size_t>(static_cast<const char*>(lf) - base);
        if (q == i || base[q - 1] != '\r') break;
        size_t len = q - 1 - i;  // the line before its CRLF
        if (len > kMaxTextLine - 2) break;
        if (len != 0 && std::memchr(base + i, '\r', len) != nullptr) break;
        if (limit_ != 0 && size_ + (q + 1 - start) > limit_) break;
        i = q + 1;
    }
    if (i > start) {
        size_ += i - start;
        out.append(base + start, i - start);
    }
    return i;
}

// In the middle of a line: copies up to the next CR or LF and handles it.
size_t DataReader::feed_mid(std::string_view in, size_t i, std::string& out) {
    const char* base = in.data();
    const size_t rest = in.size() - i;
    const void* cr = std::memchr(base + i, '\r', rest);
    size_t upto =
        cr == nullptr ? rest : static_cast<size_t>(static_cast<const char*>(cr) - (base + i));
    const void* lf = std::memchr(base + i, '\n', upto);
    size_t end =
        lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - base) : i + upto;
    line_ += end - i;
    if (line_ > kMaxTextLine - 2) long_line_ = true;
    emit(in.substr(i, end - i), out);
    if (end == in.size()) return end;
    if (in[end] == '\r') {
        state_ = State::cr;
    } else {
        bare_ = true;  // bare LF: the line goes on, a dot after it ends nothing
        emit("\n", out);
        ++line_;
    }
    return end + 1;
}

DataReader::Step DataReader::feed(std::string_view in, std::string& out) {
    size_t i = 0;
    while (i < in.size()) {
        char c = in[i];
        switch (state_) {
            case State::done:
                return Step{i, true};
            case State::line_start:
                if (storing()) {
                    i = feed_lines(in, i, out);
                    if (i == in.size()) return Step{i, false};
                    c = in[i];
                }
                line_ = 0;
                if (c == '.') {
                    state_ = State::dot;
                    ++i;
                } else {
                    state_ = State::mid;
                }
                break;
            case State::dot:
                if (c == '\r') {
                    state_ = State::dot_cr;
                    ++i;
                } else {
                    line_ = 1;  // the stuffed dot counts on the wire
                    state_ = State::mid;
                }
                break;
            case State::dot_cr:
                if (c == '\n') {
                    state_ = State::done;
                    return Step{i + 1, true};
                }
                bare_ = true;  // ".\r" then not LF
                line_ = 2;
                state_ = State::mid;
                break;
            case State::mid:
                i = feed_mid(in, i, out);
                break;
            case State::cr:
                if (c == '\n') {
                    emit("\r\n", out);
                    state_ = State::line_start;
                    ++i;
                } else {
                    bare_ = true;  // the previous CR was bare; look at c again
                    ++line_;
                    state_ = c == '\r' ? State::cr : State::mid;
                    if (c == '\r') ++i;
                }
                break;
        }
    }
    return Step{i, state_ == State::done};
}

}  // namespace tegami
