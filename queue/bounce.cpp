// bounce.cpp - see bounce.hpp. The report quotes only printable texts (stored texts are
// already sanitised), and the original message only as RET and size_limit allow.
#include "queue/bounce.hpp"

#include <algorithm>

#include <ctime>

#include "lib/ipc/messages.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/dsn_params.hpp"

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

SuccessAction success_of(const DsnOptions& opt, size_t i) {
    return i < opt.successes.size() ? opt.successes[i] : SuccessAction::none;
}

std::string status_of(const Recipient& r, DsnKind kind, SuccessAction ok) {
    if (ok != SuccessAction::none)
        return r.dsn.size() >= 5 && r.dsn[0] == '2' ? r.dsn : std::string("2.0.0");
    char want = kind == DsnKind::delay ? '4' : '5';
    if (r.dsn.size() >= 5 && (r.dsn[0] == '4' || r.dsn[0] == '5')) {
        if (r.dsn[0] == want || kind == DsnKind::failure) return r.dsn;
        return std::string(1, want) + r.dsn.substr(1);
    }
    return std::string(1, want) + ".0.0";
}

bool covered_failure(const Recipient& r) {
    return r.state == RcptState::failed && notify_wants(r.notify, ipc::kNotifyFailure);
}

bool covered(const Recipient& r, DsnKind kind, SuccessAction ok) {
    switch (kind) {
        case DsnKind::failure:
            return covered_failure(r) || ok != SuccessAction::none;
        case DsnKind::success:
            return ok != SuccessAction::none;
        case DsnKind::delay:
            return r.state == RcptState::deferred && notify_wants(r.notify, ipc::kNotifyDelay);
        case DsnKind::double_bounce:
            return r.state == RcptState::failed;
    }
    return false;
}

const char* action_of(DsnKind kind, SuccessAction ok) {
    if (ok == SuccessAction::delivered) return "delivered";
    if (ok == SuccessAction::relayed) return "relayed";
    if (ok == SuccessAction::expanded) return "expanded";
    return kind == DsnKind::delay ? "delayed" : "failed";
}

// Whether the report returns the whole message: RET and the size cap decide.
bool return_full(DsnKind kind, const Envelope& orig, uint64_t size, uint64_t limit) {
    if (limit == 0 || size > limit) return false;
    if (kind == DsnKind::failure) return !(orig.flags & ipc::kFlagRetHdrs);
    if (kind == DsnKind::success) return (orig.flags & ipc::kFlagRetFull) != 0;
    return false;
}

// "mx.example.org[192.0.2.1]:25 said: 550 5.1.1 no (in reply to RCPT TO command)" ->
// remote host "mx.example.org" and reply "550 5.1.1 no".
bool split_remote(const std::string& text, std::string& host, std::string& reply) {
    size_t said = text.find(" said: ");
    size_t br = text.find('[');
    if (said == std::string::npos || br == std::string::npos || br > said) return false;
    host = text.substr(0, br);
    reply = text.substr(said + 7);
    size_t in = reply.rfind(" (in reply to ");
    if (in != std::string::npos) reply.resize(in);
    return !host.empty() && host.find(' ') == std::string::npos;
}

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    auto low = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    for (size_t i = 0; i < prefix.size(); ++i)
        if (low(s[i]) != low(prefix[i])) return false;
    return true;
}

// The next line of s (without its CR LF or LF); false at the end.
bool next_line(std::string_view& s, std::string_view& line) {
    if (s.empty()) return false;
    size_t nl = s.find('\n');
    line = s.substr(0, nl);
    s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
}

}  // namespace

