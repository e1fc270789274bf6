// message_format.cpp - see message_format.hpp. Called by the delivery child; trusts
// nothing in the sender, recipient or body (all may come from a remote client): header
// values are stripped of control characters, the body is copied byte for byte except for
// the CRLF -> LF conversion and the quoting.
#include "deliver/local/message_format.hpp"

#include <cstdint>

#include "lib/core/unique_fd.hpp"

namespace tegami::local {

namespace {

std::string clean(std::string_view s, char bad_replacement, bool space_is_bad) {
    std::string out(s);
    for (char& c : out) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || (space_is_bad && u == ' ')) c = bad_replacement;
    }
    return out;
}

// True when line (without its newline) starts with zero or more '>' then "From ".
bool needs_quoting(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && line[i] == '>')
        ++i;
    return line.substr(i).starts_with("From ");
}

}  // namespace

std::string from_line(std::string_view sender, time_t when) {
    tm t{};
    localtime_r(&when, &t);
    char date[64];
    size_t n = std::strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &t);
    std::string out = "From ";
    out += sender.empty() ? std::string("MAILER-DAEMON") : clean(sender, '_', true);
    out += ' ';
    out.append(date, n);
    out += '\n';
    return out;
}

std::string delivery_headers(std::string_view sender, std::string_view recipient) {
    return "Return-Path: <" + clean(sender, '?', false) +
           ">\nDelivered-To: " + clean(recipient, '?', false) + "\n";
}

namespace {

// Calls fn(line, quoted) for each line of body as the conversion sees it: without its
// LF, and without the CR before that LF; quoted when mboxrd adds a '>' in front.
template <typename Fn>
void for_each_line(std::string_view& body, bool mboxrd, Fn&& fn) {
    while (!body.empty()) {
        size_t nl = body.find('\n');
        std::string_view line = body.substr(0, nl);
        body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
        if (nl != std::string_view::npos && !line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (!fn(line, mboxrd && needs_quoting(line))) return;
    }
}

}  // namespace

void append_body(std::string& out, std::string_view body, bool mboxrd) {
    out.reserve(out.size() + body.size() + 64);
    append_body_part(out, body, mboxrd, SIZE_MAX);
}

void append_body_part(std::string& out, std::string_view& body, bool mboxrd, size_t limit) {
    for_each_line(body, mboxrd, [&](std::string_view line, bool quoted) {
        if (quoted) out += '>';
        out += line;
        out += '\n';
        return out.size() < limit;
    });
}

size_t converted_body_size(std::string_view body, bool mboxrd) {
    size_t n = 0;
    for_each_line(body, mboxrd, [&](std::string_view line, bool quoted) {
        n += line.size() + 1 + (quoted ? 1 : 0);
        return true;
    });
    return n;
}

std::string mbox_entry(const MailMessage& m, time_t when) {
    std::string out = from_line(m.sender, when);
    out += delivery_headers(m.sender, m.recipient);
    append_body(out, m.body, true);
    out += '\n';
    return out;
}

size_t mbox_entry_size(const MailMessage& m, time_t when) {
    return from_line(m.sender, when).size() + delivery_headers(m.sender, m.recipient).size() +
           converted_body_size(m.body, true) + 1;
}

std::string maildir_file(const MailMessage& m) {
    std::string out = delivery_headers(m.sender, m.recipient);
    append_body(out, m.body, false);
    return out;
}

MessagePieces::MessagePieces(const MailMessage& m, Form form, time_t when)
    : head_(form == Form::mbox ? from_line(m.sender, when) : std::string()),
      body_(m.body),
      mapped_(m.mapped),
      mbox_(form == Form::mbox) {
    head_ += delivery_headers(m.sender, m.recipient);
}

void MessagePieces::append(std::string& out, size_t limit) {
    if (done_) return;
    if (!head_.empty()) {
        out += head_;
        head_ = std::string();
    }
    if (!body_.empty()) {
        const char* from = body_.data();
        append_body_part(out, body_, mbox_, limit);
        if (mapped_) UniqueMapping::drop_pages(from, static_cast<size_t>(body_.data() - from));
    }
    if (body_.empty()) {
        if (mbox_) out += '\n';  // the blank line that ends an mbox entry
        done_ = true;
    }
}

HeaderFacts scan_headers(std::string_view m) {
    HeaderFacts f;
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (char& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return out;
    };
    auto trim = [](std::string& s) {
        size_t a = s.find_first_not_of(" \t");
        size_t b = s.find_last_not_of(" \t");
        s = a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
    };
    std::string* open = nullptr;  // the Delivered-To value a continuation line extends
    size_t pos = 0;
    while (pos < m.size()) {
        size_t nl = m.find('\n', pos);
        size_t end = nl == std::string_view::npos ? m.size() : nl;
        std::string_view line = m.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {  // the end of the header section, if the line is whole
            f.ended = nl != std::string_view::npos;
            break;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            if (open) {
                *open += ' ';
                *open += lower(line);
                trim(*open);
            }
            continue;
        }
        open = nullptr;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = lower(line.substr(0, colon));
        trim(name);
        if (name == "received") {
            ++f.received;
        } else if (name == "delivered-to") {
            f.delivered_to.push_back(lower(line.substr(colon + 1)));
            trim(f.delivered_to.back());
            open = &f.delivered_to.back();
        }
    }
    return f;
}

bool HeaderFacts::delivered_to_has(std::string_view addr) const {
    for (const auto& d : delivered_to) {
        if (d.size() != addr.size()) continue;
        bool same = true;
        for (size_t i = 0; i < d.size() && same; ++i) {
            char c = addr[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            same = d[i] == c;
        }
        if (same) return true;
    }
    return false;
}

}  // namespace tegami::local
