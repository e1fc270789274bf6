// smtp_command_fuzz.cpp - fuzz target for the SMTP command-line parsers
// (lib/mail/smtp_command.hpp): split_command, parse_mail, parse_rcpt, parse_helo and
// parse_params over one untrusted line. The first input byte chooses the flags
// (SMTPUTF8 allowed, EHLO or HELO); the rest is the line.
//
// Invariants checked beyond "no crash": the verb and argument are views into the line;
// an accepted MAIL or RCPT, written back out as "FROM:<path> params" (DSN values through
// the encoders the remote client uses), parses to the same mailbox and parameters; an accepted HELO
// word is printable and parses to itself; accepted ESMTP parameters, joined again, parse to the
// same list; UTF-8 in a path is only ever accepted when SMTPUTF8 allows it.
//
// fuzz_smtp_command is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mail/smtp_command.hpp"

using namespace tegami;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "smtp_command fuzz: invariant broken: %s\n", what);
    std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

// The re-parsed mailbox b of a: same parts, and the UTF-8 flag of its own octets (a's flag
// may also come from a source route, which the re-serialised path no longer has).
bool same_mailbox(const Mailbox& a, const Mailbox& b) {
    return a.local == b.local && a.domain == b.domain &&
           b.utf8 == (has_non_ascii(b.local) || has_non_ascii(b.domain)) && (!b.utf8 || a.utf8);
}

// "<path>" for a parsed mailbox, the form a client would send.
std::string path_text(const Mailbox& m) {
    return "<" + m.str() + ">";
}

void check_split(std::string_view line) {
    CommandLine c = split_command(line);
    require(inside(c.name, line) && inside(c.arg, line), "verb or argument outside the line");
    require(c.name.find(' ') == std::string_view::npos, "space in the verb");
    require(c.arg.empty() || (c.arg.back() != ' ' && c.arg.back() != '\t'),
            "trailing blank in the argument");
    if (c.verb != Verb::unknown)
        require(iequals(c.name, verb_name(c.verb)), "verb does not match its name");
}

void check_mail(std::string_view arg) {
    auto m = parse_mail(arg);
    if (!m) {
        require(m.error().code >= 500 && m.error().code < 600, "MAIL refused without a 5xx");
        return;
    }
    const MailParams& p = m->params;
    require(!m->sender.utf8 || p.smtputf8, "UTF-8 sender accepted without SMTPUTF8");
    require(p.any == (p.has_size || p.body != BodyType::none || p.smtputf8 ||
                      p.ret != DsnRet::none || p.has_envid),
            "params.any disagrees with the parameters");
    require(!p.has_envid || (!p.envid.empty() && p.envid.size() <= kMaxEnvidLength),
            "ENVID accepted empty or too long");
    std::string again = "FROM:" + path_text(m->sender);
    if (p.has_size) again += " SIZE=" + std::to_string(p.size);
    if (p.body == BodyType::seven_bit) again += " BODY=7BIT";
    if (p.body == BodyType::eight_bit_mime) again += " BODY=8BITMIME";
    if (p.smtputf8) again += " SMTPUTF8";
    if (p.ret == DsnRet::full) again += " RET=FULL";
    if (p.ret == DsnRet::hdrs) again += " RET=HDRS";
    if (p.has_envid) again += " ENVID=" + xtext_encode(p.envid);
    auto m2 = parse_mail(again);
    require(m2.ok(), "re-serialised MAIL refused");
    require(same_mailbox(m->sender, m2->sender), "re-serialised MAIL gives another sender");
    const MailParams& q = m2->params;
    require(q.has_size == p.has_size && q.size == p.size && q.body == p.body &&
                q.smtputf8 == p.smtputf8 && q.any == p.any && q.ret == p.ret &&
                q.has_envid == p.has_envid && q.envid == p.envid,
            "re-serialised MAIL gives other parameters");
}

void check_rcpt(std::string_view arg, bool utf8) {
    auto r = parse_rcpt(arg, utf8);
    if (!r) {
        require(r.error().code >= 500 && r.error().code < 600, "RCPT refused without a 5xx");
        return;
    }
    require(!r->rcpt.null(), "null recipient accepted");
    require(!r->rcpt.utf8 || utf8, "UTF-8 recipient accepted without SMTPUTF8");
    uint32_t n = r->notify;
    require(!(n & kDsnNotifyNever) || n == kDsnNotifyNever, "NEVER accepted with another");
    require(r->orcpt.empty() || r->orcpt.find(';') != std::string::npos, "ORCPT without type");
    std::string again = "TO:" + path_text(r->rcpt);
    if (n) again += " NOTIFY=" + notify_value(n);
    if (!r->orcpt.empty()) again += " ORCPT=" + orcpt_param_value(r->orcpt);
    auto r2 = parse_rcpt(again, utf8);
    require(r2.ok(), "re-serialised RCPT refused");
    require(same_mailbox(r->rcpt, r2->rcpt), "re-serialised RCPT gives another recipient");
    require(r2->notify == n && r2->orcpt == r->orcpt, "re-serialised RCPT gives other DSN");
}

void check_helo(std::string_view arg, bool ehlo) {
    auto parsed = parse_helo(arg, ehlo);
    if (!parsed) return;
    const std::string& h = parsed.value();
    require(!h.empty() && arg.find(h) != std::string_view::npos, "HELO word not in the line");
    for (char ch : h) {
        auto c = static_cast<unsigned char>(ch);
        require(c > 32 && c < 127, "HELO word not printable");
    }
    auto h2 = parse_helo(h, ehlo);
    require(h2.ok() && h2.value() == h, "HELO word does not parse to itself");
}

void check_params(std::string_view arg, bool utf8) {
    auto parsed = parse_params(arg, utf8);
    if (!parsed) return;
    const std::vector<EsmtpParam>& p = parsed.value();
    std::string again;
    for (const auto& e : p) {
        require(!e.keyword.empty() && inside(e.keyword, arg), "bad keyword view");
        require(!e.has_value || (!e.value.empty() && inside(e.value, arg)), "bad value view");
        require(e.keyword.find_first_of("= ") == std::string_view::npos,
                "keyword holds = or space");
        require(e.value.find(' ') == std::string_view::npos, "value holds a space");
        again += ' ';
        again += e.keyword;
        if (e.has_value) {
            again += '=';
            again += e.value;
        }
    }
    auto p2 = parse_params(again, utf8);
    require(p2.ok() && p2->size() == p.size(), "re-joined parameters do not parse alike");
    for (size_t i = 0; i < p.size(); ++i) {
        const auto& a = p[i];
        const auto& b = p2.value()[i];
        require(a.keyword == b.keyword && a.value == b.value && a.has_value == b.has_value,
                "re-joined parameter differs");
    }
}

}  // namespace

int fuzz_smtp_command(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool utf8 = (data[0] & 1) != 0;
    const bool ehlo = (data[0] & 2) != 0;
    std::string_view line(reinterpret_cast<const char*>(data) + 1, size - 1);
    check_split(line);
    std::string_view arg = split_command(line).arg;
    // Each parser sees both the argument of the line's own verb and the raw line.
    for (std::string_view s : {arg, line}) {
        check_mail(s);
        check_rcpt(s, utf8);
        check_helo(s, ehlo);
        check_params(s, utf8);
        (void)valid_xtext(s);
    }
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_smtp_command(data, size);
}
#endif
