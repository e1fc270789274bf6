// error_target.cpp - see error_target.hpp. Called by local's alias expansion and the
// virtusertable lookup (smtpd at RCPT, local at delivery).
#include "lib/mail/error_target.hpp"

#include "lib/mail/reply.hpp"

namespace tegami {

namespace {

bool digit(char c) {
    return c >= '0' && c <= '9';
}

// '2' for 250, ...
char spec_class(uint32_t code) {
    return static_cast<char>('0' + code / 100);
}

void skip_spaces(std::string_view& s) {
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
}

// The sysexits names sendmail's error mailer takes in place of a code, and the enhanced
// code each stands for ("" for the caller's permanent default).
struct ExitName {
    const char* name;
    const char* dsn;
};
constexpr ExitName kExitNames[] = {
    {"usage", "5.5.4"},    {"nouser", "5.1.1"},   {"nohost", "5.1.2"},   {"unavailable", ""},
    {"software", "5.3.0"}, {"tempfail", "4.0.0"}, {"protocol", "5.5.0"}, {"config", "5.3.5"},
};

bool same_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
        if (x != b[i]) return false;
    }
    return true;
}

}  // namespace

ErrorTarget parse_error_target(std::string_view spec, std::string_view default_text,
                               std::string_view default_perm_dsn) {
    ErrorTarget t;
    skip_spaces(spec);
    // An enhanced code "C.D.D" (C 2, 4 or 5; each D 1-3 digits), then ':' or a space.
    std::string dsn;
    size_t len = 0;
    std::string_view head = spec.substr(0, spec.find_first_of(": "));
    bool named = false;
    if (enhanced_code_prefix(head, len) && len == head.size()) {
        dsn.assign(spec.substr(0, len));
        spec.remove_prefix(len);
        if (!spec.empty() && (spec.front() == ':' || spec.front() == ' ')) spec.remove_prefix(1);
    } else {
        for (const ExitName& n : kExitNames) {
            if (!same_nocase(head, n.name)) continue;
            named = true;
            dsn = *n.dsn ? n.dsn : std::string(default_perm_dsn);
            spec.remove_prefix(head.size());
            if (!spec.empty() && (spec.front() == ':' || spec.front() == ' '))
                spec.remove_prefix(1);
            break;
        }
    }
    // A reply code: three digits alone or before a space or '-'.
    bool has_code = false;
    if (spec.size() >= 3 && digit(spec[0]) && digit(spec[1]) && digit(spec[2]) &&
        (spec.size() == 3 || spec[3] == ' ' || spec[3] == '-')) {
        has_code = true;
        t.code =
            static_cast<uint32_t>((spec[0] - '0') * 100 + (spec[1] - '0') * 10 + (spec[2] - '0'));
        spec.remove_prefix(spec.size() > 3 ? 4 : 3);
    }
    // The reply code decides the class, else the enhanced code; a refusal either way.
    const char cls = has_code ? spec_class(t.code) : !dsn.empty() ? dsn[0] : '5';
    t.status = cls == '4' ? 4 : 5;
    const char want = t.status == 4 ? '4' : '5';
    if (!has_code && dsn.empty() && !named)
        t.problem = "no reply code or enhanced status code";
    else if (cls != '4' && cls != '5')
        t.problem = std::string("a class ") + cls + " code is not a refusal (4xx or 5xx)";
    else if (!dsn.empty() && dsn[0] != want)
        t.problem =
            "enhanced status code " + dsn + " does not match reply code " + std::to_string(t.code);
    t.dsn = !dsn.empty() && dsn[0] == want ? dsn
            : t.status == 4                ? std::string("4.0.0")
                                           : std::string(default_perm_dsn);
    skip_spaces(spec);
    if (spec.empty()) {
        t.text.assign(default_text);
        if (t.problem.empty()) t.problem = "no text";
    } else {
        t.text.assign(spec);
    }
    return t;
}

}  // namespace tegami
