// data_reader_test.cpp - tests for lib/mail/data_reader.cpp: the end of data, dot
// unstuffing, SMTP smuggling (bare CR/LF), long lines, the size limit, and every
// input split at every offset. Bad inputs first.
#include <criterion/criterion.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "lib/mail/data_reader.hpp"

using namespace tegami;

namespace {

struct Outcome {
    bool done = false;
    size_t consumed = 0;
    std::string out;
    bool bare = false, long_line = false, too_big = false;
};

Outcome run(const std::string& in, uint64_t limit = 0, size_t chunk = 0) {
    DataReader r(limit);
    Outcome o;
    size_t pos = 0;
    while (pos < in.size() && !o.done) {
        size_t n = chunk ? std::min(chunk, in.size() - pos) : in.size() - pos;
        auto step = r.feed(std::string_view(in).substr(pos, n), o.out);
        pos += step.consumed;
        o.done = step.done;
        if (!step.done && step.consumed != n) break;  // must consume all unless done
    }
    o.consumed = pos;
    o.bare = r.bare_cr_lf();
    o.long_line = r.long_line();
    o.too_big = r.too_big();
    return o;
}

struct Case {
    const char* name;
    std::string in;
    bool done;
    size_t consumed;  // when done; 0: all of the input
    bool bare, long_line;
    std::string out;  // checked when nothing was flagged
};

}  // namespace

Test(data_reader, smuggling_and_bad_input) {
    const Case cases[] = {
        {"lf dot lf", "a\n.\nb\r\n.\r\n", true, 0, true, false, ""},
        {"cr dot crlf", "a\r.\r\nb\r\n.\r\n", true, 0, true, false, ""},
        {"crlf dot lf", "a\r\n.\nb\r\n.\r\n", true, 0, true, false, ""},
        {"lf dot crlf", "a\n.\r\nb\r\n.\r\n", true, 0, true, false, ""},
        {"crlf dot cr", "a\r\n.\rb\r\n.\r\n", true, 0, true, false, ""},
        {"cr cr lf", "a\r\r\n.\r\n", true, 7, true, false, ""},
        {"bare lf only", "a\nb\n.\n", false, 0, true, false, ""},
        {"bare cr at start", "\r.\r\n", false, 0, true, false, ""},
        {"no terminator", "abc\r\n", false, 0, false, false, ""},
        {"dot without crlf", "abc\r\n.", false, 0, false, false, ""},
        {"long line", std::string(999, 'x') + "\r\n.\r\n", true, 1004, false, true, ""},
        {"long stuffed line", "." + std::string(998, 'x') + "\r\n.\r\n", true, 1004, false, true,
         ""},
    };
    for (const auto& c : cases) {
        Outcome o = run(c.in);
        cr_expect_eq(o.done, c.done, "%s", c.name);
        if (c.done) cr_expect_eq(o.consumed, c.consumed ? c.consumed : c.in.size(), "%s", c.name);
        cr_expect_eq(o.bare, c.bare, "%s", c.name);
        cr_expect_eq(o.long_line, c.long_line, "%s", c.name);
        if (c.bare || c.long_line) cr_expect(o.out.size() < c.in.size(), "%s: stored", c.name);
    }
}

Test(data_reader, good_input) {
    const Case cases[] = {
        {"empty", ".\r\n", true, 3, false, false, ""},
        {"one line", "hi\r\n.\r\n", true, 7, false, false, "hi\r\n"},
        {"stuffed", "..x\r\n..\r\n.\r\n", true, 12, false, false, ".x\r\n.\r\n"},
        {"dot inside", "a.b\r\n .\r\n.\r\n", true, 12, false, false, "a.b\r\n .\r\n"},
        {"pipelined after", "x\r\n.\r\nQUIT\r\n", true, 6, false, false, "x\r\n"},
        {"998 octets", std::string(998, 'y') + "\r\n.\r\n", true, 1003, false, false,
         std::string(998, 'y') + "\r\n"},
        {"empty lines", "\r\n\r\n.\r\n", true, 7, false, false, "\r\n\r\n"},
        {"8bit", "\xc3\xa9\x80\xff\r\n.\r\n", true, 9, false, false, "\xc3\xa9\x80\xff\r\n"},
    };
    for (const auto& c : cases) {
        Outcome o = run(c.in);
        cr_expect(o.done, "%s", c.name);
        cr_expect_eq(o.consumed, c.consumed, "%s", c.name);
        cr_expect_not(o.bare || o.long_line || o.too_big, "%s", c.name);
        cr_expect_eq(o.out, c.out, "%s", c.name);
    }
}

Test(data_reader, every_split_gives_the_same_result) {
    const std::string inputs[] = {
        "a\r\n..b\r\n.\r\nMAIL",
        "a\n.\nb\r\n.\r\n",
        "a\r.\r\nb\r\n.\r\n",
        "\r\n.\r\n",
        ".\r\n",
        "x\r\r\n..\r\n.\r\nQUIT\r\n",
        "a\r\n.\rb\r\n.\r\n",
        "..\r\n.\r\n",
    };
    for (const auto& in : inputs) {
        Outcome whole = run(in);
        for (size_t chunk = 1; chunk <= in.size(); ++chunk) {
            Outcome o = run(in, 0, chunk);
            cr_expect_eq(o.done, whole.done, "%s / %zu", in.c_str(), chunk);
            cr_expect_eq(o.consumed, whole.consumed, "chunk %zu", chunk);
            cr_expect_eq(o.out, whole.out, "chunk %zu", chunk);
            cr_expect_eq(o.bare, whole.bare, "chunk %zu", chunk);
        }
    }
}

