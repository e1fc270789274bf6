// bounce.cpp - see bounce.hpp. The report quotes only the original header section, never
// the body, and only printable texts (stored texts are already sanitised).
#include "queue/bounce.hpp"

#include <ctime>

namespace tegami::queue {

namespace {

std::string rfc5322_date(uint64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

std::string status_of(const Recipient& r) {
    if (r.dsn.size() >= 5 && (r.dsn[0] == '4' || r.dsn[0] == '5')) return r.dsn;
    return "5.0.0";
}

void add_text_part(std::string& b, const Envelope& orig, const std::string& host) {
    b += "Content-Description: Notification\r\n";
    b += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    b += "This is the mail system at host " + host + ".\r\n\r\n";
    b += "Your message could not be delivered to one or more recipients.\r\n";
    b += "The report below says why; the headers of your message follow it.\r\n\r\n";
    for (const auto& r : orig.recipients)
        if (r.state == RcptState::failed) b += "<" + r.address + ">: " + r.text + "\r\n";
    b += "\r\n";
}

void add_status_part(std::string& b, const Envelope& orig, const std::string& host) {
    b += "Content-Description: Delivery report\r\n";
    b += "Content-Type: message/delivery-status\r\n\r\n";
    b += "Reporting-MTA: dns; " + host + "\r\n";
    b += "X-Tegami-Queue-ID: " + orig.queue_id + "\r\n";
    b += "Arrival-Date: " + rfc5322_date(orig.arrival) + "\r\n";
    for (const auto& r : orig.recipients) {
        if (r.state != RcptState::failed) continue;
        b += "\r\nFinal-Recipient: rfc822; " + r.address + "\r\n";
        b += "Action: failed\r\n";
        b += "Status: " + status_of(r) + "\r\n";
        b += "Diagnostic-Code: X-Tegami; " + r.text + "\r\n";
    }
    b += "\r\n";
}

}  // namespace

bool needs_bounce(const Envelope& env) {
    if (env.sender.empty()) return false;
    for (const auto& r : env.recipients)
        if (r.state == RcptState::failed) return true;
    return false;
}

std::string_view header_section(std::string_view body) {
    size_t end = body.find("\r\n\r\n");
    if (end != std::string_view::npos) return body.substr(0, end + 2);
    end = body.find("\n\n");
    if (end != std::string_view::npos) return body.substr(0, end + 1);
    return body;
}

Bounce make_bounce(const Envelope& orig, std::string_view orig_body, const std::string& hostname,
                   const std::string& new_qid, uint64_t now) {
    Bounce out;
    Envelope& e = out.envelope;
    e.queue_id = new_qid;
    e.arrival = now;
    e.client_addr = "127.0.0.1";
    e.client_name = "localhost";
    e.helo = hostname;
    e.protocol = "DSN";
    Recipient to;
    to.address = orig.sender;
    e.recipients.push_back(to);

    const std::string boundary = orig.queue_id + "/" + hostname;
    std::string& b = out.body;
    b += "From: MAILER-DAEMON@" + hostname + " (Mail Delivery System)\r\n";
    b += "To: <" + orig.sender + ">\r\n";
    b += "Subject: Undelivered Mail Returned to Sender\r\n";
    b += "Date: " + rfc5322_date(now) + "\r\n";
    b += "Message-ID: <" + new_qid + "@" + hostname + ">\r\n";
    b += "Auto-Submitted: auto-replied\r\n";
    b += "MIME-Version: 1.0\r\n";
    b += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
    b += "\tboundary=\"" + boundary + "\"\r\n\r\n";
    b += "This is a MIME-encapsulated message.\r\n\r\n";
    b += "--" + boundary + "\r\n";
    add_text_part(b, orig, hostname);
    b += "--" + boundary + "\r\n";
    add_status_part(b, orig, hostname);
    b += "--" + boundary + "\r\n";
    b += "Content-Description: Undelivered Message Headers\r\n";
    b += "Content-Type: text/rfc822-headers\r\n\r\n";
    b += header_section(orig_body);
    b += "\r\n--" + boundary + "--\r\n";
    return out;
}

}  // namespace tegami::queue
