// virtual.cpp - see virtual.hpp. Called by smtpd and local; trusts the map's values no
// more than alias targets (local expands them with the same rules).
#include "lib/map/virtual.hpp"

#include "lib/core/log.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/error_target.hpp"

namespace tegami {

bool is_virtual_domain(const Config& c, std::string_view domain) {
    for (const auto& d : c.virtual_domains)
        if (iequals(d, domain)) return true;
    return false;
}

std::string virtual_substitute(std::string_view value, std::string_view user,
                               std::string_view detail) {
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 1 < value.size() && value[i + 1] >= '1' && value[i + 1] <= '3') {
            char n = value[++i];
            if (n == '1') out += user;
            if (n == '2') out += detail;
            if (n == '3' && !detail.empty()) out += "+" + std::string(detail);
            continue;
        }
        out += value[i];
    }
    return out;
}

Result<VirtualTarget> virtual_lookup(map::MapRef& map, std::string_view local,
                                     std::string_view domain, std::string_view delimiter) {
    std::string user(local), detail;
    bool has_detail = false;
    size_t cut = delimiter.empty() ? std::string_view::npos : local.find(delimiter);
    if (cut != std::string_view::npos && cut > 0) {
        user.assign(local.substr(0, cut));
        detail.assign(local.substr(cut + delimiter.size()));
        has_detail = true;
    }
    std::string at = "@" + std::string(domain);
    std::vector<std::string> keys;
    if (has_detail) {
        keys.push_back(std::string(local) + at);
        keys.push_back(user + std::string(delimiter) + "*" + at);
    }
    keys.push_back(user + at);
    keys.push_back(at);
    for (const auto& k : keys) {
        auto v = map.lookup(k);
        if (!v) return v.error();
        if (!v.value()) continue;
        std::string value = virtual_substitute(**v, user, detail);
        VirtualTarget t;
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.erase(0, 1);
        if (value.size() >= 6 && iequals(std::string_view(value).substr(0, 6), "error:")) {
            ErrorTarget e = parse_error_target(std::string_view(value).substr(6),
                                               "refused by the virtual user table", "5.1.1");
            if (!e.problem.empty())
                log_warning("virtusertable: %s: \"%s\": %s", k.c_str(), value.c_str(),
                            e.problem.c_str());
            t.kind = VirtualTarget::Kind::error;
            t.status = e.status;
            t.dsn = std::move(e.dsn);
            t.text = std::move(e.text);
            return t;
        }
        t.kind = VirtualTarget::Kind::address;
        t.target = value;
        return t;
    }
    return VirtualTarget{};
}

}  // namespace tegami
