// send_limits.cpp - see send_limits.hpp.
#include "smtpd/auth/send_limits.hpp"

#include <algorithm>
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
    auto it = held_.find(identity);
    return counts(c, identity, now, it == held_.end() ? Held{} : it->second);
}

ipc::LimitReplyMsg SendLimiter::counts(const Config& c, const std::string& identity, time_t now,
                                       Held extra) {
    ipc::LimitReplyMsg r;
    bool ok = true;
    SendLimits l = limits_for(c, identity, ok);
    if (!ok) {
        r.status = ipc::kStatusTemp;  // an override we cannot read must not lift a limit
        return r;
    }
    r.status = ipc::kStatusOk;
    auto fill = [&](Window w, uint64_t mm, uint64_t mr, ipc::LimitWindowMsg& out) {
        std::vector<Bucket> b = store_->buckets(identity, w, now);
        if (extra.messages || extra.recipients)
            b.push_back(Bucket{bucket_index(w, now), extra.messages, extra.recipients});
        WindowUsage u = summarize(b, w, now, mm, mr);
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

namespace {

// An identity smtpd made: a login or "uid:N", never empty, bounded.
bool valid_identity(const std::string& id) {
    return !id.empty() && id.size() <= 512;
}

// Whether `want` more fits one window's limits (0: none). Only what is asked for is
// checked: a MAIL asks for a message, a RCPT for recipients (and keeps its message).
bool fits(const ipc::LimitWindowMsg& w, uint64_t messages, uint64_t recipients) {
    if (messages && w.max_messages && w.messages + messages > w.max_messages) return false;
    if (recipients && w.max_recipients && w.recipients + recipients > w.max_recipients)
        return false;
    return true;
}

}  // namespace

ipc::LimitReplyMsg SendLimiter::reserve(const Config& c, uint64_t conn,
                                        const ipc::LimitReserveMsg& m, time_t now) {
    ipc::LimitReplyMsg r;
    if (!valid_identity(m.identity)) return r;  // kStatusTemp
    HoldKey key{conn, m.holder};
    auto it = holds_.find(key);
    Held others;
    if (auto h = held_.find(m.identity); h != held_.end()) others = h->second;
    if (it != holds_.end() && it->second.identity == m.identity) {
        others.messages -= it->second.held.messages;
        others.recipients -= it->second.held.recipients;
    }
    r = counts(c, m.identity, now, others);
    if (r.status != ipc::kStatusOk) return r;
    if (!fits(r.hour, m.messages, m.recipients) || !fits(r.day, m.messages, m.recipients)) {
        r.status = ipc::kStatusPerm;
        return r;
    }
    if (it == holds_.end() && holds_.size() >= kMaxHolds) {
        log_error("sending limits: %zu transactions held already; deferring one of %s",
                  holds_.size(), m.identity.c_str());
        r.status = ipc::kStatusTemp;
        return r;
    }
    if (it != holds_.end()) forget(it);
    Held& sum = held_[m.identity];
    sum.messages += m.messages;
    sum.recipients += m.recipients;
    holds_[key] = Hold{m.identity, Held{m.messages, m.recipients}, now};
    return r;
}

void SendLimiter::release(uint64_t conn, const ipc::LimitReleaseMsg& m, time_t now) {
    auto it = holds_.find(HoldKey{conn, m.holder});
    if (it != holds_.end()) forget(it);
    if ((m.messages || m.recipients) && valid_identity(m.identity))
        store_->add(m.identity, m.messages, m.recipients, now);
}

void SendLimiter::forget(std::map<HoldKey, Hold>::iterator it) {
    auto h = held_.find(it->second.identity);
    if (h != held_.end()) {
        h->second.messages -= std::min(h->second.messages, it->second.held.messages);
        h->second.recipients -= std::min(h->second.recipients, it->second.held.recipients);
        if (!h->second.messages && !h->second.recipients) held_.erase(h);
    }
    holds_.erase(it);
}

void SendLimiter::drop_channel(uint64_t conn) {
    auto it = holds_.lower_bound(HoldKey{conn, 0});
    while (it != holds_.end() && it->first.first == conn)
        forget(it++);
}

void SendLimiter::expire(time_t now) {
    for (auto it = holds_.begin(); it != holds_.end();) {
        if (now - it->second.touched >= kHoldIdle) {
            log_warning("sending limits: a transaction of %s held for %lld s was given back",
                        it->second.identity.c_str(),
                        static_cast<long long>(now - it->second.touched));
            forget(it++);
        } else {
            ++it;
        }
    }
}

}  // namespace tegami::auth
