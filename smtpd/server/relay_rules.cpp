// relay_rules.cpp - see relay_rules.hpp.
#include "smtpd/server/relay_rules.hpp"

namespace tegami::smtpd {

namespace {

std::vector<std::string_view> split_owners(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            ++i;
        size_t j = i;
        while (j < s.size() && s[j] != ',' && s[j] != ' ' && s[j] != '\t')
            ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace

std::optional<Reply> relay_trick(const Mailbox& rcpt) {
    std::string who = "<" + rcpt.str() + ">: ";
    if (rcpt.routed) return make_reply(550, "5.7.1", who + "Relaying denied (source route)");
    bool quoted = !rcpt.local.empty() && rcpt.local.front() == '"';
    std::string local = unquote_local(rcpt.local);
    if (local.find('%') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (%-hack)");
    if (local.find('!') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (bang path)");
    if (quoted && local.find('@') != std::string::npos)
        return make_reply(550, "5.7.1", who + "Relaying denied (quoted @ in the local part)");
    return std::nullopt;
}

bool sender_login_ok(std::string_view login, const Mailbox& sender,
                     const std::vector<std::string>& local_domains, std::string_view owners) {
    if (sender.null()) return true;
    std::string addr = canonical_address(sender);
    if (iequals(addr, login)) return true;
    if (login.find('@') == std::string_view::npos && !sender.domain.empty() &&
        iequals(unquote_local(sender.local), login)) {
        for (const auto& d : local_domains)
            if (iequals(d, sender.domain)) return true;
    }
    for (std::string_view o : split_owners(owners))
        if (o == login) return true;
    return false;
}

}  // namespace tegami::smtpd
