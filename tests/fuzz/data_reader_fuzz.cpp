// data_reader_fuzz.cpp - fuzz target for the streaming DATA decoder
// (lib/mail/data_reader.hpp). Input layout: byte 0 picks the size limit (0: none, else
// 16 * byte), byte 1 the number of split points n (0..7), the next n bytes the piece
// lengths; the rest is what the client sends after "354", fed in those pieces (the last
// piece takes whatever is left).
//
// Invariants checked beyond "no crash", against a simple reference decoder:
//  - consumed never exceeds the piece; a piece is consumed whole unless the end of data
//    is found in it; once done, feeding more consumes nothing;
//  - the end is found exactly after the first CRLF "." CRLF (the CRLF of the DATA command
//    counting as the first), and nowhere else (no "\n.\n", "\r\n.\n" or "\n.\r\n");
//  - a bare CR or LF before the end is flagged, and with none the flags and the stored
//    content equal the reference: dot-unstuffed CRLF lines, nothing stored beyond the
//    limit, a line over 1000 octets flagged;
//  - the stored content never exceeds the limit, and feeding the same octets in one
//    piece gives the same end, flags and (while nothing is flagged) content as feeding
//    them in many.
//
// fuzz_data_reader is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/data_reader.hpp"

using namespace tegami;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "data_reader fuzz: invariant broken: %s\n", what);
    std::abort();
}

struct Outcome {
    size_t consumed = 0;
    bool done = false;
    std::string out;
};

Outcome feed_pieces(DataReader& r, std::string_view in, const std::vector<size_t>& lens,
                    uint64_t limit) {
    Outcome o;
    size_t pos = 0;
    for (size_t i = 0; i <= lens.size(); ++i) {
        size_t n = i < lens.size() ? std::min(lens[i], in.size() - pos) : in.size() - pos;
        std::string_view piece = in.substr(pos, n);
        DataReader::Step st = r.feed(piece, o.out);
        require(st.consumed <= piece.size(), "consumed more than the piece");
        require(st.done == r.done(), "step and reader disagree on done");
        require(limit == 0 || o.out.size() <= limit, "stored content beyond the limit");
        if (o.done) require(st.consumed == 0 && st.done, "consumed after the end of data");
        if (!o.done) o.consumed += st.consumed;
        if (!st.done) require(st.consumed == piece.size(), "piece not consumed whole");
        o.done = st.done;
        pos += n;
    }
    return o;
}

// Where the data ends: just after the first CRLF "." CRLF, with the DATA command's CRLF
// before the input; npos when it does not end.
size_t reference_end(std::string_view in) {
    if (in.substr(0, 3) == ".\r\n") return 3;
    size_t at = in.find("\r\n.\r\n");
    return at == std::string_view::npos ? at : at + 5;
}

bool has_bare_cr_lf(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    }
    return false;
}

// The content of data free of bare CR and LF, ending with its terminator: unstuffed
// lines; long_line when a wire line exceeds 1000 octets with its CRLF.
std::string reference_content(std::string_view data, bool& long_line) {
    std::string out;
    long_line = false;
    std::string_view text = data.substr(0, data.size() - 3);  // without ".\r\n"
    while (!text.empty()) {
        size_t eol = text.find("\r\n");
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol + 2);
        if (line.size() + 2 > kMaxTextLine) long_line = true;
        if (!line.empty() && line.front() == '.') line.remove_prefix(1);
        out.append(line);
        out.append("\r\n");
    }
    return out;
}

}  // namespace

int fuzz_data_reader(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint64_t limit = 16u * data[0];
    const size_t nsplit = data[1] % 8;
    if (size < 2 + nsplit) return 0;
    std::vector<size_t> lens(data + 2, data + 2 + nsplit);
    std::string_view in(reinterpret_cast<const char*>(data) + 2 + nsplit, size - 2 - nsplit);

    DataReader pieces(limit);
    Outcome a = feed_pieces(pieces, in, lens, limit);
    DataReader whole(limit);
    Outcome b = feed_pieces(whole, in, {}, limit);
    require(a.consumed == b.consumed && a.done == b.done, "pieces and whole input end apart");
    // Once a flag is raised the message is refused and what was stored before is moot.
    require(!pieces.storing() || a.out == b.out, "pieces and whole input store differently");
    require(pieces.size() == whole.size() && pieces.too_big() == whole.too_big() &&
                pieces.long_line() == whole.long_line() &&
                pieces.bare_cr_lf() == whole.bare_cr_lf(),
            "pieces and whole input flag differently");

    size_t end = reference_end(in);
    require(a.done == (end != std::string_view::npos), "end of data found or missed wrongly");
    if (!a.done) {
        require(a.consumed == in.size(), "input not consumed whole before the end");
        return 0;
    }
    require(a.consumed == end, "end of data at the wrong place");
    std::string_view msg = in.substr(0, end);
    if (has_bare_cr_lf(msg)) {
        require(pieces.bare_cr_lf() && !pieces.storing(), "bare CR or LF not flagged");
        return 0;
    }
    require(!pieces.bare_cr_lf(), "bare CR or LF flagged in clean data");
    bool long_line = false;
    std::string content = reference_content(msg, long_line);
    require(pieces.size() == content.size(), "content size differs from the reference");
    require(pieces.long_line() == long_line, "long line flag differs from the reference");
    require(pieces.too_big() == (limit != 0 && content.size() > limit),
            "size flag differs from the reference");
    if (pieces.storing()) require(a.out == content, "stored content differs from the reference");
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_data_reader(data, size);
}
#endif
