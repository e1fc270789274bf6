// envelope.cpp - see envelope.hpp. Pure functions: no I/O, no globals.
// The decoder bounds every length by the bytes left before it allocates.
#include "queue/envelope.hpp"

#include <algorithm>
#include <charconv>

namespace tegami::queue {

namespace {

constexpr std::string_view kStateNames[] = {"pending", "deferred", "sent", "failed"};

void put_field(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
    out += '\n';
}

void put_number(std::string& out, uint64_t v) {
    put_field(out, std::to_string(v));
}

// Consumes fields from a record; the first failure sticks.
class FieldReader {
  public:
    explicit FieldReader(std::string_view rec) : rec_(rec) {}

    bool field(std::string_view& out) {
        if (!ok_) return false;
        size_t colon = rec_.find(':', pos_);
        if (colon == std::string_view::npos || colon == pos_ || colon - pos_ > 10) return fail();
        uint64_t len = 0;
        if (!parse_u64(rec_.substr(pos_, colon - pos_), len)) return fail();
        size_t start = colon + 1;
        if (len > rec_.size() - start || rec_.size() - start - len < 1) return fail();
        if (rec_[start + len] != '\n') return fail();
        out = rec_.substr(start, len);
        pos_ = start + len + 1;
        return true;
    }
    bool text(std::string& out) {
        std::string_view v;
        if (!field(v)) return false;
        out.assign(v);
        return true;
    }
    bool number(uint64_t& out) {
        std::string_view v;
        if (!field(v)) return false;
        return parse_u64(v, out) || fail();
    }
    bool number32(uint32_t& out) {
        uint64_t v = 0;
        if (!number(v)) return false;
        if (v > UINT32_MAX) return fail();
        out = static_cast<uint32_t>(v);
        return true;
    }
    bool done() const { return ok_ && pos_ == rec_.size(); }

    static bool parse_u64(std::string_view s, uint64_t& out) {
        if (s.empty() || s.size() > 20) return false;
        for (char c : s)
            if (c < '0' || c > '9') return false;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && p == s.data() + s.size();
    }

  private:
    bool fail() {
        ok_ = false;
        return false;
    }
    std::string_view rec_;
    size_t pos_ = 0;
    bool ok_ = true;
};

bool parse_state(std::string_view s, RcptState& out) {
    for (size_t i = 0; i < std::size(kStateNames); ++i) {
        if (kStateNames[i] == s) {
            out = static_cast<RcptState>(i);
            return true;
        }
    }
    return false;
}

Error corrupt(std::string_view qid, const char* what) {
    return make_error(Exit::data_err, std::string(qid) + ": corrupt envelope record: " + what);
}

bool read_recipient(FieldReader& r, Recipient& rc, uint64_t version) {
    std::string_view state;
    if (!r.text(rc.address)) return false;
    if (version >= 2 && !(r.text(rc.orcpt) && r.number32(rc.notify))) return false;
    return r.field(state) && parse_state(state, rc.state) && r.number32(rc.attempts) &&
           r.number(rc.next_try) && r.text(rc.dsn) && r.text(rc.text) &&
           (version < 3 || r.text(rc.route)) && (version < 4 || r.text(rc.dsn_orcpt));
}

}  // namespace

const char* rcpt_state_name(RcptState s) {
    return kStateNames[static_cast<size_t>(s)].data();
}

bool rcpt_state_final(RcptState s) {
    return s == RcptState::sent || s == RcptState::failed;
}

bool Envelope::all_final() const {
    for (const auto& r : recipients)
        if (!rcpt_state_final(r.state)) return false;
    return true;
}

std::optional<uint64_t> envelope_due(const Envelope& env) {
    if (env.flags & kEnvelopeHeld) return std::nullopt;
    uint64_t due = UINT64_MAX;
    for (const auto& r : env.recipients)
        if (!rcpt_state_final(r.state)) due = std::min(due, r.next_try);
    return due == UINT64_MAX ? 0 : due;
}

std::string encode_envelope(const Envelope& env) {
    std::string out;
    out.reserve(128 + env.recipients.size() * 64);
    put_number(out, kEnvelopeVersion);
    put_field(out, env.sender);
    put_number(out, env.arrival);
    put_field(out, env.client_addr);
    put_field(out, env.client_name);
    put_field(out, env.helo);
    put_field(out, env.protocol);
    put_number(out, env.flags);
    put_field(out, env.envid);
    put_number(out, env.recipients.size());
    for (const auto& r : env.recipients) {
        put_field(out, r.address);
        put_field(out, r.orcpt);
        put_number(out, r.notify);
        put_field(out, rcpt_state_name(r.state));
        put_number(out, r.attempts);
        put_number(out, r.next_try);
        put_field(out, r.dsn);
        put_field(out, r.text);
        put_field(out, r.route);
        put_field(out, r.dsn_orcpt);
    }
    return out;
}

Result<Envelope> decode_envelope(std::string_view queue_id, std::string_view record) {
    FieldReader r(record);
    uint64_t version = 0;
    if (!r.number(version)) return corrupt(queue_id, "no version");
    if (version < 1 || version > kEnvelopeVersion) return corrupt(queue_id, "unknown version");
    Envelope env;
    env.queue_id.assign(queue_id);
    uint64_t nrcpt = 0;
    if (!(r.text(env.sender) && r.number(env.arrival) && r.text(env.client_addr) &&
          r.text(env.client_name) && r.text(env.helo) && r.text(env.protocol) &&
          r.number32(env.flags) && (version < 2 || r.text(env.envid)) && r.number(nrcpt)))
        return corrupt(queue_id, "bad header field");
    if (nrcpt == 0 || nrcpt > kMaxRecipients) return corrupt(queue_id, "bad recipient count");
    // Each recipient takes at least 6 fields of 3 bytes: bound the count before reserving.
    if (nrcpt > record.size() / 18) return corrupt(queue_id, "recipient count exceeds record");
    env.recipients.resize(nrcpt);
    for (auto& rc : env.recipients)
        if (!read_recipient(r, rc, version)) return corrupt(queue_id, "bad recipient field");
    if (!r.done()) return corrupt(queue_id, "trailing bytes");
    return env;
}

std::string printable(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    return out;
}

}  // namespace tegami::queue
