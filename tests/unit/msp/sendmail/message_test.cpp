// message_test.cpp - tests for msp/sendmail/message.cpp: line ends, the lone dot,
// long lines, -t recipients, Bcc removal and the headers sendmail adds. Bad inputs first.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "msp/sendmail/message.hpp"

using namespace tegami::msp;

namespace {

std::string norm(std::string_view in, bool ignore_dots, size_t piece = 0) {
    Normalizer n(ignore_dots);
    std::string out;
    if (piece == 0) {
        n.feed(in, out);
    } else {
        for (size_t i = 0; i < in.size(); i += piece)
            n.feed(in.substr(i, piece), out);
    }
    n.finish(out);
    return out;
}

}  // namespace

Test(normalizer, bare_cr_lf_nul_and_no_trailing_newline) {
    struct Case {
        const char* in;
        size_t len;
        bool ignore_dots;
        const char* out;
        size_t out_len;
    } cases[] = {
        {"a\nb", 3, true, "a\r\nb\r\n", 6},
        {"a\r\nb\r\n", 6, true, "a\r\nb\r\n", 6},
        {"a\rb\n", 4, true, "a\r\nb\r\n", 6},
        {"a\0b\n", 4, true, "a\0b\r\n", 5},
        {"", 0, true, "", 0},
        {"x\n.\ny\n", 6, false, "x\r\n", 3},           // lone dot ends the message
        {"x\n.\ny\n", 6, true, "x\r\n.\r\ny\r\n", 9},  // -i keeps it
        {"x\n..y\n", 6, false, "x\r\n.y\r\n", 7},      // stdin unstuffed without -i
        {"x\n..y\n", 6, true, "x\r\n..y\r\n", 8},
        {"x\n.", 3, false, "x\r\n", 3},
        {"x\n..\n", 5, false, "x\r\n.\r\n", 6},
    };
    for (const auto& c : cases) {
        std::string in(c.in, c.len), want(c.out, c.out_len);
        cr_expect_eq(norm(in, c.ignore_dots), want, "input %zu bytes", c.len);
        cr_expect_eq(norm(in, c.ignore_dots, 1), want, "byte by byte, %zu bytes", c.len);
    }
}

Test(normalizer, long_lines_are_broken_with_a_bang) {
    std::string line(998, 'x');
    cr_expect_eq(norm(line + "\n", true), line + "\r\n");  // 998 is allowed
    std::string longer(2500, 'y');
    std::string out = norm(longer + "\n", true);
    size_t pos = 0, lines = 0, total = 0;
    while (pos < out.size()) {
        size_t eol = out.find("\r\n", pos);
        cr_assert_neq(eol, std::string::npos);
        cr_expect_leq(eol - pos, kMaxLine);
        std::string_view l(out.data() + pos, eol - pos);
        total += l.size() - (l.back() == '!' ? 1 : 0);
        pos = eol + 2;
        ++lines;
    }
    cr_expect_eq(total, 2500u);
    cr_expect_eq(lines, 3u);
}

Test(normalizer, eight_bit_is_noticed) {
    Normalizer n(true);
    std::string out;
    n.feed("caf\xc3\xa9\n", out);
    cr_expect(n.eight_bit());
}

Test(headers, address_lists) {
    struct Case {
        const char* in;
        std::vector<std::string> want;
    } cases[] = {
        {"", {}},
        {"undisclosed-recipients:;", {}},
        {"a@x", {"a@x"}},
        {" A Person <a@x>, b@y (Bee), \"Smith, J\" <j@z>", {"a@x", "b@y", "j@z"}},
        {"team: c@x, d@y;, e@z", {"c@x", "d@y", "e@z"}},
        {"<@relay.example:u@dest.example>", {"u@dest.example"}},
        {"bob", {"bob"}},
        {"\"quoted local\"@x", {"\"quoted local\"@x"}},
        {"(comment, with comma) f@x", {"f@x"}},
        {"u@[IPv6:2001:db8::1], <v@[IPv6:::1]>", {"u@[IPv6:2001:db8::1]", "v@[IPv6:::1]"}},
        {"w@[192.0.2.1]", {"w@[192.0.2.1]"}},
    };
    for (const auto& c : cases)
        cr_expect_eq(parse_address_list(c.in), c.want, "%s", c.in);
}

Test(headers, scan_takes_to_cc_bcc_and_resent) {
    std::string m =
        "From: a@x\r\nTo: b@y,\r\n c@z\r\nCc: d@w\r\nBcc: e@v\r\nSubject: s\r\n\r\nbody\r\n";
    HeaderScan s = scan_headers(m);
    cr_expect(s.has_from);
    cr_expect(!s.has_date);
    cr_expect(!s.has_message_id);
    cr_expect_eq(s.recipients, (std::vector<std::string>{"b@y", "c@z", "d@w", "e@v"}));
    std::string r = "To: old@x\r\nResent-To: new@y\r\n\r\n";
    cr_expect_eq(scan_headers(r).recipients, std::vector<std::string>{"new@y"});
    // a message without headers: nothing found, the whole text is body
    HeaderScan none = scan_headers("just text\r\n");
    cr_expect_eq(none.end, 0u);
    cr_expect(none.recipients.empty());
}