std::vector<ReportedRecipient> reported_recipients(std::string_view report, size_t max) {
    // A null-sender message is anyone's: no field of it grows a report past this.
    constexpr size_t kMaxReportedField = 500;
    std::vector<ReportedRecipient> out;
    // The delivery-status part: its Content-Type line, then its own header section.
    std::string_view s = report, line;
    bool found = false;
    while (!found && next_line(s, line))
        found = starts_with_nocase(line, "Content-Type: message/delivery-status") ||
                starts_with_nocase(line, "Content-Type: message/global-delivery-status");
    if (!found) return out;
    while (next_line(s, line) && !line.empty()) {
    }
    // Groups of fields separated by empty lines; the first is the per-message group.
    bool per_message = true, in_group = false;
    ReportedRecipient cur;
    std::string* last = nullptr;
    auto close = [&] {
        if (in_group && !per_message && !cur.final_recipient.empty() && out.size() < max) {
            for (std::string* v : {&cur.final_recipient, &cur.original_recipient, &cur.action,
                                   &cur.status, &cur.diagnostic})
                if (v->size() > kMaxReportedField) v->resize(kMaxReportedField);
            out.push_back(cur);
        }
        if (in_group) per_message = false;
        in_group = false;
        cur = ReportedRecipient{};
        last = nullptr;
    };
    while (next_line(s, line)) {
        if (line.substr(0, 2) == "--") break;  // the next part's boundary
        if (line.empty()) {
            close();
            continue;
        }
        in_group = true;
        if ((line[0] == ' ' || line[0] == '\t')) {  // a folded field goes on
            if (last && last->size() <= kMaxReportedField)
                *last += " " + printable(line.substr(line.find_first_not_of(" \t")));
            continue;
        }
        size_t colon = line.find(':');
        last = nullptr;
        if (colon == std::string_view::npos) continue;
        std::string name = lower_ascii(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        if (name == "final-recipient")
            last = &cur.final_recipient;
        else if (name == "original-recipient")
            last = &cur.original_recipient;
        else if (name == "action")
            last = &cur.action;
        else if (name == "status")
            last = &cur.status;
        else if (name == "diagnostic-code")
            last = &cur.diagnostic;
        if (last) *last = printable(value);
    }
    close();
    return out;
}

namespace {

// RFC 6533: a report on an SMTPUTF8 message is a global one (UTF-8 in its fields).
bool global(const Envelope& orig) {
    return (orig.flags & ipc::kFlagSmtputf8) != 0;
}

// RFC 6533 3 utf-8-addr-unitext: UTF-8 as is, printable ASCII but '+', '=', '\' as is,
// every other character as \x{HEX}. s is valid UTF-8.
std::string utf8_addr_unitext(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string o;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x80 || (u >= 0x21 && u <= 0x7e && c != '+' && c != '=' && c != '\\')) {
            o.push_back(c);
        } else {
            o += "\\x{";
            o.push_back(hex[u >> 4]);
            o.push_back(hex[u & 15]);
            o += "}";
        }
    }
    return o;
}

// "type;address" as stored -> an Original-Recipient or Final-Recipient value: in a global
// report a utf-8 address in UTF-8, else ASCII (utf-8-addr-xtext, xtext).
std::string address_field_value(const std::string& stored, bool utf8) {
    size_t semi = stored.find(';');
    if (utf8 && semi != std::string::npos && stored.compare(0, semi, "utf-8") == 0) {
        std::string_view addr = std::string_view(stored).substr(semi + 1);
        if (valid_utf8(addr)) return "utf-8; " + utf8_addr_unitext(addr);
    }
    return printable(orcpt_field_value(stored));
}

void add_text_part(std::string& b, const Envelope& orig, std::string_view orig_body,
                   const std::string& host, DsnKind kind, const DsnOptions& opt, bool full,
                   bool too_big) {
    b += "Content-Description: Notification\r\n";
    b += global(orig) ? "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                      : "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
    b += "This is the mail system at host " + host + ".\r\n\r\n";
    switch (kind) {
        case DsnKind::failure:
            b += "Your message could not be delivered to one or more recipients.\r\n";
            break;
        case DsnKind::delay:
            b += "Your message could not be delivered yet to one or more recipients.\r\n";
            b += "It is still in the queue and will be tried again; you need not resend it.\r\n";
            break;
        case DsnKind::double_bounce:
            b += "A message with the null sender, as delivery status notifications have,\r\n";
            b += "could not be delivered to the recipients below, so it comes to the "
                 "postmaster.\r\n";
            break;
        case DsnKind::success:
            b += "Your message was delivered to the recipients below, as you asked.\r\n";
            break;
    }
    bool some_success = false;
    for (SuccessAction a : opt.successes)
        some_success = some_success || a != SuccessAction::none;
    if (kind == DsnKind::failure && some_success)
        b += "Others received it, as you asked to be told; each is listed below.\r\n";
    b += full ? "The report below says why; the message follows it.\r\n"
              : "The report below says why; the headers of the message follow it.\r\n";
    if (too_big) b += "The message was too large to be returned whole.\r\n";
    b += "\r\n";
    for (size_t i = 0; i < orig.recipients.size(); ++i) {
        const Recipient& r = orig.recipients[i];
        SuccessAction ok = success_of(opt, i);
        if (!covered(r, kind, ok)) continue;
        if (ok != SuccessAction::none)
            b += "<" + r.address + ">: " + action_of(kind, ok) + ": " + r.text + "\r\n";
        else
            b += "<" + r.address + ">: " + r.text + "\r\n";
    }
    b += "\r\n";
    if (kind != DsnKind::double_bounce) return;
    // What the undeliverable notification reported, so the postmaster need not dig.
    constexpr size_t kMaxQuoted = 50;
    std::vector<ReportedRecipient> was = reported_recipients(orig_body, kMaxQuoted + 1);
    if (was.empty()) {
        b += "It was not a delivery status report; its headers follow.\r\n\r\n";
        return;
    }
    b += "The notification reported on these recipients of the original message:\r\n";
    for (size_t i = 0; i < was.size() && i < kMaxQuoted; ++i) {
        const ReportedRecipient& w = was[i];
        b += "  " + w.final_recipient;
        if (!w.original_recipient.empty()) b += " (originally " + w.original_recipient + ")";
        b += ": " + (w.action.empty() ? std::string("?") : w.action);
        if (!w.status.empty()) b += ", status " + w.status;
        if (!w.diagnostic.empty()) b += ": " + w.diagnostic;
        b += "\r\n";
    }
    if (was.size() > kMaxQuoted) b += "  and more.\r\n";
    b += "\r\n";
}

