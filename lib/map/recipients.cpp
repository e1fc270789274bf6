// recipients.cpp - see recipients.hpp. Called by smtpd (RCPT) and local (expansion);
// trusts nothing in the local part: it is only compared with alias names and passed to
// getpwnam_r, never used as a path or a command.
#include "lib/map/recipients.hpp"

#include <pwd.h>

#include "lib/mail/address.hpp"
#include "lib/net/own_addresses.hpp"

#include <cctype>
#include <vector>

namespace tegami {

namespace {

// 1: found with uid != 0, 0: found with uid 0, -1: not found.
int passwd_kind(const std::string& name) {
    if (name.empty()) return -1;
    passwd pw{};
    passwd* res = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr)
        return -1;
    return pw.pw_uid == 0 ? 0 : 1;
}

}  // namespace

LocalKind classify_local(std::string_view local_part, const AliasFile* aliases,
                         std::string_view delimiter) {
    if (local_part.empty() || local_part.find('\0') != std::string_view::npos)
        return LocalKind::unknown;
    if (aliases != nullptr && aliases->find(local_part) != nullptr) return LocalKind::alias;
    // LIST-request without its own alias goes to owner-LIST, as local expands it.
    constexpr std::string_view kRequest = "-request";
    if (aliases != nullptr && local_part.size() > kRequest.size() &&
        iequals(local_part.substr(local_part.size() - kRequest.size()), kRequest) &&
        aliases->find("owner-" + std::string(local_part.substr(
                                     0, local_part.size() - kRequest.size()))) != nullptr)
        return LocalKind::alias;
    size_t cut = delimiter.empty() ? std::string_view::npos : local_part.find(delimiter);
    if (cut != std::string_view::npos && cut > 0) {
        LocalKind base = classify_local(local_part.substr(0, cut), aliases);
        if (base != LocalKind::unknown) return base;
    }
    std::string name(local_part);
    int kind = passwd_kind(name);
    if (kind < 0) {
        std::string low = name;
        for (char& c : low)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (low != name) kind = passwd_kind(low);
    }
    if (kind < 0) return LocalKind::unknown;
    return kind == 0 ? LocalKind::root_user : LocalKind::user;
}

bool is_local_domain(const Config& c, std::string_view domain) {
    for (const auto& d : c.local_domains)
        if (iequals(d, domain)) return true;
    // user@[one of this host's addresses] is local too (RFC 5321 4.1.3).
    return !domain.empty() && domain.front() == '[' && is_own_address_literal(domain);
}

bool split_address(std::string_view addr, std::string& local, std::string& domain) {
    size_t at = addr.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == addr.size()) return false;
    local.assign(addr.substr(0, at));
    domain.assign(addr.substr(at + 1));
    return true;
}

}  // namespace tegami
