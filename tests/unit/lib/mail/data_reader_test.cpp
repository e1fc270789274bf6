// data_reader_test.cpp - tests for lib/mail/data_reader.cpp: the end of data, dot
// unstuffing, SMTP smuggling (bare CR/LF), long lines, the size limit, and every
// input split at every offset. Bad inputs first.
#include <criterion/criterion.h>

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
