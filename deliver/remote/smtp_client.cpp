// smtp_client.cpp - see smtp_client.hpp. Replies are matched to commands through a queue
// of pending commands, so pipelined and lock-step sessions share one set of handlers:
// with PIPELINING, MAIL, every RCPT and DATA go out together (RFC 2920 3.1), otherwise
// each waits for the previous reply.
#include "deliver/remote/smtp_client.hpp"

#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <cstdlib>

#include "lib/core/unique_fd.hpp"
#include "lib/mail/dot_stuff.hpp"
#include "lib/mail/dsn_params.hpp"

namespace tegami::remote {

namespace {

constexpr size_t kMaxReplyLine = 4096;  // RFC 5321 says 512; be lenient, but bounded
constexpr size_t kMaxReplyLines = 200;

std::string base64(std::string_view s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
}

std::string upper(std::string_view s) {
    std::string o(s);
    for (char& c : o)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return o;
}

const char* cmd_context(int cmd) {
    static const char* names[] = {
        "initial greeting", "EHLO",    "HELO", "STARTTLS",    "AUTH", "AUTH", "AUTH",
        "MAIL FROM",        "RCPT TO", "DATA", "end of data", "RSET", "QUIT"};
    return names[cmd];
}

bool has_enhanced(std::string_view t, size_t& len) {
    // "c.sss.ddd" with class 2, 4 or 5, followed by a space or the end.
    if (t.size() < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.') return false;
    size_t i = 2, d = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9' && d < 3)
        ++i, ++d;
    if (d == 0 || i >= t.size() || t[i] != '.') return false;
    ++i;
    d = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9' && d < 3)
        ++i, ++d;
    if (d == 0 || (i < t.size() && t[i] != ' ')) return false;
    len = i;
    return true;
}

}  // namespace

bool parse_reply_line(std::string_view line, int& code, bool& last, std::string_view& text) {
    if (line.size() < 3 || line.size() > kMaxReplyLine) return false;
    for (int i = 0; i < 3; ++i)
        if (line[i] < '0' || line[i] > '9') return false;
    if (line[0] < '2' || line[0] > '5') return false;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (line.size() == 3) {
        last = true;
        text = {};
        return true;
    }
    if (line[3] != ' ' && line[3] != '-') return false;
    last = line[3] == ' ';
    text = line.substr(4);
    return true;
}

std::string xtext_encode(std::string_view s) {
    return tegami::xtext_encode(s);  // lib/mail/dsn_params.hpp
}

bool safe_for_command(std::string_view s) {
    if (s.size() > 512) return false;
    return std::none_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

Extensions parse_ehlo(const std::vector<std::string>& lines) {
    Extensions e;
    e.esmtp = true;
    for (size_t i = 1; i < lines.size(); ++i) {
        std::string_view l = lines[i];
        size_t sp = l.find(' ');
        std::string kw = upper(l.substr(0, sp));
        std::string_view arg = sp == std::string_view::npos ? "" : l.substr(sp + 1);
        if (kw == "PIPELINING") {
            e.pipelining = true;
        } else if (kw == "STARTTLS") {
            e.starttls = true;
        } else if (kw == "8BITMIME") {
            e.eight_bit = true;
        } else if (kw == "SMTPUTF8") {
            e.smtputf8 = true;
        } else if (kw == "DSN") {
            e.dsn = true;
        } else if (kw == "SIZE") {
            e.size = true;
            std::string a(arg);
            char* end = nullptr;
            unsigned long long v = std::strtoull(a.c_str(), &end, 10);
            e.size_limit = (end && *end == '\0' && !a.empty()) ? v : 0;
        } else if (kw == "AUTH") {
            while (!arg.empty()) {
                size_t s2 = arg.find(' ');
                std::string m = upper(arg.substr(0, s2));
                if (!m.empty()) e.auth.push_back(m);
                if (s2 == std::string_view::npos) break;
                arg.remove_prefix(s2 + 1);
            }
        }
    }
    return e;
}

void OutBuf::text(std::string_view s) {
    if (s.empty()) return;
    bytes_ += s.size();
    if (!pieces_.empty() && !pieces_.back().is_ref && pieces_.back().text.size() < (1u << 20)) {
        pieces_.back().text.append(s);
        return;
    }
    pieces_.push_back(Piece{std::string(s), {}, false});
}

void OutBuf::ref(std::string_view s) {
    if (s.size() < 512) return text(s);  // short pieces: joined into one write
    bytes_ += s.size();
    pieces_.push_back(Piece{{}, s, true});
}

std::string OutBuf::flat() const {
    std::string o;
    o.reserve(bytes_);
    copy_front(o, bytes_);
    return o;
}

void OutBuf::clear() {
    pieces_.clear();
    off_ = 0;
    bytes_ = 0;
    region_ = {};
    released_ = written_to_ = nullptr;
}

void OutBuf::release_region(std::string_view body) {
    region_ = body;
    released_ = written_to_ = body.data();
}

void OutBuf::written(std::string_view s, bool all) {
    if (region_.empty() || s.data() < region_.data() ||
        s.data() + s.size() > region_.data() + region_.size())
        return;
    written_to_ = std::max(written_to_, s.data() + s.size());
    release_written(all);
}

void OutBuf::release_written(bool all) {
    auto n = static_cast<size_t>(written_to_ - released_);
    if (n < kReleaseBatch && !(all && n > 0)) return;
    UniqueMapping::drop_pages(released_, n);  // whole pages only: the last one stays
    released_ = written_to_;
}

void OutBuf::append(OutBuf&& o) {
    if (o.empty()) return;
    if (!o.region_.empty()) {
        region_ = o.region_;
        released_ = o.released_;
        written_to_ = o.written_to_;
    }
    if (empty()) {
        std::swap(pieces_, o.pieces_);
        std::swap(off_, o.off_);
        std::swap(bytes_, o.bytes_);
        o.clear();
        return;
    }
    bool first = true;
    for (auto& p : o.pieces_) {
        std::string_view v = p.view();
        if (first) v.remove_prefix(o.off_);
        first = false;
        if (p.is_ref)
            ref(v);
        else
            text(v);
    }
    o.clear();
}

size_t OutBuf::gather(iovec* v, size_t max) const {
    size_t n = 0;
    for (size_t i = 0; i < pieces_.size() && n < max; ++i) {
        std::string_view s = pieces_[i].view();
        if (i == 0) s.remove_prefix(off_);
        v[n].iov_base = const_cast<char*>(s.data());
        v[n].iov_len = s.size();
        ++n;
    }
    return n;
}

void OutBuf::copy_front(std::string& out, size_t max) const {
    for (size_t i = 0; i < pieces_.size() && max > 0; ++i) {
        std::string_view s = pieces_[i].view();
        if (i == 0) s.remove_prefix(off_);
        s = s.substr(0, max);
        out.append(s);
        max -= s.size();
    }
}

void OutBuf::consume(size_t n) {
    n = std::min(n, bytes_);
    bytes_ -= n;
    while (n > 0 && !pieces_.empty()) {
        const Piece& p = pieces_.front();
        size_t left = p.view().size() - off_;
        if (n < left) {
            if (p.is_ref) written(p.ref.substr(0, off_ + n), false);
            off_ += n;
            return;
        }
        n -= left;
        if (p.is_ref) written(p.ref, false);
        pieces_.pop_front();
        off_ = 0;
    }
    if (bytes_ == 0) {
        if (written_to_ > released_) release_written(true);
        clear();
    }
}

void OutBuf::own() {
    bool any = std::any_of(pieces_.begin(), pieces_.end(), [](const Piece& p) { return p.is_ref; });
    if (!any) return;
    std::string all = flat();
    clear();  // and the region: nothing points into it any more
    text(all);
}

SmtpClient::SmtpClient(ClientSettings s) : s_(std::move(s)) {
    expect(Cmd::greeting);
}

void SmtpClient::send_message(MessageSpec m) {
    msg_ = std::move(m);
    have_message_ = true;
    results_.assign(msg_.rcpts.size(), Outcome{});
    accepted_.assign(msg_.rcpts.size(), false);
    mail_ok_ = false;
    data_sent_ = false;
    if (ready_) {
        event_ = Event::none;
        begin_message();
    }
}

void SmtpClient::quit() {
    if (event_ == Event::closed) return;
    quitting_ = true;
    write("QUIT");
    expect(Cmd::quit);
    event_ = Event::none;
}

std::vector<Outcome> SmtpClient::take_results() {
    std::vector<Outcome> r;
    r.swap(results_);
    have_message_ = false;
    if (event_ == Event::message_done) event_ = Event::idle;
    return r;
}

unsigned SmtpClient::timeout() const {
    if (pending_.empty()) return 0;
    unsigned t = 300;                                // greeting, MAIL, RCPT and the rest
    if (pending_.front().cmd == Cmd::data) t = 120;  // 4.5.3.2.3
    if (pending_.front().cmd == Cmd::dot) t = 600;   // 4.5.3.2.6
    return s_.reply_timeout ? std::min(t, s_.reply_timeout) : t;
}

const char* SmtpClient::context(Cmd c) const {
    if (s_.lmtp && c == Cmd::ehlo) return "LHLO";
    return cmd_context(static_cast<int>(c));
}

void SmtpClient::write(std::string_view line) {
    out_.text(line);
    out_.text("\r\n");
}

void SmtpClient::append_body() {
    // A body of clean CRLF lines (what smtpd stores) goes out as views into the stored
    // body; anything else is copied with its line endings repaired.
    std::vector<std::string_view> pieces;
    if (dot_stuff_views(msg_.body, pieces, 1024)) {
        if (msg_.body_mapped) out_.release_region(msg_.body);
        for (std::string_view p : pieces)
            out_.ref(p);
        return;
    }
    std::string s;
    append_dot_stuffed(s, msg_.body);
    out_.text(s);
    // The copy is what is sent: the mapped pages are not needed for it.
    if (msg_.body_mapped) UniqueMapping::drop_pages(msg_.body.data(), msg_.body.size());
}

void SmtpClient::feed(std::string_view data) {
    if (event_ == Event::closed) return;
    in_.append(data);
    size_t pos = 0;
    while (event_ != Event::closed && event_ != Event::start_tls) {
        size_t nl = in_.find('\n', pos);
        if (nl == std::string::npos) break;
        std::string_view line(in_.data() + pos, nl - pos);
        pos = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        int code = 0;
        bool last = false;
        std::string_view text;
        if (!parse_reply_line(line, code, last, text) ||
            (!reply_lines_.empty() && code != reply_code_) ||
            reply_lines_.size() >= kMaxReplyLines) {
            fail(4, "4.5.0", "malformed reply from " + s_.peer);
            return;
        }
        reply_code_ = code;
        reply_lines_.emplace_back(text);
        if (!last) continue;
        std::vector<std::string> lines;
        lines.swap(reply_lines_);
        if (pending_.empty()) {
            fail(4, "4.5.0", "unexpected reply from " + s_.peer);
            return;
        }
        on_reply(code, lines);
    }
    in_.erase(0, pos);
    if (in_.size() > kMaxReplyLine && event_ != Event::closed)
        fail(4, "4.5.0", "overlong reply line from " + s_.peer);
    // After STARTTLS nothing may follow in the clear (a pipelined injection, RFC 3207 6).
    if (event_ == Event::start_tls && !in_.empty())
        fail(4, "4.7.0", "plaintext after the STARTTLS reply from " + s_.peer);
}

void SmtpClient::tls_done(bool ok, std::string_view why) {
    if (event_ != Event::start_tls) return;
    event_ = Event::none;
    if (!ok) {
        fail(4, "4.7.5", "TLS handshake with " + s_.peer + " failed: " + std::string(why));
        return;
    }
    s_.tls_active = true;
    ext_ = Extensions{};
    write("EHLO " + s_.helo_name);
    expect(Cmd::ehlo);
}

void SmtpClient::connection_lost(std::string_view why) {
    if (event_ == Event::closed) return;
    if (quitting_ && pending_.size() <= 1) {  // only the QUIT reply was missing
        session_ = Outcome{2, "2.0.0", "closed"};
        event_ = Event::closed;
        return;
    }
    std::string ctx = pending_.empty() ? "idle" : context(pending_.front().cmd);
    fail(4, "4.4.2",
         std::string(why) + " with " + s_.peer + " while waiting for the reply to " + ctx);
}

Outcome SmtpClient::reply_outcome(int code, const std::vector<std::string>& lines,
                                  const char* context) const {
    Outcome o;
    o.status = code / 100 == 2 ? 2 : (code / 100 == 5 ? 5 : 4);
    size_t len = 0;
    std::string first = lines.empty() ? "" : lines[0];
    if (has_enhanced(first, len) && first[0] - '0' == o.status)
        o.dsn = first.substr(0, len);
    else
        o.dsn = std::to_string(o.status) + ".0.0";
    std::string joined = std::to_string(code);
    for (const auto& l : lines) {
        joined += ' ';
        joined += l;
    }
    o.text = s_.peer + " said: " + joined + " (in reply to " + context + " command)";
    return o;
}

void SmtpClient::fail(int status, std::string dsn, std::string text) {
    session_ = Outcome{status, std::move(dsn), std::move(text)};
    // Recipients still without an outcome get the session's; an accepted recipient whose
    // end-of-data reply never came is among them (unknown outcome: retry, at-least-once).
    if (have_message_)
        for (auto& r : results_)
            if (r.dsn.empty()) r = session_;
    pending_.clear();
    event_ = Event::closed;
}

void SmtpClient::fail_reply(int code, const std::vector<std::string>& lines, const char* context) {
    Outcome o = reply_outcome(code, lines, context);
    fail(o.status == 2 ? 4 : o.status, o.dsn, o.text);
}

void SmtpClient::set_all(const Outcome& o, bool only_accepted) {
    for (size_t i = 0; i < results_.size(); ++i)
        if (!only_accepted || accepted_[i]) results_[i] = o;
}

void SmtpClient::on_reply(int code, const std::vector<std::string>& lines) {
    Pending p = pending_.front();
    pending_.pop_front();
    const char* ctx = context(p.cmd);
    switch (p.cmd) {
        case Cmd::greeting:
            if (code != 220) return fail_reply(code, lines, ctx);
            write((s_.lmtp ? "LHLO " : "EHLO ") + s_.helo_name);
            expect(Cmd::ehlo);
            return;
        case Cmd::ehlo:
            if (code == 250) {
                ext_ = parse_ehlo(lines);
                return after_hello();
            }
            // RFC 2033 4.1: an LMTP server that refuses LHLO is not spoken to in SMTP.
            if (code == 421 || s_.lmtp) return fail_reply(code, lines, ctx);
            write("HELO " + s_.helo_name);
            expect(Cmd::helo);
            return;
        case Cmd::helo:
            if (code != 250) return fail_reply(code, lines, ctx);
            ext_ = Extensions{};
            return after_hello();
        case Cmd::starttls:
            if (code == 220) {
                event_ = Event::start_tls;
                return;
            }
            if (s_.tls_required) return fail_reply(code / 100 == 5 ? 454 : code, lines, ctx);
            tls_refused_ = true;
            return after_hello();
        case Cmd::auth:
        case Cmd::auth_user:
        case Cmd::auth_pass:
            if (code == 235) return session_ready();
            if (code == 334 && p.cmd == Cmd::auth) {
                write(base64(s_.auth_user));
                expect(Cmd::auth_user);
                return;
            }
            if (code == 334 && p.cmd == Cmd::auth_user) {
                write(base64(s_.auth_password));
                expect(Cmd::auth_pass);
                return;
            }
            {
                // Credentials refused: defer (the account may be fixed), never bounce.
                Outcome o = reply_outcome(code, lines, ctx);
                return fail(4, "4.7.8", "authentication failed: " + o.text);
            }
        case Cmd::mail:
            if (code / 100 == 2) {
                mail_ok_ = true;
                if (!ext_.pipelining) send_rcpt(0);
            } else {
                set_all(reply_outcome(code, lines, ctx), false);
                if (code == 421) return fail_reply(code, lines, ctx);
                if (!ext_.pipelining) {
                    write("RSET");
                    expect(Cmd::rset);
                }
            }
            return;
        case Cmd::rcpt:
            if (mail_ok_) {
                Outcome o = reply_outcome(code, lines, ctx);
                accepted_[p.rcpt] = code / 100 == 2;
                if (!accepted_[p.rcpt]) results_[p.rcpt] = o;
                if (code == 421) return fail_reply(code, lines, ctx);
            }
            if (!ext_.pipelining) {
                if (p.rcpt + 1 < msg_.rcpts.size())
                    send_rcpt(p.rcpt + 1);
                else
                    send_data_or_finish();
            }
            return;
        case Cmd::data: {
            bool any = mail_ok_ &&
                       std::any_of(accepted_.begin(), accepted_.end(), [](bool b) { return b; });
            if (code == 354) {
                if (any && s_.lmtp) {
                    // RFC 2033 4.2: one reply per accepted recipient, in RCPT order.
                    append_body();
                    data_sent_ = true;
                    dot_replies_ = 0;
                    for (size_t i = 0; i < accepted_.size(); ++i)
                        if (accepted_[i]) {
                            expect(Cmd::dot, i);
                            ++dot_replies_;
                        }
                    return;
                }
                if (s_.lmtp)  // 2033 4.2: DATA with no valid recipient must fail with 503
                    return fail(4, "4.5.0", "354 to DATA with no valid recipient from " + s_.peer);
                if (any) {
                    append_body();
                    data_sent_ = true;
                } else {
                    write(".");  // RFC 2920 3.1: no valid recipient, but DATA was accepted
                }
                expect(Cmd::dot);
                return;
            }
            if (any) set_all(reply_outcome(code, lines, ctx), true);
            if (code == 421) return fail_reply(code, lines, ctx);
            write("RSET");
            expect(Cmd::rset);
            return;
        }
        case Cmd::dot:
            if (s_.lmtp && data_sent_) {
                // This recipient's own answer: delivered, deferred or refused.
                results_[p.rcpt] = reply_outcome(code, lines, ctx);
                if (--dot_replies_ == 0) data_sent_ = false;
                if (code == 421) return fail_reply(code, lines, ctx);
                if (pending_.empty()) finish_message();
                return;
            }
            if (data_sent_) {
                Outcome o = reply_outcome(code, lines, ctx);
                // RFC 3461 5.2.2: a peer with DSN took NOTIFY and reports success itself.
                if (o.status == 2) o.peer_dsn = ext_.dsn;
                set_all(o, true);
                data_sent_ = false;
            }
            if (code == 421) return fail_reply(code, lines, ctx);
            if (pending_.empty()) finish_message();
            return;
        case Cmd::rset:
            if (code / 100 != 2) return fail_reply(code, lines, ctx);
            if (pending_.empty()) finish_message();
            return;
        case Cmd::quit:
            session_ = Outcome{2, "2.0.0", "closed"};
            event_ = Event::closed;
            return;
    }
}

void SmtpClient::after_hello() {
    if (ext_.starttls && !s_.tls_active && s_.tls_possible && !tls_refused_) {
        write("STARTTLS");
        expect(Cmd::starttls);
        return;
    }
    if (s_.tls_required && !s_.tls_active)
        return fail(4, "4.7.4", "TLS is required, but was not offered by " + s_.peer);
    if (!s_.auth_user.empty() && s_.tls_active && start_auth()) return;
    session_ready();
}

// AUTH with the first of our mechanisms the server offers; false when none fits.
bool SmtpClient::start_auth() {
    for (const auto& m : s_.auth_mechanisms) {
        if (std::find(ext_.auth.begin(), ext_.auth.end(), m) == ext_.auth.end()) continue;
        if (m == "PLAIN") {
            std::string resp;
            resp.push_back('\0');
            resp += s_.auth_user;
            resp.push_back('\0');
            resp += s_.auth_password;
            write("AUTH PLAIN " + base64(resp));
            expect(Cmd::auth);
            return true;
        }
        if (m == "LOGIN") {
            write("AUTH LOGIN");
            expect(Cmd::auth);
            return true;
        }
    }
    return false;
}

void SmtpClient::session_ready() {
    ready_ = true;
    if (have_message_)
        begin_message();
    else
        event_ = Event::idle;
}

bool needs_smtputf8(const MessageSpec& m) {
    if (!m.smtputf8) return false;
    if (has_8bit(m.sender) || has_8bit(m.envid)) return true;
    for (const auto& r : m.rcpts)
        if (has_8bit(r.address)) return true;  // ORCPT: 7-bit as sent (orcpt_param_value)
    std::string_view header = m.body;
    if (header.compare(0, 2, "\r\n") == 0) return false;  // no header section at all
    size_t end = header.find("\r\n\r\n");
    if (end != std::string_view::npos) header = header.substr(0, end);
    return has_8bit(header);
}

std::string SmtpClient::mail_command() const {
    std::string c = "MAIL FROM:<" + msg_.sender + ">";
    if (ext_.size) c += " SIZE=" + std::to_string(msg_.body.size());
    if (msg_.eight_bit && ext_.eight_bit) c += " BODY=8BITMIME";
    if (ext_.smtputf8 && needs_smtputf8(msg_)) c += " SMTPUTF8";
    if (ext_.dsn) {
        if (!msg_.ret.empty()) c += " RET=" + msg_.ret;
        if (!msg_.envid.empty()) c += " ENVID=" + xtext_encode(msg_.envid);
    }
    return c;
}

std::string SmtpClient::rcpt_command(const RcptSpec& r) const {
    std::string c = "RCPT TO:<" + r.address + ">";
    if (ext_.dsn) {
        if (r.notify & kNotifyNever) {
            c += " NOTIFY=NEVER";
        } else if (r.notify) {
            std::string n;
            if (r.notify & kNotifySuccess) n += ",SUCCESS";
            if (r.notify & kNotifyFailure) n += ",FAILURE";
            if (r.notify & kNotifyDelay) n += ",DELAY";
            if (!n.empty()) c += " NOTIFY=" + n.substr(1);
        }
        // Without DSN, or when it cannot be sent well formed, ORCPT is left out: our own
        // "relayed" report carries it; the recipient is never refused for it.
        std::string orcpt = r.orcpt.empty() ? "" : orcpt_param_value(r.orcpt);
        if (!orcpt.empty()) c += " ORCPT=" + orcpt;
    }
    return c;
}

void SmtpClient::begin_message() {
    // What the message needs and the server lacks: a clear permanent failure, sent nowhere.
    const char* refusal = nullptr;
    std::string dsn;
    if (ext_.size && ext_.size_limit && msg_.body.size() > ext_.size_limit) {
        refusal = "message size exceeds the fixed limit of ";
        dsn = "5.3.4";
    } else if (!ext_.smtputf8 && needs_smtputf8(msg_)) {
        refusal = "the message needs SMTPUTF8, which is not supported by ";
        dsn = "5.6.7";
    } else if (msg_.eight_bit && !ext_.eight_bit && has_8bit(msg_.body)) {
        refusal = "the message has 8-bit content and 8BITMIME is not supported by ";
        dsn = "5.6.3";
    }
    bool bad_address = !safe_for_command(msg_.sender) || !safe_for_command(msg_.envid);
    for (const auto& r : msg_.rcpts)
        bad_address = bad_address || !safe_for_command(r.address);
    if (bad_address) {
        refusal = "an address or parameter cannot be sent to ";
        dsn = "5.5.2";
    }
    if (msg_.rcpts.empty()) {
        event_ = Event::message_done;
        return;
    }
    if (refusal) {
        std::string text = refusal;
        if (dsn == "5.3.4") text += std::to_string(ext_.size_limit) + " bytes of ";
        text += s_.peer;
        set_all(Outcome{5, dsn, text}, false);
        event_ = Event::message_done;
        return;
    }
    write(mail_command());
    ++mails_;
    expect(Cmd::mail);
    if (ext_.pipelining) {
        for (size_t i = 0; i < msg_.rcpts.size(); ++i) {
            write(rcpt_command(msg_.rcpts[i]));
            expect(Cmd::rcpt, i);
        }
        write("DATA");
        expect(Cmd::data);
    }
}

void SmtpClient::send_rcpt(size_t i) {
    write(rcpt_command(msg_.rcpts[i]));
    expect(Cmd::rcpt, i);
}

void SmtpClient::send_data_or_finish() {
    if (std::any_of(accepted_.begin(), accepted_.end(), [](bool b) { return b; })) {
        write("DATA");
        expect(Cmd::data);
    } else {
        write("RSET");
        expect(Cmd::rset);
    }
}

void SmtpClient::finish_message() {
    for (auto& r : results_)
        if (r.dsn.empty()) r = Outcome{4, "4.4.0", "no reply for this recipient from " + s_.peer};
    event_ = Event::message_done;
}

}  // namespace tegami::remote