void add_status_part(std::string& b, const Envelope& orig, const std::string& host, DsnKind kind,
                     const DsnOptions& opt) {
    const bool utf8 = global(orig);
    b += "Content-Description: Delivery report\r\n";
    b += utf8 ? "Content-Type: message/global-delivery-status\r\n\r\n"
              : "Content-Type: message/delivery-status\r\n\r\n";
    b += "Reporting-MTA: dns; " + host + "\r\n";
    if (!orig.envid.empty()) b += "Original-Envelope-Id: " + printable(orig.envid) + "\r\n";
    b += "X-Tegami-Queue-ID: " + orig.queue_id + "\r\n";
    b += "Arrival-Date: " + rfc5322_date(orig.arrival) + "\r\n";
    for (size_t i = 0; i < orig.recipients.size(); ++i) {
        const Recipient& r = orig.recipients[i];
        SuccessAction ok = success_of(opt, i);
        if (!covered(r, kind, ok)) continue;
        b += "\r\n";
        if (!r.dsn_orcpt.empty())
            b += "Original-Recipient: " + address_field_value(r.dsn_orcpt, utf8) + "\r\n";
        std::string type = has_non_ascii(r.address) ? "utf-8;" : "rfc822;";
        b += "Final-Recipient: " + address_field_value(type + r.address, utf8) + "\r\n";
        b += std::string("Action: ") + action_of(kind, ok) + "\r\n";
        b += "Status: " + status_of(r, kind, ok) + "\r\n";
        std::string rhost, reply;
        if (split_remote(r.text, rhost, reply)) {
            b += "Remote-MTA: dns; " + rhost + "\r\n";
            b += "Diagnostic-Code: smtp; " + reply + "\r\n";
        } else {
            b += "Diagnostic-Code: X-Tegami; " + r.text + "\r\n";
        }
    }
    b += "\r\n";
}

}  // namespace

bool notify_wants(uint32_t notify, uint32_t event_bit) {
    if (notify & ipc::kNotifyNever) return false;
    if (notify == 0) return event_bit != ipc::kNotifySuccess;  // none given: failure, delay
    return (notify & event_bit) != 0;
}

bool needs_bounce(const Envelope& env) {
    if (env.sender.empty()) return false;
    for (const auto& r : env.recipients)
        if (covered_failure(r)) return true;
    return false;
}

bool needs_success_report(const Envelope& env, const std::vector<SuccessAction>& action) {
    if (env.sender.empty()) return false;
    for (SuccessAction a : action)
        if (a != SuccessAction::none) return true;
    return false;
}

bool needs_double_bounce(const Envelope& env) {
    if (!env.sender.empty() || env.protocol == kProtocolDoubleBounce) return false;
    for (const auto& r : env.recipients)
        if (r.state == RcptState::failed) return true;
    return false;
}

bool needs_delay_warning(const Envelope& env, uint64_t now, uint64_t warn_after) {
    if (env.sender.empty() || warn_after == 0 || (env.flags & kFlagDelayWarned)) return false;
    if (now < env.arrival + warn_after) return false;
    for (const auto& r : env.recipients)
        if (covered(r, DsnKind::delay, SuccessAction::none)) return true;
    return false;
}

std::string_view header_section(std::string_view body) {
    size_t end = body.find("\r\n\r\n");
    if (end != std::string_view::npos) return body.substr(0, end + 2);
    end = body.find("\n\n");
    if (end != std::string_view::npos) return body.substr(0, end + 1);
    return body;
}

Result<DsnSource> read_dsn_source(DsnKind kind, const Envelope& orig, uint64_t size,
                                  const DsnOptions& opt,
                                  const std::function<Result<std::string>(uint64_t)>& read) {
    DsnSource out;
    out.size = size;
    if (kind == DsnKind::double_bounce || return_full(kind, orig, size, opt.size_limit)) {
        auto all = read(size);
        if (!all) return all.error();
        out.text = std::move(*all);
        return out;
    }
    const uint64_t most = std::min(size, kMaxHeaderRead);
    for (uint64_t n = 4096;; n *= 4) {
        n = std::min(n, most);
        auto part = read(n);
        if (!part) return part.error();
        out.text = std::move(*part);
        // header_section takes the first CRLF CRLF, else the first LF LF: only the first
        // is certain before the whole body (or the cap) is read.
        if (out.text.size() < n || n == most || out.text.find("\r\n\r\n") != std::string::npos)
            return out;
    }
}

