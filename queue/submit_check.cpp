// submit_check.cpp - see submit_check.hpp.
#include "queue/submit_check.hpp"

#include "lib/core/queue_id.hpp"

namespace tegami::queue {

bool address_storable(std::string_view addr) {
    if (addr.size() > kMaxAddress) return false;
    for (char c : addr) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '<' || c == '>') return false;
    }
    return true;
}

// As written by the client: may hold spaces (quoted) and UTF-8, never control bytes.
bool original_storable(std::string_view addr) {
    if (addr.size() > kMaxAddress) return false;
    for (char c : addr) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

std::optional<Refusal> check_submit(const ipc::SubmitMsg& m) {
    if (!valid_queue_id(m.queue_id)) return Refusal{ipc::kStatusTemp, "4.3.5 invalid queue ID"};
    if (m.recipients.empty()) return Refusal{ipc::kStatusPerm, "5.5.1 no recipients"};
    if (m.recipients.size() > kMaxRecipients)
        return Refusal{ipc::kStatusPerm, "5.5.3 too many recipients"};
    if (!address_storable(m.sender))
        return Refusal{ipc::kStatusPerm, "5.1.7 bad sender address syntax"};
    for (const auto& r : m.recipients)
        if (r.empty() || !address_storable(r))
            return Refusal{ipc::kStatusPerm, "5.1.3 bad recipient address syntax"};
    if (!m.orcpts.empty() && m.orcpts.size() != m.recipients.size())
        return Refusal{ipc::kStatusPerm, "5.5.4 original recipients do not match recipients"};
    for (const auto& o : m.orcpts)
        if (!original_storable(o)) return Refusal{ipc::kStatusPerm, "5.1.3 bad original recipient"};
    if ((!m.notify.empty() && m.notify.size() != m.recipients.size()) ||
        (!m.dsn_orcpts.empty() && m.dsn_orcpts.size() != m.recipients.size()))
        return Refusal{ipc::kStatusPerm, "5.5.4 DSN parameters do not match recipients"};
    constexpr uint32_t kAllNotify =
        ipc::kNotifyNever | ipc::kNotifySuccess | ipc::kNotifyFailure | ipc::kNotifyDelay;
    for (uint32_t n : m.notify)
        if ((n & ~kAllNotify) || ((n & ipc::kNotifyNever) && n != ipc::kNotifyNever))
            return Refusal{ipc::kStatusPerm, "5.5.4 bad NOTIFY"};
    for (const auto& o : m.dsn_orcpts)
        if (!original_storable(o) || (!o.empty() && o.find(';') == std::string::npos))
            return Refusal{ipc::kStatusPerm, "5.5.4 bad ORCPT"};
    if (m.envid.size() > kMaxEnvid || !original_storable(m.envid))
        return Refusal{ipc::kStatusPerm, "5.5.4 bad ENVID"};
    if ((m.flags & ipc::kFlagRetFull) && (m.flags & ipc::kFlagRetHdrs))
        return Refusal{ipc::kStatusPerm, "5.5.4 RET=FULL and RET=HDRS"};
    return std::nullopt;
}

Envelope envelope_from_submit(const ipc::SubmitMsg& m, uint64_t now) {
    Envelope e;
    e.queue_id = m.queue_id;
    e.sender = m.sender;
    e.arrival = now;
    e.client_addr = printable(m.client_addr);
    e.client_name = printable(m.client_name);
    e.helo = printable(m.helo);
    e.protocol = printable(m.protocol);
    e.flags = m.flags;
    e.envid = m.envid;
    e.recipients.reserve(m.recipients.size());
    for (size_t i = 0; i < m.recipients.size(); ++i) {
        Recipient r;
        r.address = m.recipients[i];
        if (!m.orcpts.empty() && m.orcpts[i] != r.address) r.orcpt = m.orcpts[i];
        if (!m.notify.empty()) r.notify = m.notify[i];
        if (!m.dsn_orcpts.empty()) r.dsn_orcpt = m.dsn_orcpts[i];
        e.recipients.push_back(std::move(r));
    }
    return e;
}

}  // namespace tegami::queue
