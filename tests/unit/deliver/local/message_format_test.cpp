// message_format_test.cpp - unit tests for deliver/local/message_format.cpp: the From_
// line, the delivery headers and the body conversion (CRLF -> LF, mboxrd quoting,
// trailing newline), table-driven with the awkward inputs first.
#include "deliver/local/message_format.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace tegami::local;

namespace {

struct BodyCase {
    const char* label;
    std::string in;
    bool mboxrd;
    std::string want;
};

const BodyCase kBody[] = {
    {"empty", "", true, ""},
    {"no final newline", "a\r\nb", true, "a\nb\n"},
    {"bare CR kept", "a\rb\r\n", true, "a\rb\n"},
    {"lone CR at end", "a\r", true, "a\r\n"},
    {"bare LF", "a\nb\n", true, "a\nb\n"},
    {"From at start", "From me\r\n", true, ">From me\n"},
    {"From mid", "x\r\nFrom here\r\ny\r\n", true, "x\n>From here\ny\n"},
    {">From gets one more", ">From x\r\n", true, ">>From x\n"},
    {">>From gets one more", ">>From x\r\n", true, ">>>From x\n"},
    {"From without space", "Fromage\r\n", true, "Fromage\n"},
    {"indented From", " From x\r\n", true, " From x\n"},
    {"> then text", ">Frog\r\n", true, ">Frog\n"},
    {"lower from", "from x\r\n", true, "from x\n"},
    {"maildir no quoting", "From x\r\n>From y\r\n", false, "From x\n>From y\n"},
    {"blank lines kept", "a\r\n\r\n\r\nb\r\n", true, "a\n\n\nb\n"},
    {"NUL kept", std::string("a\0b\r\n", 5), true, std::string("a\0b\n", 4)},
};

}  // namespace

Test(message_format, body) {
    for (const auto& c : kBody) {
        std::string out;
        append_body(out, c.in, c.mboxrd);
        cr_expect_eq(out, c.want, "%s: got [%s]", c.label, out.c_str());
    }
}

// The conversion a piece at a time (the mbox writer's) is the conversion whole, for every
// case and every limit down to 0 (one line a call), and its size is known beforehand.
Test(message_format, body_in_pieces_and_its_size) {
    for (const auto& c : kBody) {
        cr_expect_eq(converted_body_size(c.in, c.mboxrd), c.want.size(), "%s: size", c.label);
        for (size_t limit : {size_t{0}, size_t{1}, size_t{2}, size_t{5}, SIZE_MAX}) {
            std::string out;
            std::string_view rest = c.in;
            size_t calls = 0;
            while (!rest.empty() && calls++ < 100) {
                size_t before = rest.size();
                append_body_part(out, rest, c.mboxrd, limit);
                cr_assert_lt(rest.size(), before, "%s: a call converts at least a line", c.label);
            }
            cr_expect_eq(out, c.want, "%s, limit %zu: got [%s]", c.label, limit, out.c_str());
        }
    }
    // A piece ends at a line's end, past the limit by at most that line.
    std::string out;
    std::string_view rest = "aaaa\r\nbbbb\r\ncccc\r\n";
    append_body_part(out, rest, true, 6);
    cr_expect_eq(out, std::string("aaaa\nbbbb\n"));
    cr_expect_eq(rest, std::string_view("cccc\r\n"));
}

// MessagePieces makes what mbox_entry and maildir_file make, octet for octet, whatever
// the limit of each call (0: a line a call), for every body case: the From_-less Maildir
// form, a body without a final newline, an empty body; and it ends.
Test(message_format, pieces_are_the_whole_message_at_every_limit) {
    setenv("TZ", "UTC", 1);
    tzset();
    std::string big;
    for (int i = 0; big.size() < 3000; ++i)
        big += i % 7 == 0 ? "From x\r\n" : std::string(size_t(i % 50), 'q') + "\r\n";
    big += "no final newline";
    std::vector<std::string> bodies{big};
    for (const auto& c : kBody)
        bodies.push_back(c.in);
    for (const std::string& body : bodies) {
        MailMessage m{"a b@c", "bob@h\r", body, ""};
        for (auto form : {MessagePieces::Form::mbox, MessagePieces::Form::maildir}) {
            bool mbox = form == MessagePieces::Form::mbox;
            std::string want = mbox ? mbox_entry(m, 1700000000) : maildir_file(m);
            for (size_t limit : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64},
                                 size_t{1000}, kWritePiece, SIZE_MAX}) {
                MessagePieces pieces(m, form, 1700000000);
                std::string got;
                size_t calls = 0;
                while (!pieces.done() && calls++ < 10000) {
                    std::string piece;
                    pieces.append(piece, limit);
                    cr_assert(!piece.empty(), "a call that is not the last makes octets");
                    got += piece;
                }
                cr_expect(pieces.done(), "ends, limit %zu", limit);
                cr_expect(got == want, "%s, %zu-octet body, limit %zu: got [%s]",
                          mbox ? "mbox" : "maildir", body.size(), limit, got.c_str());
                pieces.append(got, limit);
                cr_expect(got == want, "nothing more once done");
            }
        }
    }
}