Bounce make_dsn(DsnKind kind, const Envelope& orig, std::string_view orig_body,
                const std::string& hostname, const std::string& new_qid, uint64_t now,
                const DsnOptions& opt) {
    Bounce out;
    Envelope& e = out.envelope;
    e.queue_id = new_qid;
    e.arrival = now;
    e.client_addr = "127.0.0.1";
    e.client_name = "localhost";
    e.helo = hostname;
    e.protocol = kind == DsnKind::double_bounce ? kProtocolDoubleBounce : kProtocolDsn;
    // What the returned content needs on the way (the report's own text is ASCII).
    e.flags = orig.flags & (ipc::kFlag8BitMime | ipc::kFlagSmtputf8);
    Recipient to;
    to.address = kind == DsnKind::double_bounce ? opt.postmaster : orig.sender;
    e.recipients.push_back(to);

    const std::string boundary = orig.queue_id + "/" + hostname;
    std::string& b = out.body;
    b += "From: MAILER-DAEMON@" + hostname + " (Mail Delivery System)\r\n";
    b += "To: <" + to.address + ">\r\n";
    switch (kind) {
        case DsnKind::failure:
            b += "Subject: Undelivered Mail Returned to Sender\r\n";
            break;
        case DsnKind::delay:
            b += "Subject: Delayed Mail (still being retried)\r\n";
            break;
        case DsnKind::double_bounce:
            b += "Subject: Undelivered Mail Returned to Sender (double bounce)\r\n";
            break;
        case DsnKind::success:
            b += "Subject: Successful Mail Delivery Report\r\n";
            break;
    }
    b += "Date: " + rfc5322_date(now) + "\r\n";
    b += "Message-ID: <" + new_qid + "@" + hostname + ">\r\n";
    b += "Auto-Submitted: auto-replied\r\n";
    b += "MIME-Version: 1.0\r\n";
    b += global(orig) ? "Content-Type: multipart/report; report-type=global-delivery-status;\r\n"
                      : "Content-Type: multipart/report; report-type=delivery-status;\r\n";
    b += "\tboundary=\"" + boundary + "\"\r\n\r\n";
    b += "This is a MIME-encapsulated message.\r\n\r\n";
    const uint64_t size = opt.body_size ? *opt.body_size : orig_body.size();
    bool full = return_full(kind, orig, size, opt.size_limit);
    bool wanted_full = kind == DsnKind::failure
                           ? !(orig.flags & ipc::kFlagRetHdrs)
                           : kind == DsnKind::success && (orig.flags & ipc::kFlagRetFull);
    bool too_big = wanted_full && !full && opt.size_limit > 0;
    b += "--" + boundary + "\r\n";
    add_text_part(b, orig, orig_body, hostname, kind, opt, full, too_big);
    b += "--" + boundary + "\r\n";
    add_status_part(b, orig, hostname, kind, opt);
    b += "--" + boundary + "\r\n";
    const char* what = kind == DsnKind::success ? "Delivered Message" : "Undelivered Message";
    // 8-bit content sent without BODY=8BITMIME is still 8-bit: labelled (and the report
    // carried) as such.
    auto eight_bit = [&](std::string_view returned) {
        if (orig.flags & (ipc::kFlag8BitMime | ipc::kFlagSmtputf8)) return true;
        if (!has_8bit(returned)) return false;
        e.flags |= ipc::kFlag8BitMime;
        return true;
    };
    if (full) {
        b += std::string("Content-Description: ") + what + "\r\n";
        b += global(orig) ? "Content-Type: message/global\r\n" : "Content-Type: message/rfc822\r\n";
        if (eight_bit(orig_body)) b += "Content-Transfer-Encoding: 8bit\r\n";
        b += "\r\n";
        b += orig_body;
        if (!orig_body.empty() && orig_body.back() != '\n') b += "\r\n";
    } else {
        std::string_view headers = header_section(orig_body);
        if (headers.size() == orig_body.size() && orig_body.size() < size) {
            // Only the leading part was read, and it has no empty line: its whole lines.
            size_t nl = headers.rfind('\n');
            if (nl != std::string_view::npos) headers = headers.substr(0, nl + 1);
        }
        b += std::string("Content-Description: ") + what + " Headers\r\n";
        if (global(orig))
            b += "Content-Type: message/global-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
        else if (has_8bit(headers) && eight_bit(headers))
            b += "Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
        else
            b += "Content-Type: text/rfc822-headers\r\n\r\n";
        b += headers;
    }
    b += "\r\n--" + boundary + "--\r\n";
    return out;
}

}  // namespace tegami::queue
