// message.cpp - see message.hpp. Pure functions over the message; no I/O.
#include "msp/sendmail/message.hpp"

#include <strings.h>

#include <cctype>

namespace tegami::msp {

namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// One line of a normalized message starting at pos: [pos, eol) without its CRLF; next
// is where the following line starts.
std::string_view line_at(std::string_view msg, size_t pos, size_t& next) {
    size_t eol = msg.find("\r\n", pos);
    if (eol == std::string_view::npos) {
        next = msg.size();
        return msg.substr(pos);
    }
    next = eol + 2;
    return msg.substr(pos, eol - pos);
}

// The field name of a header line, or "" when the line is not a header field.
std::string_view field_name(std::string_view line) {
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return {};
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
        name.remove_suffix(1);  // "Subject :" is tolerated, as sendmail does
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 32 || u >= 127) return {};
    }
    return name;
}

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

bool is_bcc(std::string_view name) {
    return iequal(name, "Bcc") || iequal(name, "Resent-Bcc");
}

// Start of the header block: after a leading Unix "From " line, which sendmail eats.
size_t header_start(std::string_view msg) {
    if (msg.substr(0, 5) != "From ") return 0;
    size_t next;
    line_at(msg, 0, next);
    return next;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    for (char c : value)
        out.push_back(c == '\r' || c == '\n' ? ' ' : c);
    out.append("\r\n");
}

}  // namespace

// ---- Normalizer

void Normalizer::end_line(std::string& out) {
    if (!ignore_dots_ && !dot_unstuffed_ && line_len_ == 1 && out[line_start_] == '.') {
        out.resize(line_start_);
        done_ = true;
        return;
    }
    if (in_header_) {  // the same rule as scan_headers for where the header block ends
        std::string_view line(out.data() + line_start_, line_len_);
        bool field = !field_name(line).empty();
        bool continuation = after_field_ && !line.empty() && is_wsp(line[0]);
        if (field || continuation)
            after_field_ = true;
        else if (first_line_ && line.substr(0, 5) == "From ")
            after_field_ = false;
        else
            in_header_ = false;
    }
    first_line_ = false;
    out.append("\r\n");
    line_start_ = out.size();
    line_len_ = 0;
    dot_unstuffed_ = false;
}

// The current line is full (kMaxLine octets) and another octet follows.
void Normalizer::break_line(std::string& out) {
    std::string_view line(out.data() + line_start_, line_len_);
    bool field = !field_name(line).empty();
    bool header = in_header_ && (field || (after_field_ && is_wsp(line[0])));
    dot_unstuffed_ = true;  // what follows a break is never the lone dot
    first_line_ = false;
    if (header) {
        after_field_ = true;
        // Fold before the last space or tab that has text before it on the line (and,
        // on the field's first line, comes after the colon); else after the last comma
        // (a list joined by bare commas), where a space may go.
        size_t from = field ? line.find(':') + 1 : line.find_first_not_of(" \t");
        size_t fold = line.find_last_of(" \t");
        size_t comma = line.find_last_of(',');
        if (from != std::string_view::npos && fold != std::string_view::npos && fold > from) {
            out.insert(line_start_ + fold, "\r\n");
            line_start_ += fold + 2;
            line_len_ = out.size() - line_start_;
            return;
        }
        if (from != std::string_view::npos && comma != std::string_view::npos && comma > from) {
            out.insert(line_start_ + comma + 1, "\r\n ");
            line_start_ += comma + 3;
            line_len_ = out.size() - line_start_;
            return;
        }
    }
    char last = out.back();  // break: the last octet moves to a new line
    out.back() = '!';
    out.append("\r\n");
    line_start_ = out.size();
    if (header) out.push_back(' ');  // a continuation, so the field goes on
    out.push_back(last);
    line_len_ = out.size() - line_start_;
}

void Normalizer::feed(std::string_view in, std::string& out) {
    for (char c : in) {
        if (done_) return;
        if (c == '\n') {
            if (!after_cr_) end_line(out);
            after_cr_ = false;
            continue;
        }
        after_cr_ = false;
        if (c == '\r') {
            end_line(out);
            after_cr_ = true;
            continue;
        }
        // Without -i, a line starting ".." loses one dot (sendmail reads stdin as if
        // dot-stuffed); with -i every line is kept as it is.
        if (!ignore_dots_ && c == '.' && line_len_ == 1 && out[line_start_] == '.' &&
            !dot_unstuffed_) {
            dot_unstuffed_ = true;
            continue;
        }
        if (line_len_ == kMaxLine) break_line(out);
        if (static_cast<unsigned char>(c) >= 0x80) eight_bit_ = true;
        out.push_back(c);
        ++line_len_;
    }
}

void Normalizer::finish(std::string& out) {
    if (!done_ && line_len_ > 0) end_line(out);
}

// ---- headers

HeaderScan scan_headers(std::string_view msg) {
    HeaderScan s;
    size_t pos = header_start(msg);
    std::vector<std::string> plain, resent;
    std::string_view current;  // name of the field being read
    std::string value;
    auto flush = [&] {
        if (current.empty()) return;
        bool r = iequal(current, "Resent-To") || iequal(current, "Resent-Cc") ||
                 iequal(current, "Resent-Bcc");
        bool p = iequal(current, "To") || iequal(current, "Cc") || iequal(current, "Bcc");
        if (p || r) {
            s.has_to = s.has_to || p;
            s.resent = s.resent || r;
            for (auto& a : parse_address_list(value))
                (r ? resent : plain).push_back(std::move(a));
        }
        current = {};
        value.clear();
    };
    while (pos < msg.size()) {
        size_t next;
        std::string_view line = line_at(msg, pos, next);
        if (line.empty()) break;
        if (line[0] == ' ' || line[0] == '\t') {
            if (current.empty() && pos == header_start(msg)) break;  // not a header block
            value.append(line);
            pos = next;
            continue;
        }
        std::string_view name = field_name(line);
        if (name.empty()) break;  // the body starts here (no empty line before it)
        flush();
        current = name;
        value.assign(line.substr(line.find(':') + 1));
        if (iequal(name, "From")) s.has_from = true;
        if (iequal(name, "Date")) s.has_date = true;
        if (iequal(name, "Message-Id")) s.has_message_id = true;
        pos = next;
    }
    flush();
    s.end = pos;
    s.recipients = s.resent ? std::move(resent) : std::move(plain);
    return s;
}

