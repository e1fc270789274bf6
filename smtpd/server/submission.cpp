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
    if (!v.headers.empty())
        log_info("%s: added %s (RFC 6409 8)", st.tx->queue_id.c_str(),
                 v.headers.size() == 2                ? "Message-ID and Date"
                 : v.headers[0].rfind("Date", 0) == 0 ? "Date"
                                                      : "Message-ID");
    return v;
}

}  // namespace tegami::smtpd
