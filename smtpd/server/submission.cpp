// submission.cpp - see submission.hpp.
#include "smtpd/server/submission.hpp"

#include <ctime>

#include "lib/core/log.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/received.hpp"

namespace tegami::smtpd {

bool header_present(std::string_view msg, std::string_view name) {
    size_t pos = 0;
    while (pos < msg.size()) {
        size_t eol = msg.find('\n', pos);
        std::string_view line =
            msg.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) return false;  // the end of the header section
        if (line.size() > name.size() && iequals(line.substr(0, name.size()), name)) {
            size_t colon = name.size();
            while (colon < line.size() && (line[colon] == ' ' || line[colon] == '\t'))
                ++colon;  // "Date :" (obsolete syntax, RFC 5322 4.5)
            if (colon < line.size() && line[colon] == ':') return true;
        }
        if (eol == std::string_view::npos) break;
        pos = eol + 1;
    }
    return false;
}

std::optional<std::string> header_value(std::string_view msg, std::string_view name) {
    size_t pos = 0;
    std::optional<std::string> out;
    while (pos < msg.size()) {
        size_t eol = msg.find('\n', pos);
        std::string_view line =
            msg.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        bool cont = line[0] == ' ' || line[0] == '\t';
        if (out && !cont) break;  // the field ended
        if (out) {
            out->append(line);
        } else if (!cont && line.size() > name.size() &&
                   iequals(line.substr(0, name.size()), name)) {
            size_t colon = name.size();
            while (colon < line.size() && (line[colon] == ' ' || line[colon] == '\t'))
                ++colon;
            if (colon < line.size() && line[colon] == ':')
                out = std::string(line.substr(colon + 1));
        }
        if (eol == std::string_view::npos) break;
        pos = eol + 1;
    }
    if (!out) return out;
    size_t a = out->find_first_not_of(" \t");
    size_t b = out->find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : out->substr(a, b - a + 1);
}

std::vector<std::string> address_list(std::string_view v) {
    // One pass: drop comments and quoted strings, note <...>; split at ',' ';' ':'.
    std::vector<std::string> out;
    std::string cur, angle;
    bool in_angle = false, had_angle = false;
    int depth = 0;
    auto flush = [&] {
        std::string a = had_angle ? angle : cur;
        size_t s = a.find_first_not_of(" \t");
        size_t e = a.find_last_not_of(" \t");
        if (s != std::string::npos) {
            a = a.substr(s, e - s + 1);
            if (a.find('@') != std::string::npos && a.find(' ') == std::string::npos)
                out.push_back(a);
        }
        cur.clear();
        angle.clear();
        had_angle = in_angle = false;
    };
    for (size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        if (depth) {
            if (c == '\\')
                ++i;
            else if (c == '(')
                ++depth;
            else if (c == ')')
                --depth;
            continue;
        }
        if (c == '(') {
            depth = 1;
        } else if (c == '"') {
            for (++i; i < v.size() && v[i] != '"'; ++i)
                if (v[i] == '\\') ++i;
        } else if (c == '<') {
            in_angle = had_angle = true;
            angle.clear();
        } else if (c == '>') {
            in_angle = false;
        } else if (c == ',' || c == ';' || (c == ':' && !in_angle)) {
            flush();  // a group's name before ':' has no '@' and is dropped
        } else if (in_angle) {
            angle += c;
        } else {
            cur += c;
        }
    }
    flush();
    return out;
}

std::string make_message_id(std::string_view queue_id, time_t now, std::string_view hostname) {
    return "<" + std::string(queue_id) + "." + std::to_string(static_cast<long long>(now)) + "@" +
           std::string(hostname) + ">";
}

PolicyVerdict SubmissionHeaders::check(PolicyStage stage, const SessionState& st,
                                       const CommandArgs&) {
    if (stage != PolicyStage::end_of_data || !st.tx) return {};
    bool submission =
        st.role == Role::msa || st.role == Role::smtps || st.client.local || !st.auth_login.empty();
    if (!submission) return {};
    std::string_view msg = std::string_view(st.tx->data).substr(st.tx->received_len);
    PolicyVerdict v;
    if (!header_present(msg, "Message-ID"))
        v.headers.push_back("Message-ID: " + make_message_id(st.tx->queue_id, std::time(nullptr),
                                                             st.config->hostname));
    if (!header_present(msg, "Date")) v.headers.push_back("Date: " + rfc5322_date_now());
    // RFC 6409 8.1 / RFC 5322 3.6.2: the authenticated sender, when From does not say it
    // (or names several mailboxes). The envelope sender passed the sender-login check.
    if (st.config->smtpd_sender_header && !st.auth_login.empty() && !st.tx->sender.empty() &&
        !header_present(msg, "Sender")) {
        if (auto from = header_value(msg, "From")) {
            auto addrs = address_list(*from);
            bool named = addrs.size() == 1 && iequals(addrs[0], st.tx->sender);
            if (!named) {
                v.headers.push_back("Sender: <" + st.tx->sender + ">");
                log_info("%s: added Sender <%s>: From does not name the authenticated sender",
                         st.tx->queue_id.c_str(), st.tx->sender.c_str());
            }
        }
    }
    size_t ids = 0;
    for (const auto& h : v.headers)
        ids += h.rfind("Sender", 0) != 0;
    if (ids)
        log_info("%s: added %s (RFC 6409 8)", st.tx->queue_id.c_str(),
                 ids == 2                             ? "Message-ID and Date"
                 : v.headers[0].rfind("Date", 0) == 0 ? "Date"
                                                      : "Message-ID");
    return v;
}

}  // namespace tegami::smtpd
