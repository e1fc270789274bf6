// send_limits.cpp - see send_limits.hpp.
#include "smtpd/server/send_limits.hpp"

#include "lib/map/recipients.hpp"
#include "lib/map/virtual.hpp"
#include "smtpd/server/session_state.hpp"

namespace tegami::smtpd {

bool limits_configured(const Config& c) {
    return c.sender_limit_hour_messages || c.sender_limit_hour_recipients ||
           c.sender_limit_day_messages || c.sender_limit_day_recipients ||
           !c.sender_limit_map.empty();
}

std::string limit_identity(std::string_view auth_login, const ClientInfo& client) {
    if (!auth_login.empty()) return std::string(auth_login);
    if (client.local && client.uid >= 0) return "uid:" + std::to_string(client.uid);
    return {};
}

bool counted_domain(const Config& c, std::string_view domain) {
    return !domain.empty() && !is_local_domain(c, domain) && !is_virtual_domain(c, domain);
}

uint64_t counted_recipients(const Config& c, const std::vector<std::string>& rcpts) {
    uint64_t n = 0;
    for (const auto& r : rcpts) {
        size_t at = r.rfind('@');
        if (at != std::string::npos && counted_domain(c, std::string_view(r).substr(at + 1))) ++n;
    }
    return n;
}

std::string utc_time(time_t t) {
    tm tmv{};
    gmtime_r(&t, &tmv);
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tmv);
    return buf;
}

namespace {

Reply over(const char* window, uint64_t max, const char* what, const std::string& identity,
           uint64_t free_at) {
    std::string text = std::string(window) + " limit of " + std::to_string(max) + " " + what +
                       " reached for " + identity;
    if (free_at) text += "; it frees up at " + utc_time(static_cast<time_t>(free_at));
    return make_reply(451, "4.7.1", text);
}

}  // namespace

LimitHold::~LimitHold() {
    if (!release_) return;
    try {
        release_(0, 0);
    } catch (...) {  // out of memory: auth drops the hold with the channel or in an hour
    }
}

void LimitHold::commit(uint64_t recipients) {
    Release r = std::move(release_);
    release_ = nullptr;
    if (r) r(recipients ? 1 : 0, recipients);
}

bool has_recipient_limit(const SendQuota& q) {
    return q.hour.max_recipients || q.day.max_recipients;
}

std::optional<Reply> mail_limit_refusal(const SendQuota& q) {
    for (auto [w, name] : {std::pair{&q.hour, "Hourly"}, std::pair{&q.day, "Daily"}})
        if (w->max_messages && w->messages >= w->max_messages)
            return over(name, w->max_messages, "messages", q.identity, w->messages_free_at);
    return std::nullopt;
}

std::optional<Reply> rcpt_limit_refusal(const SendQuota& q, uint64_t pending) {
    for (auto [w, name] : {std::pair{&q.hour, "Hourly"}, std::pair{&q.day, "Daily"}}) {
        if (!w->max_recipients || w->recipients + pending < w->max_recipients) continue;
        // Reached by earlier messages: it frees up when enough of them leave the window;
        // reached within this one: as soon as the oldest counted ones leave.
        uint64_t at = w->recipients >= w->max_recipients ? w->recipients_free_at : w->next_drop;
        Reply r = over(name, w->max_recipients, "recipients", q.identity, at);
        if (!at) r.text += "; this message alone has that many";
        return r;
    }
    return std::nullopt;
}

}  // namespace tegami::smtpd
