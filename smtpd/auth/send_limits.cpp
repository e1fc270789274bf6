// send_limits.cpp - see send_limits.hpp.
#include "smtpd/auth/send_limits.hpp"

#include <charconv>

#include "lib/core/log.hpp"

namespace tegami::auth {

SendLimits default_limits(const Config& c) {
    return SendLimits{c.sender_limit_hour_messages, c.sender_limit_hour_recipients,
                      c.sender_limit_day_messages, c.sender_limit_day_recipients};
}

Result<SendLimits> parse_limit_override(std::string_view v, const SendLimits& defaults) {
    SendLimits out = defaults;
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
            s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
            s.remove_suffix(1);
        return s;
    };
    v = trim(v);
    if (v.empty()) return make_error(Exit::data_err, "empty limits");
    if (v == "unlimited") return SendLimits{};
    while (!v.empty()) {
        size_t end = v.find_first_of(" \t,");
        std::string_view word = v.substr(0, end);
        v = end == std::string_view::npos ? std::string_view() : v.substr(end + 1);
        v = trim(v);
        if (word.empty()) continue;
        size_t eq = word.find('=');
        if (eq == std::string_view::npos)
            return make_error(Exit::data_err, "\"" + std::string(word) + "\": want name=number");
        std::string_view name = word.substr(0, eq), num = word.substr(eq + 1);
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
        if (num.empty() || ec != std::errc() || p != num.data() + num.size())
            return make_error(Exit::data_err, "\"" + std::string(word) + "\": not a number");
        if (name == "hour_messages")
            out.hour_messages = n;
        else if (name == "hour_recipients")
            out.hour_recipients = n;
        else if (name == "day_messages")
            out.day_messages = n;
        else if (name == "day_recipients")
            out.day_recipients = n;
        else
            return make_error(Exit::data_err, "\"" + std::string(name) + "\": unknown limit");
    }
    return out;
}

SendLimits SendLimiter::limits_for(const Config& c, const std::string& identity, bool& ok) {
    SendLimits d = default_limits(c);
    ok = true;
    if (c.sender_limit_map.empty()) return d;
    if (!map_ || map_->spec() != c.sender_limit_map)
        map_ = std::make_unique<map::MapRef>(c.sender_limit_map);
    auto v = map_->lookup(identity);
    if (!v) {
        log_error("sender_limit_map %s: %s", map_->spec().c_str(), v.error().message.c_str());
        ok = false;
        return d;
    }
    if (!v->has_value()) return d;
    auto l = parse_limit_override(**v, d);
    if (!l) {
        log_warning("sender_limit_map %s: entry for %s: %s (the defaults apply)",
                    map_->spec().c_str(), identity.c_str(), l.error().message.c_str());
        return d;
    }
    return *l;
}

ipc::LimitReplyMsg SendLimiter::check(const Config& c, const std::string& identity, time_t now) {
    ipc::LimitReplyMsg r;
    bool ok = true;
    SendLimits l = limits_for(c, identity, ok);
    if (!ok) {
        r.status = ipc::kStatusTemp;  // an override we cannot read must not lift a limit
        return r;
    }
    r.status = ipc::kStatusOk;
    auto fill = [&](Window w, uint64_t mm, uint64_t mr, ipc::LimitWindowMsg& out) {
        WindowUsage u = summarize(store_->buckets(identity, w, now), w, now, mm, mr);
        out.max_messages = u.max_messages;
        out.max_recipients = u.max_recipients;
        out.messages = u.messages;
        out.recipients = u.recipients;
        out.messages_free_at = static_cast<uint64_t>(u.messages_free_at);
        out.recipients_free_at = static_cast<uint64_t>(u.recipients_free_at);
        out.next_drop = static_cast<uint64_t>(u.next_drop);
    };
    fill(Window::hour, l.hour_messages, l.hour_recipients, r.hour);
    fill(Window::day, l.day_messages, l.day_recipients, r.day);
    return r;
}

void SendLimiter::count(const ipc::LimitCountMsg& m, time_t now) {
    if (m.identity.empty() || m.identity.size() > 512) return;
    store_->add(m.identity, m.messages, m.recipients, now);
}

}  // namespace tegami::auth