Test(headers, edit_removes_bcc_and_adds_what_is_missing) {
    std::string m = "To: b@y\r\nBcc: hidden@v,\r\n more@v\r\nSubject: s\r\n\r\nbody\r\n";
    HeaderScan s = scan_headers(m);
    HeaderEdits e;
    e.hostname = "h.example";
    e.from_address = "alice@h.example";
    e.full_name = "Alice Liddell";
    e.date = "Tue, 1 Dec 2026 00:00:00 +0000";
    e.message_id = "<1.2@h.example>";
    e.auth_warning = "h.example: alice set sender to x@y using -f";
    std::string out = edit_headers(m, s, e);
    cr_expect_eq(out,
                 "Date: Tue, 1 Dec 2026 00:00:00 +0000\r\n"
                 "From: Alice Liddell <alice@h.example>\r\n"
                 "Message-Id: <1.2@h.example>\r\n"
                 "To: b@y\r\nSubject: s\r\n"
                 "X-Authentication-Warning: h.example: alice set sender to x@y using -f\r\n"
                 "\r\nbody\r\n");
    // present headers are kept, a body right after the headers gets its empty line
    std::string m2 = "From: me@x\r\nDate: d\r\nMessage-Id: <m@x>\r\nnot a header line\r\n";
    HeaderEdits e2;
    std::string out2 = edit_headers(m2, scan_headers(m2), e2);
    cr_expect_eq(out2, "From: me@x\r\nDate: d\r\nMessage-Id: <m@x>\r\n\r\nnot a header line\r\n");
    // a leading Unix From_ line is eaten
    std::string m3 = "From someone Tue Dec  1 00:00:00 2026\r\nSubject: x\r\n\r\nb\r\n";
    HeaderEdits e3;
    e3.from_address = "a@b";
    e3.bare_from = true;
    std::string out3 = edit_headers(m3, scan_headers(m3), e3);
    cr_expect_eq(out3.find("From someone"), std::string::npos);
    cr_expect_neq(out3.find("From: a@b\r\n"), std::string::npos);
}

Test(headers, from_value_and_gecos) {
    cr_expect_eq(from_header_value("", "a@b"), "a@b");
    cr_expect_eq(from_header_value("CronDaemon", "root@h"), "CronDaemon <root@h>");
    cr_expect_eq(from_header_value("Smith, J.", "j@h"), "\"Smith, J.\" <j@h>");
    cr_expect_eq(from_header_value("a\"b", "j@h"), "\"a\\\"b\" <j@h>");
    cr_expect_eq(gecos_full_name("Charlie &,,,", "root"), "Charlie Root");
    cr_expect_eq(gecos_full_name("", "x"), "");
}

Test(headers, command_line_arguments_are_address_lists) {
    // sendmail reads each recipient argument as an address list (sendtoargv).
    struct Case {
        const char* in;
        std::vector<std::string> want;
    } cases[] = {
        {"", {""}},             // nothing in it: left for the caller to refuse
        {"a b@@c", {"ab@@c"}},  // still one (bad) address
        {"alice", {"alice"}},
        {"<bob@x>", {"bob@x"}},
        {"alice, bob@x", {"alice", "bob@x"}},
        {"Alice Liddell <alice@x>", {"alice@x"}},
        {"\"Smith, J\" <j@x>,k@y", {"j@x", "k@y"}},
        {"root@[IPv6:2001:db8::1]", {"root@[IPv6:2001:db8::1]"}},
    };
    for (const auto& c : cases)
        cr_expect_eq(argument_addresses(c.in), c.want, "%s", c.in);
}

Test(normalizer, a_long_header_line_is_folded_and_stays_a_header) {
    // 60 addresses on one To: line, about 1300 octets: folded at a space, never broken
    // inside an address, and the fields after it stay in the header block.
    std::string to = "To: ";
    std::vector<std::string> want;
    for (int i = 0; i < 60; ++i) {
        std::string a = "someone" + std::to_string(i) + "@example.org";
        to += (i ? ", " : "") + a;
        want.push_back(a);
    }
    std::string in = to + "\nSubject: s\n\nbody " + std::string(1200, 'b') + "\n";
    for (size_t piece : {size_t(0), size_t(1), size_t(7)}) {
        std::string out = norm(in, true, piece);
        HeaderScan s = scan_headers(out);
        cr_expect_eq(s.recipients, want, "piece %zu", piece);
        std::string_view head(out.data(), s.end);
        cr_expect_neq(head.find("\r\nSubject: s\r\n"), std::string_view::npos, "piece %zu", piece);
        cr_expect_eq(head.find('!'), std::string_view::npos, "piece %zu", piece);
        size_t pos = 0;
        while (pos < out.size()) {  // every line within the limit
            size_t eol = out.find("\r\n", pos);
            cr_assert_neq(eol, std::string::npos);
            cr_expect_leq(eol - pos, kMaxLine);
            pos = eol + 2;
        }
        // the body line is still broken the old way, with a bang
        cr_expect_neq(out.find("!\r\n"), std::string::npos, "piece %zu", piece);
    }
    // addresses joined by bare commas (PHP's implode(",", ...)): folded after a comma
    std::string bare = "To: ";
    for (size_t i = 0; i < want.size(); ++i)
        bare += (i ? "," : "") + want[i];
    std::string folded = norm(bare + "\nSubject: s\n\nb\n", true);
    HeaderScan bs = scan_headers(folded);
    cr_expect_eq(bs.recipients, want);
    cr_expect_eq(folded.find('!'), std::string::npos);
    // a header line with no space to fold at is broken, but continues as a header
    std::string solid = "X-Long: " + std::string(1500, 'z') + "\nSubject: t\n\nb\n";
    std::string out = norm(solid, true);
    HeaderScan s = scan_headers(out);
    std::string_view head(out.data(), s.end);
    cr_expect_neq(head.find("\r\nSubject: t\r\n"), std::string_view::npos);
    size_t z = 0;
    for (char c : out)
        z += c == 'z';
    cr_expect_eq(z, 1500u);
}
