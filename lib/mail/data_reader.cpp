// data_reader.cpp - see data_reader.hpp. A byte-level state machine; runs of ordinary
// octets inside a line are copied in one piece.
#include "lib/mail/data_reader.hpp"

namespace tegami {

void DataReader::emit(std::string_view s, std::string& out) {
    size_ += s.size();
    if (limit_ != 0 && size_ > limit_) too_big_ = true;
    if (storing()) out.append(s);
}

// In the middle of a line: copies up to the next CR or LF and handles it.
size_t DataReader::feed_mid(std::string_view in, size_t i, std::string& out) {
    size_t j = in.find_first_of("\r\n", i);
    size_t end = j == std::string_view::npos ? in.size() : j;
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
