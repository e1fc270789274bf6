// smtp_client.cpp - see smtp_client.hpp.
#include "msp/sendmail/smtp_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "lib/core/sysexits.hpp"

namespace tegami::msp {

namespace {

constexpr size_t kMaxReply = 64 * 1024;

std::string upper(std::string_view s) {
    std::string o(s);
    for (char& c : o)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return o;
}

}  // namespace

bool SmtpClient::write_all(std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

bool SmtpClient::send_line(std::string_view line) {
    if (verbose_) std::printf(">>> %.*s\n", static_cast<int>(line.size()), line.data());
    std::string l(line);
    l += "\r\n";
    return write_all(l);
}

SmtpReply SmtpClient::read_reply() {
    SmtpReply r;
    std::string text;
    for (;;) {
        size_t eol = in_.find('\n');
        while (eol == std::string::npos) {
            if (in_.size() > kMaxReply) return SmtpReply{};
            pollfd p{fd_, POLLIN, 0};
            int pr = ::poll(&p, 1, timeout_ * 1000);
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) return SmtpReply{};
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return SmtpReply{};
            in_.append(buf, static_cast<size_t>(n));
            eol = in_.find('\n');
        }
        std::string line = in_.substr(0, eol);
        in_.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (verbose_) std::printf("%s\n", line.c_str());
        if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
            line[2] < '0' || line[2] > '9' || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
            return SmtpReply{};
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (r.code && code != r.code) return SmtpReply{};
        r.code = code;
        if (!text.empty()) text += '\n';
        text += line.size() > 4 ? line.substr(4) : "";
        if (line.size() == 3 || line[3] == ' ') break;
    }
    r.text = std::move(text);
    return r;
}

SmtpReply SmtpClient::command(std::string_view line) {
    if (!send_line(line)) return SmtpReply{};
    return read_reply();
}

bool SmtpClient::open(std::string_view helo, SmtpReply& r) {
    r = read_reply();
    if (r.code != 220) return false;
    r = command("EHLO " + std::string(helo));
    if (r.code != 250) return false;
    ehlo_.clear();
    size_t pos = 0;
    bool first = true;
    while (pos <= r.text.size()) {
        size_t nl = r.text.find('\n', pos);
        std::string l = r.text.substr(pos, nl == std::string::npos ? nl : nl - pos);
        if (!first) ehlo_.push_back(upper(l.substr(0, l.find(' '))));
        first = false;
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return true;
}

bool SmtpClient::has_extension(std::string_view kw) const {
    for (const auto& e : ehlo_)
        if (e == kw) return true;
    return false;
}

bool SmtpClient::send_data(std::string_view msg) {
    if (verbose_) std::printf(">>> .\n");
    bool saved = verbose_;
    verbose_ = false;
    std::string buf;
    buf.reserve(64 * 1024);
    size_t pos = 0;
    while (pos < msg.size()) {
        size_t eol = msg.find("\r\n", pos);
        size_t end = eol == std::string_view::npos ? msg.size() : eol + 2;
        if (msg[pos] == '.') buf.push_back('.');
        buf.append(msg.substr(pos, end - pos));
        if (eol == std::string_view::npos) buf.append("\r\n");
        if (buf.size() >= 60 * 1024) {
            if (!write_all(buf)) return false;
            buf.clear();
        }
        pos = end;
    }
    buf.append(".\r\n");
    verbose_ = saved;
    return write_all(buf);
}

namespace {

// One transaction for recipients [first, last) of m; false when the connection is lost.
bool send_chunk(SmtpClient& c, const QueuedMessage& m, size_t first, size_t last,
                SendOutcome& out) {
    bool dsn = c.has_extension("DSN");
    std::string mail = "MAIL FROM:<" + m.sender + ">";
    if (c.has_extension("SIZE")) mail += " SIZE=" + std::to_string(m.message.size());
    if (m.flags & kQueueFile8Bit) mail += " BODY=8BITMIME";
    if ((m.flags & kQueueFileUtf8) && c.has_extension("SMTPUTF8")) mail += " SMTPUTF8";
    if (dsn && !m.ret.empty()) mail += " RET=" + upper(m.ret);
    if (dsn && !m.envid.empty()) mail += " ENVID=" + m.envid;
    std::vector<std::string> taken;  // RCPT answered 250 in this transaction
    // The transaction failed with r: each of its recipients not refused yet (those not
    // tried, and those RCPT took) is refused or deferred as r says.
    auto fail = [&](SmtpReply r, size_t untried) {
        for (size_t i = untried; i < last; ++i)
            taken.push_back(m.recipients[i]);
        for (auto& rcpt : taken) {
            if (r.permanent())
                out.refused.emplace_back(std::move(rcpt), r);
            else
                out.deferred.push_back(std::move(rcpt));
        }
        out.failure = std::move(r);
        if (out.failure.code == 0) return false;
        (void)c.command("RSET");
        return true;
    };
    SmtpReply r = c.command(mail);
    if (r.code != 250) return fail(r, first);
    for (size_t i = first; i < last; ++i) {
        const std::string& rcpt = m.recipients[i];
        std::string line = "RCPT TO:<" + rcpt + ">";
        if (dsn && !m.notify.empty()) line += " NOTIFY=" + upper(m.notify);
        r = c.command(line);
        if (r.code == 250 || r.code == 251) {
            taken.push_back(rcpt);
        } else if (r.code == 0) {
            return fail(r, i);  // the connection is gone: all of them wait
        } else if (r.permanent()) {
            out.refused.emplace_back(rcpt, r);
        } else {
            out.deferred.push_back(rcpt);  // this one waits, the others go on
            out.failure = r;
        }
    }
    if (taken.empty()) {
        (void)c.command("RSET");
        return true;
    }
    r = c.command("DATA");
    if (r.code != 354) return fail(r, last);
    if (!c.send_data(m.message)) return fail(SmtpReply{}, last);
    r = c.read_reply();
    if (r.code != 250) return fail(r, last);
    out.accepted = true;
    return true;
}

}  // namespace

SendOutcome send_message(SmtpClient& c, const QueuedMessage& m) {
    SendOutcome out;
    for (size_t first = 0; first < m.recipients.size(); first += kRecipientsPerTransaction) {
        size_t last = std::min(m.recipients.size(), first + kRecipientsPerTransaction);
        if (!send_chunk(c, m, first, last, out)) {
            for (size_t i = last; i < m.recipients.size(); ++i)
                out.deferred.push_back(m.recipients[i]);
            break;
        }
    }
    out.temporary = !out.deferred.empty();
    return out;
}

int exit_for_reply(const SmtpReply& r) {
    if (!r.permanent()) return code(Exit::temp_fail);
    std::string_view t = r.text;
    if (t.substr(0, 5) == "5.1.1" || t.substr(0, 5) == "5.1.6" || t.substr(0, 5) == "5.1.0")
        return code(Exit::no_user);
    if (t.substr(0, 5) == "5.1.2") return code(Exit::no_host);
    if (t.substr(0, 5) == "5.1.3" || t.substr(0, 5) == "5.1.7" || t.substr(0, 5) == "5.6.0")
        return code(Exit::data_err);
    return code(Exit::unavailable);
}

}  // namespace tegami::msp