Test(message_format, from_line) {
    setenv("TZ", "UTC", 1);
    tzset();
    cr_expect_eq(from_line("", 0), std::string("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"));
    cr_expect_eq(from_line("a@b.example", 1700000000),
                 std::string("From a@b.example Tue Nov 14 22:13:20 2023\n"));
    cr_expect_eq(from_line("\"x y\"@b\n", 0),
                 std::string("From \"x_y\"@b_ Thu Jan  1 00:00:00 1970\n"));
}

Test(message_format, headers) {
    cr_expect_eq(delivery_headers("", "bob@h"),
                 std::string("Return-Path: <>\nDelivered-To: bob@h\n"));
    cr_expect_eq(delivery_headers("a@b\r\nX-Evil: 1", "bob@h"),
                 std::string("Return-Path: <a@b??X-Evil: 1>\nDelivered-To: bob@h\n"));
}

Test(message_format, whole_entries) {
    setenv("TZ", "UTC", 1);
    tzset();
    MailMessage m{"a@b", "bob@h", "Subject: x\r\n\r\nFrom me\r\nhi", ""};
    cr_expect_eq(mbox_entry(m, 0), std::string("From a@b Thu Jan  1 00:00:00 1970\n"
                                               "Return-Path: <a@b>\nDelivered-To: bob@h\n"
                                               "Subject: x\n\n>From me\nhi\n\n"));
    cr_expect_eq(maildir_file(m), std::string("Return-Path: <a@b>\nDelivered-To: bob@h\n"
                                              "Subject: x\n\nFrom me\nhi\n"));
}

Test(message_format, entry_size) {
    setenv("TZ", "UTC", 1);
    tzset();
    for (const auto& c : kBody) {
        MailMessage m{"a b@c\n", "bob@h\r", c.in, ""};
        cr_expect_eq(mbox_entry_size(m, 1700000000), mbox_entry(m, 1700000000).size(), "%s",
                     c.label);
    }
}

// Loop detection's view of the header: Received fields counted, Delivered-To values
// collected (case, white space and continuation lines), nothing from the body.
Test(message_format, scan_headers) {
    struct Case {
        const char* msg;
        size_t received;
        std::vector<std::string> delivered;
    };
    const Case cases[] = {
        {"", 0, {}},
        {"\r\nReceived: x\r\nDelivered-To: a@b\r\n", 0, {}},  // all body
        {"Subject: x\r\n\r\nReceived: y\r\n", 0, {}},
        {"Received: a\r\n b\r\nRECEIVED: c\r\nreceived :d\r\n\r\n", 3, {}},
        {"Delivered-To: Bob@Example.ORG \r\ndelivered-to:\r\n  al@x\r\n\r\n",
         0,
         {"bob@example.org", "al@x"}},
        {"X-Delivered-To: a@b\r\nNo colon here\r\n\r\n", 0, {}},
        {"Received: a\nDelivered-To: c@d\n\nbody\n", 1, {"c@d"}},  // LF only
    };
    for (const auto& c : cases) {
        HeaderFacts f = scan_headers(c.msg);
        cr_expect_eq(f.received, c.received, "%s: %zu Received", c.msg, f.received);
        cr_expect(f.delivered_to == c.delivered, "%s: %zu Delivered-To", c.msg,
                  f.delivered_to.size());
    }
    HeaderFacts f = scan_headers("Delivered-To: bob@example.org\r\n\r\n");
    cr_expect(f.delivered_to_has("Bob@Example.org"));
    cr_expect(!f.delivered_to_has("bob@example.or"));
    cr_expect(f.ended);
}

// ended: only a whole empty line ends the header section, so that a scan of a prefix can
// tell whether the rest of the message matters.
Test(message_format, scan_headers_says_where_the_header_ended) {
    struct Case {
        const char* msg;
        bool ended;
    };
    const Case cases[] = {
        {"", false},
        {"Subject: x\r\n", false},
        {"Subject: x\r\nDelivered-To: a@", false},  // cut in a field
        {"Subject: x\r\n\r", false},                // cut in the empty line
        {"Subject: x\r\n\r\n", true},
        {"Subject: x\n\n", true},
        {"\r\nbody", true},
        {"Subject: x\r\n\r\nbody\r\n", true},
    };
    for (const auto& c : cases)
        cr_expect_eq(scan_headers(c.msg).ended, c.ended, "%s", c.msg);
}