std::vector<std::string> parse_address_list(std::string_view v) {
    std::vector<std::string> out;
    std::string cur, angle;
    bool have_angle = false, in_angle = false, in_quote = false, in_literal = false;
    int depth = 0;
    auto flush = [&] {
        std::string a = have_angle ? angle : cur;
        std::string clean;
        bool q = false;
        for (size_t i = 0; i < a.size(); ++i) {
            char c = a[i];
            if (c == '"') q = !q;
            if (c == '\\' && q && i + 1 < a.size()) {
                clean.push_back(c);
                clean.push_back(a[++i]);
                continue;
            }
            if (!q && (c == ' ' || c == '\t')) continue;
            clean.push_back(c);
        }
        if (size_t colon = clean.rfind(':'); colon != std::string::npos && clean[0] == '@')
            clean.erase(0, colon + 1);  // source route <@a,@b:user@c>
        if (!clean.empty()) out.push_back(std::move(clean));
        cur.clear();
        angle.clear();
        have_angle = in_angle = false;
    };
    for (size_t i = 0; i < v.size(); ++i) {
        char c = v[i];
        std::string& sink = in_angle ? angle : cur;
        if (in_quote) {
            sink.push_back(c);
            if (c == '\\' && i + 1 < v.size()) {
                sink.push_back(v[++i]);
            } else if (c == '"') {
                in_quote = false;
            }
            continue;
        }
        if (depth > 0) {
            if (c == '\\') ++i;
            if (c == '(') ++depth;
            if (c == ')') --depth;
            continue;
        }
        if (in_literal) {  // a domain literal: "[IPv6:2001:db8::1]" holds colons
            if (c == ']') in_literal = false;
            if (c != ' ' && c != '\t') sink.push_back(c);
            continue;
        }
        switch (c) {
            case '[':
                in_literal = true;
                sink.push_back(c);
                break;
            case '(':
                depth = 1;
                break;
            case '"':
                in_quote = true;
                sink.push_back(c);
                break;
            case '<':
                in_angle = have_angle = true;
                angle.clear();
                break;
            case '>':
                in_angle = false;
                break;
            case ':':
                if (in_angle)
                    angle.push_back(c);
                else
                    cur.clear();  // "group name:" starts a group
                break;
            case ';':  // a group's end, or
            case ',':  // the next address
                if (in_angle)
                    angle.push_back(c);
                else
                    flush();
                break;
            default:
                if (!in_angle && have_angle) break;  // text after <...> before the comma
                sink.push_back(c);
        }
    }
    flush();
    return out;
}

std::vector<std::string> argument_addresses(std::string_view arg) {
    std::vector<std::string> out = parse_address_list(arg);
    if (out.empty()) out.emplace_back(arg);
    return out;
}

std::string from_header_value(std::string_view full_name, std::string_view address) {
    std::string_view name = trim(full_name.substr(0, 200));
    if (name.empty()) return std::string(address);
    bool special = name.find_first_of("()<>[]:;@\\,.\"") != std::string_view::npos;
    std::string out;
    if (special) {
        out.push_back('"');
        for (char c : name) {
            if (c == '"' || c == '\\') out.push_back('\\');
            if (c != '\r' && c != '\n') out.push_back(c);
        }
        out.push_back('"');
    } else {
        out.append(name);
    }
    out.append(" <");
    out.append(address);
    out.append(">");
    return out;
}

std::string gecos_full_name(std::string_view gecos, std::string_view login) {
    std::string_view first = gecos.substr(0, gecos.find(','));
    std::string out;
    for (char c : first) {
        if (c == '&') {
            std::string l(login);
            if (!l.empty())
                l[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(l[0])));
            out += l;
        } else if (static_cast<unsigned char>(c) >= 32) {
            out.push_back(c);
        }
    }
    return std::string(trim(out));
}

std::string edit_headers(std::string_view msg, const HeaderScan& scan, const HeaderEdits& e) {
    std::string out;
    out.reserve(msg.size() + 512);
    if (!scan.has_date) append_header(out, "Date", e.date);
    if (!scan.has_from)
        append_header(
            out, "From",
            e.bare_from ? e.from_address : from_header_value(e.full_name, e.from_address));
    if (!scan.has_message_id) append_header(out, "Message-Id", e.message_id);
    size_t pos = header_start(msg);
    bool skipping = false;
    while (pos < scan.end) {
        size_t next;
        std::string_view line = line_at(msg, pos, next);
        if (line[0] == ' ' || line[0] == '\t') {
            if (!skipping) out.append(msg.substr(pos, next - pos));
        } else {
            skipping = is_bcc(field_name(line));
            if (!skipping) out.append(msg.substr(pos, next - pos));
        }
        pos = next;
    }
    if (!e.auth_warning.empty()) append_header(out, "X-Authentication-Warning", e.auth_warning);
    std::string_view rest = msg.substr(scan.end);
    if (rest.substr(0, 2) != "\r\n") out.append("\r\n");  // the body needs its empty line
    out.append(rest);
    return out;
}

}  // namespace tegami::msp
