// sasl.cpp - see sasl.hpp.
#include "smtpd/server/sasl.hpp"

#include "lib/sasl/base64.hpp"

namespace tegami::smtpd {

namespace {

bool sasl_name(std::string_view m) {
    if (m.empty() || m.size() > 20) return false;
    for (char c : m)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    return true;
}

}  // namespace

ReplyOr<AuthCommand> parse_auth(std::string_view arg) {
    size_t sp = arg.find(' ');
    std::string_view mech = arg.substr(0, sp);
    std::string_view ir = sp == std::string_view::npos ? std::string_view() : arg.substr(sp + 1);
    if (mech.empty()) return make_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    AuthCommand c;
    for (char ch : mech)
        c.mechanism += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
    if (!sasl_name(c.mechanism))
        return make_reply(504, "5.5.4", "Unrecognized authentication type");
    if (sp == std::string_view::npos) return c;
    if (ir.empty() || ir.find(' ') != std::string_view::npos)
        return make_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    c.has_initial = true;
    if (ir == "=") return c;
    auto d = sasl::base64_decode(ir);
    if (!d) return make_reply(501, "5.5.2", "Cannot decode the initial response (base64)");
    c.initial = std::move(*d);
    return c;
}

ReplyOr<SaslLine> parse_sasl_line(std::string_view line) {
    SaslLine l;
    if (line == "*") {
        l.cancel = true;
        return l;
    }
    auto d = sasl::base64_decode(line);
    if (!d) return make_reply(501, "5.5.2", "Cannot decode the response (base64)");
    l.data = std::move(*d);
    return l;
}

std::string challenge_reply(std::string_view challenge) {
    return "334 " + sasl::base64_encode(challenge) + "\r\n";
}

Reply auth_final_reply(uint32_t status, std::string_view text) {
    switch (status) {
        case ipc::kAuthOk:
            return make_reply(235, "2.7.0", "Authentication successful");
        case ipc::kAuthFail:
            return make_reply(535, "5.7.8", "Authentication credentials invalid");
        case ipc::kAuthMalformed:
            return make_reply(501, "5.5.2", "Malformed authentication data");
        case ipc::kAuthBlocked:
            return make_reply(421, "4.7.0", "Too many failed authentications, try again later");
        case ipc::kAuthNoMech:
            return make_reply(504, "5.5.4", "Unrecognized authentication type");
        case ipc::kAuthWeak:
            return make_reply(534, "5.7.9", "Authentication mechanism is too weak");
        default:
            break;
    }
    (void)text;
    return make_reply(454, "4.7.0", "Temporary authentication failure, try again later");
}

bool auth_allowed(bool tls, bool allow_plaintext_loopback, std::string_view addr) {
    if (tls) return true;
    if (!allow_plaintext_loopback) return false;
    return addr == "::1" || addr.rfind("127.", 0) == 0 || addr.rfind("::ffff:127.", 0) == 0;
}

std::vector<std::string> auth_mechanism_names(const std::vector<std::string>& configured,
                                              bool dovecot, bool channel_binding) {
    std::vector<std::string> v;
    if (!configured.empty()) {
        for (const auto& m : configured)
            if (m != "SCRAM-SHA-256-PLUS" || (channel_binding && !dovecot)) v.push_back(m);
        return v;
    }
    if (dovecot) return {"PLAIN", "LOGIN"};
    if (channel_binding) v.emplace_back("SCRAM-SHA-256-PLUS");
    for (const char* m : {"SCRAM-SHA-256", "PLAIN", "LOGIN"})
        v.emplace_back(m);
    return v;
}

}  // namespace tegami::smtpd