Test(data_reader, size_limit_stops_storing_but_keeps_reading) {
    Outcome o = run("0123456789\r\n0123456789\r\n.\r\nQUIT\r\n", 20);
    cr_expect(o.done);
    cr_expect_eq(o.consumed, 27u);
    cr_expect(o.too_big);
    cr_expect(o.out.size() <= 20u);

    o = run("0123456789\r\n.\r\n", 12);
    cr_expect(o.done);
    cr_expect_not(o.too_big);
    cr_expect_eq(o.out, std::string("0123456789\r\n"));
}

Test(data_reader, size_counts_content) {
    DataReader r(0);
    std::string out;
    auto s = r.feed("..ab\r\n.\r\n", out);
    cr_expect(s.done);
    cr_expect(r.done());
    cr_expect_eq(r.size(), 5u);
    cr_expect(r.storing());
    // After the end, nothing more is taken.
    auto s2 = r.feed("MORE", out);
    cr_expect(s2.done);
    cr_expect_eq(s2.consumed, 0u);
}

namespace {

// A small deterministic generator (no global state, same bodies every run).
struct Lcg {
    uint64_t s;
    uint32_t next() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<uint32_t>(s >> 33);
    }
    size_t below(size_t n) { return n == 0 ? 0 : next() % n; }
};

// Mostly clean CRLF lines, with the rare stuffed dot, bare CR or LF, over-long line,
// 8-bit octet and empty line; ends in the terminator and a pipelined command unless
// `unterminated`.
std::string make_body(Lcg& g, bool unterminated) {
    static const char kInner[] = "abcdefghij KLMNOP.:;,\t\x80\xe3";
    std::string s;
    size_t lines = 1 + g.below(60);
    for (size_t l = 0; l < lines; ++l) {
        size_t len = g.below(20) == 0 ? 990 + g.below(20) : g.below(100);
        if (g.below(8) == 0) s += '.';
        for (size_t k = 0; k < len; ++k) {
            size_t r = g.below(2000);
            if (r == 0)
                s += '\r';
            else if (r == 1)
                s += '\n';
            else
                s += kInner[g.below(sizeof kInner - 1)];
        }
        size_t e = g.below(200);
        s += e == 0 ? "\n" : e == 1 ? "\r" : "\r\n";
    }
    if (!unterminated) s += ".\r\nQUIT\r\n";
    return s;
}

}  // namespace

// The run-of-lines fast path (taken when a piece holds whole lines) must give exactly
// what the octet-at-a-time state machine gives: the same end, consumed count, flags,
// size and, while nothing is flagged, content. Pieces are cut at random places so that
// lines straddle them.
Test(data_reader, generated_bodies_whole_random_cuts_and_octets_agree) {
    Lcg g{0x5eed};
    int flagged = 0, clean = 0;
    for (int n = 0; n < 3000; ++n) {
        std::string in = make_body(g, n % 10 == 9);
        uint64_t limit = n % 4 == 0 ? 1 + g.below(in.size() + 10) : 0;
        Outcome whole = run(in, limit);
        Outcome octets = run(in, limit, 1);
        // Random cuts.
        DataReader r(limit);
        Outcome cut;
        size_t pos = 0;
        while (pos < in.size() && !cut.done) {
            size_t k = std::min(in.size() - pos, 1 + g.below(300));
            auto st = r.feed(std::string_view(in).substr(pos, k), cut.out);
            pos += st.consumed;
            cut.done = st.done;
            if (!st.done) cr_assert_eq(st.consumed, k, "body %d: piece not consumed whole", n);
        }
        cut.consumed = pos;
        cut.bare = r.bare_cr_lf();
        cut.long_line = r.long_line();
        cut.too_big = r.too_big();
        for (const Outcome* o : {&whole, &cut}) {
            cr_assert_eq(o->done, octets.done, "body %d", n);
            cr_assert_eq(o->consumed, octets.consumed, "body %d", n);
            cr_assert_eq(o->bare, octets.bare, "body %d", n);
            cr_assert_eq(o->long_line, octets.long_line, "body %d", n);
            cr_assert_eq(o->too_big, octets.too_big, "body %d", n);
            if (!(octets.bare || octets.long_line || octets.too_big))
                cr_assert_eq(o->out, octets.out, "body %d", n);
        }
        (octets.bare || octets.long_line || octets.too_big) ? ++flagged : ++clean;
    }
    // Both kinds must have been exercised for the comparison to mean anything.
    cr_expect_gt(flagged, 300);
    cr_expect_gt(clean, 300);
}

// The size of what was seen is the same whichever path counted it.
Test(data_reader, fast_path_counts_size_and_stops_at_the_limit) {
    std::string line(70, 'z');
    std::string body;
    for (int i = 0; i < 100; ++i)
        body += line + "\r\n";
    DataReader r(0);
    std::string out;
    auto st = r.feed(body + ".\r\n", out);
    cr_expect(st.done);
    cr_expect_eq(r.size(), body.size());
    cr_expect_eq(out, body);

    // The limit falls inside the 51st line: 50 lines stored, then too big.
    DataReader lim(72 * 50 + 10);
    std::string out2;
    st = lim.feed(body + ".\r\n", out2);
    cr_expect(st.done);
    cr_expect(lim.too_big());
    cr_expect_eq(lim.size(), body.size());
    cr_expect_leq(out2.size(), 72u * 50 + 10);
}
