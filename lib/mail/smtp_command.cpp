// smtp_command.cpp - see smtp_command.hpp. Pure functions over the client's line.
#include "lib/mail/smtp_command.hpp"

#include <limits>

namespace tegami {

namespace {

struct VerbName {
    const char* name;
    Verb verb;
};

constexpr VerbName kVerbs[] = {
    {"helo", Verb::helo}, {"ehlo", Verb::ehlo}, {"mail", Verb::mail}, {"rcpt", Verb::rcpt},
    {"data", Verb::data}, {"rset", Verb::rset}, {"noop", Verb::noop}, {"quit", Verb::quit},
    {"help", Verb::help}, {"vrfy", Verb::vrfy}, {"expn", Verb::expn}, {"starttls", Verb::starttls},
    {"auth", Verb::auth}, {"xuid", Verb::xuid},
};

Reply param_syntax(const char* what) {
    return make_reply(501, "5.5.4", std::string("Bad parameter syntax: ") + what);
}

bool is_keyword_char(char c, bool first) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || (!first && c == '-');
}

bool valid_value(std::string_view v, bool allow_utf8) {
    if (v.empty()) return false;
    for (char ch : v) {
        auto c = static_cast<unsigned char>(ch);
        bool ascii = c >= 33 && c <= 126 && c != '=';
        if (!ascii && !(allow_utf8 && c >= 0x80)) return false;
    }
    return !allow_utf8 || valid_utf8(v);
}

// Skips the keyword ("FROM:" / "TO:"), then any spaces; returns the rest.
bool strip_keyword(std::string_view arg, std::string_view kw, std::string_view& rest) {
    if (arg.size() < kw.size() || !iequals(arg.substr(0, kw.size()), kw)) return false;
    rest = arg.substr(kw.size());
    while (!rest.empty() && rest.front() == ' ')
        rest.remove_prefix(1);
    return true;
}

ReplyOr<uint64_t> parse_size_value(const EsmtpParam& p) {
    if (!p.has_value || p.value.size() > 20) return param_syntax("SIZE");
    uint64_t v = 0;
    for (char c : p.value) {
        if (c < '0' || c > '9') return param_syntax("SIZE");
        auto d = static_cast<uint64_t>(c - '0');
        v = v > (std::numeric_limits<uint64_t>::max() - d) / 10
                ? std::numeric_limits<uint64_t>::max()
                : v * 10 + d;
    }
    return v;
}

Reply apply_mail_param(const EsmtpParam& p, MailParams& out) {
    Reply dup = make_reply(501, "5.5.4", "Duplicate parameter");
    if (iequals(p.keyword, "SIZE")) {
        if (out.has_size) return dup;
        auto v = parse_size_value(p);
        if (!v) return v.error();
        out.has_size = true;
        out.size = v.value();
    } else if (iequals(p.keyword, "BODY")) {
        if (out.body != BodyType::none) return dup;
        if (p.has_value && iequals(p.value, "7BIT"))
            out.body = BodyType::seven_bit;
        else if (p.has_value && iequals(p.value, "8BITMIME"))
            out.body = BodyType::eight_bit_mime;
        else if (p.has_value && !p.value.empty() &&
                 p.value.find_first_not_of(
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") ==
                     std::string_view::npos)
            return make_reply(555, "5.5.4", "Unsupported BODY type");  // e.g. BINARYMIME
        else
            return param_syntax("BODY");
    } else if (iequals(p.keyword, "SMTPUTF8")) {
        if (out.smtputf8) return dup;
        if (p.has_value) return param_syntax("SMTPUTF8 takes no value");
        out.smtputf8 = true;
    } else if (iequals(p.keyword, "RET")) {
        if (out.ret != DsnRet::none) return dup;
        auto v = parse_ret(p.value);
        if (!v) return v.error();
        out.ret = v.value();
    } else if (iequals(p.keyword, "ENVID")) {
        if (out.has_envid) return dup;
        auto v = parse_envid(p.value);
        if (!v) return v.error();
        out.has_envid = true;
        out.envid = std::move(v).value();
    } else {
        return make_reply(555, "5.5.4", "Unsupported parameter");
    }
    out.any = true;
    return make_reply(250, "", "");
}

Reply apply_rcpt_param(const EsmtpParam& p, bool utf8_allowed, RcptCommand& out) {
    Reply dup = make_reply(501, "5.5.4", "Duplicate parameter");
    if (iequals(p.keyword, "NOTIFY")) {
        if (out.notify) return dup;
        auto v = parse_notify(p.value);
        if (!v) return v.error();
        out.notify = v.value();
    } else if (iequals(p.keyword, "ORCPT")) {
        if (!out.orcpt.empty()) return dup;
        auto v = parse_orcpt(p.value, utf8_allowed);
        if (!v) return v.error();
        out.orcpt = std::move(v).value();
    } else {
        return make_reply(555, "5.5.4", "Unsupported parameter");
    }
    out.any = true;
    return make_reply(250, "", "");
}

Reply need_utf8() {
    return make_reply(553, "5.6.7", "Must declare SMTPUTF8 to send UTF-8 addresses");
}

}  // namespace

const char* verb_name(Verb v) {
    for (const auto& e : kVerbs)
        if (e.verb == v) return e.name;
    return "unknown";
}

CommandLine split_command(std::string_view line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
        line.remove_suffix(1);
    CommandLine c;
    size_t sp = line.find(' ');
    c.name = line.substr(0, sp);
    if (sp != std::string_view::npos) c.arg = line.substr(sp + 1);
    for (const auto& e : kVerbs)
        if (iequals(c.name, e.name)) c.verb = e.verb;
    return c;
}

ReplyOr<std::vector<EsmtpParam>> parse_params(std::string_view s, bool allow_utf8) {
    std::vector<EsmtpParam> out;
    while (!s.empty()) {
        if (s.front() == ' ') {
            s.remove_prefix(1);
            continue;
        }
        size_t end = s.find(' ');
        std::string_view word = s.substr(0, end);
        s = end == std::string_view::npos ? std::string_view() : s.substr(end);
        EsmtpParam p;
        size_t eq = word.find('=');
        p.keyword = word.substr(0, eq);
        if (eq != std::string_view::npos) {
            p.has_value = true;
            p.value = word.substr(eq + 1);
            if (!valid_value(p.value, allow_utf8)) return param_syntax("bad value");
        }
        if (p.keyword.empty()) return param_syntax("empty keyword");
        for (size_t i = 0; i < p.keyword.size(); ++i)
            if (!is_keyword_char(p.keyword[i], i == 0)) return param_syntax("bad keyword");
        out.push_back(p);
    }
    return out;
}

ReplyOr<MailCommand> parse_mail(std::string_view arg) {
    std::string_view rest;
    if (!strip_keyword(arg, "FROM:", rest))
        return make_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    size_t used = 0;
    auto path = parse_path(rest, PathKind::reverse, used);
    if (!path) return path.error();
    rest.remove_prefix(used);
    if (!rest.empty() && rest.front() != ' ') return param_syntax("text after address");
    auto params = parse_params(rest, true);
    if (!params) return params.error();
    MailCommand m;
    m.sender = std::move(path).value();
    for (const auto& p : params.value()) {
        Reply r = apply_mail_param(p, m.params);
        if (r.code != 250) return r;
    }
    bool utf8_values = false;
    for (const auto& p : params.value())
        utf8_values = utf8_values || has_non_ascii(p.value);
    if ((m.sender.utf8 || utf8_values) && !m.params.smtputf8) return need_utf8();
    return m;
}

ReplyOr<RcptCommand> parse_rcpt(std::string_view arg, bool utf8_allowed) {
    std::string_view rest;
    if (!strip_keyword(arg, "TO:", rest))
        return make_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    size_t used = 0;
    auto path = parse_path(rest, PathKind::forward, used);
    if (!path) return path.error();
    rest.remove_prefix(used);
    if (!rest.empty() && rest.front() != ' ') return param_syntax("text after address");
    auto params = parse_params(rest, utf8_allowed);
    if (!params) return params.error();
    if (path->utf8 && !utf8_allowed) return need_utf8();
    RcptCommand c;
    c.rcpt = std::move(path).value();
    for (const auto& p : params.value()) {
        Reply r = apply_rcpt_param(p, utf8_allowed, c);
        if (r.code != 250) return r;
    }
    return c;
}

ReplyOr<std::string> parse_helo(std::string_view arg, bool ehlo) {
    while (!arg.empty() && arg.front() == ' ')
        arg.remove_prefix(1);
    std::string_view word = arg.substr(0, arg.find(' '));
    if (word.empty())
        return make_reply(501, "5.5.4", ehlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
    for (char ch : word) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 33 || c > 126) return make_reply(501, "5.5.4", "Invalid hostname");
    }
    return std::string(word);
}

bool valid_xtext(std::string_view s) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '+') {
            if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) return false;
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return false;
        }
    }
    return true;
}

}  // namespace tegami
