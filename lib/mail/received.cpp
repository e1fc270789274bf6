// received.cpp - see received.hpp.
#include "lib/mail/received.hpp"

#include <cstdio>
#include <cstdlib>

namespace tegami {

namespace {

void append_clean(std::string& out, std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
}

// The end both headers share: "for <recipient>" (one recipient only) and the date.
void append_for_and_date(std::string& h, const ReceivedInfo& in) {
    if (!in.recipient.empty()) {
        h.append("\r\n\tfor <");
        append_clean(h, in.recipient);
        h.append(">");
    }
    h.append("; ");
    append_clean(h, in.date);
    h.append("\r\n");
}

}  // namespace

std::string received_header(const ReceivedInfo& in) {
    std::string h;
    h.reserve(160 + in.helo.size() + in.recipient.size());
    h.append("Received: from ");
    append_clean(h, in.helo);
    h.append(" (");
    append_clean(h, in.client_name);
    h.append(" [");
    append_clean(h, in.client_addr);
    h.append("])\r\n\tby ");
    append_clean(h, in.hostname);
    h.append(" (Tegami) with ");
    append_clean(h, in.protocol);
    h.append(" id ");
    append_clean(h, in.queue_id);
    if (!in.tls.empty()) {
        size_t sp = in.tls.find(' ');
        h.append("\r\n\t(using ");
        append_clean(h, in.tls.substr(0, sp));
        if (sp != std::string_view::npos) {
            h.append(" with cipher ");
            append_clean(h, in.tls.substr(sp + 1));
        }
        h.append(")");
    }
    if (!in.login.empty()) {
        h.append("\r\n\t(authenticated as ");
        append_clean(h, in.login);
        h.append(")");
    }
    append_for_and_date(h, in);
    return h;
}

std::string received_local_header(const ReceivedInfo& in, std::string_view submitter) {
    std::string h;
    h.reserve(120 + in.recipient.size());
    h.append("Received: (from ");
    append_clean(h, submitter);
    if (submitter.find(' ') == std::string_view::npos) h.append("@localhost");
    h.append(")\r\n\tby ");
    append_clean(h, in.hostname);
    h.append(" (Tegami) id ");
    append_clean(h, in.queue_id);
    append_for_and_date(h, in);
    return h;
}

std::string rfc5322_date(const std::tm& tm, long gmtoff) {
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long off = std::labs(gmtoff) / 60;
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
                          kDays[(tm.tm_wday % 7 + 7) % 7], tm.tm_mday,
                          kMonths[(tm.tm_mon % 12 + 12) % 12], tm.tm_year + 1900, tm.tm_hour,
                          tm.tm_min, tm.tm_sec, gmtoff < 0 ? '-' : '+', off / 60, off % 60);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string rfc5322_date_now() {
    time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    return rfc5322_date(tm, tm.tm_gmtoff);
}

}  // namespace tegami
