// queue_file.cpp - see queue_file.hpp.
#include "msp/sendmail/queue_file.hpp"

#include "lib/core/queue_id.hpp"

namespace tegami::msp {

namespace {

constexpr std::string_view kMagic = "TEGAMI-MSP 1\n";

void field(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
    out += '\n';
}

// Reads one field at pos; false on any malformation.
bool read_field(std::string_view data, size_t& pos, std::string_view& out) {
    size_t len = 0, i = pos, digits = 0;
    while (i < data.size() && data[i] >= '0' && data[i] <= '9') {
        if (++digits > 10) return false;
        len = len * 10 + static_cast<size_t>(data[i] - '0');
        ++i;
    }
    if (digits == 0 || i >= data.size() || data[i] != ':') return false;
    ++i;
    if (len > data.size() - i || data.size() - i - len < 1 || data[i + len] != '\n') return false;
    out = data.substr(i, len);
    pos = i + len + 1;
    return true;
}

bool to_number(std::string_view s, uint64_t& out) {
    if (s.empty() || s.size() > 10) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
}

}  // namespace

std::string encode_queue_file_head(const QueuedMessage& m) {
    std::string out(kMagic);
    field(out, m.sender);
    field(out, std::to_string(m.flags));
    field(out, m.notify);
    field(out, m.ret);
    field(out, m.envid);
    field(out, std::to_string(m.recipients.size()));
    for (const auto& r : m.recipients)
        field(out, r);
    out += std::to_string(m.message.size());
    out += ':';
    return out;
}

Result<QueuedMessage> decode_queue_file(std::string_view data) {
    auto bad = [](const char* what) {
        return make_error(Exit::data_err, std::string("malformed client-queue file: ") + what);
    };
    if (data.substr(0, kMagic.size()) != kMagic) return bad("no TEGAMI-MSP 1 line");
    size_t pos = kMagic.size();
    QueuedMessage m;
    std::string_view f;
    uint64_t n = 0;
    if (!read_field(data, pos, f)) return bad("sender");
    m.sender = f;
    if (!read_field(data, pos, f) || !to_number(f, n)) return bad("flags");
    m.flags = static_cast<uint32_t>(n);
    if (!read_field(data, pos, f)) return bad("notify");
    m.notify = f;
    if (!read_field(data, pos, f)) return bad("ret");
    m.ret = f;
    if (!read_field(data, pos, f)) return bad("envid");
    m.envid = f;
    if (!read_field(data, pos, f) || !to_number(f, n) || n == 0 || n > kMaxQueueFileRecipients)
        return bad("recipient count");
    for (uint64_t i = 0; i < n; ++i) {
        if (!read_field(data, pos, f) || f.empty()) return bad("recipient");
        m.recipients.emplace_back(f);
    }
    if (!read_field(data, pos, f)) return bad("message (truncated)");
    m.message = f;
    if (pos != data.size()) return bad("trailing bytes");
    return m;
}

std::string new_queue_file_name() {
    return "qf" + new_queue_id();
}

bool is_queue_file_name(std::string_view name) {
    return name.size() > 2 && name.substr(0, 2) == "qf" && valid_queue_id(name.substr(2));
}

std::string lost_queue_file_name(std::string_view name) {
    return "Qf" + std::string(name.substr(2));
}

bool is_lost_queue_file_name(std::string_view name) {
    return name.size() > 2 && (name.substr(0, 2) == "Qf" || name.substr(0, 2) == "bf") &&
           valid_queue_id(name.substr(2));
}

}  // namespace tegami::msp
