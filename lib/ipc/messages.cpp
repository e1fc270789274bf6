// messages.cpp - see messages.hpp. Each decoder consumes exactly the fields its encoder
// wrote and fails on anything short or left over.
#include "lib/ipc/messages.hpp"

#include "lib/ipc/frame.hpp"

namespace tegami::ipc {

std::string encode(const ListenerMsg& m, uint32_t nfds) {
    FrameWriter w(MsgType::listener);
    w.str(m.role);
    w.str(m.name);
    return w.finish(nfds);
}

bool decode(std::string_view payload, ListenerMsg& m) {
    FrameReader r(payload);
    r.str(m.role);
    r.str(m.name);
    return r.finish();
}

std::string encode(const SubmitMsg& m) {
    FrameWriter w(MsgType::submit);
    w.u64(m.request_id);
    w.str(m.queue_id);
    w.str(m.sender);
    w.strs(m.recipients);
    w.strs(m.orcpts);
    w.str(m.client_addr);
    w.str(m.client_name);
    w.str(m.helo);
    w.str(m.protocol);
    w.u32(m.flags);
    w.str(m.envid);
    w.u32(static_cast<uint32_t>(m.notify.size()));
    for (uint32_t n : m.notify)
        w.u32(n);
    w.strs(m.dsn_orcpts);
    w.str(m.body);
    return w.finish();
}

bool decode(std::string_view payload, SubmitMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.str(m.queue_id);
    r.str(m.sender);
    r.strs(m.recipients);
    r.strs(m.orcpts);
    r.str(m.client_addr);
    r.str(m.client_name);
    r.str(m.helo);
    r.str(m.protocol);
    r.u32(m.flags);
    r.str(m.envid);
    uint32_t nn = 0;
    // Each bit set takes 4 bytes: bound the count before allocating.
    if (!r.u32(nn) || nn > payload.size() / 4) return false;
    m.notify.resize(nn);
    for (auto& n : m.notify)
        r.u32(n);
    r.strs(m.dsn_orcpts);
    r.str(m.body);
    return r.finish();
}

std::string encode(const SubmitResultMsg& m) {
    FrameWriter w(MsgType::submit_result);
    w.u64(m.request_id);
    w.u32(m.status);
    w.str(m.queue_id);
    w.str(m.text);
    return w.finish();
}

bool decode(std::string_view payload, SubmitResultMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.u32(m.status);
    r.str(m.queue_id);
    r.str(m.text);
    return r.finish();
}

std::string encode(const BodyChunkMsg& m) {
    FrameWriter w(MsgType::body_chunk);
    w.str(m.queue_id);
    w.u32(m.index);
    w.str(m.data);
    return w.finish();
}

bool decode(std::string_view payload, BodyChunkMsg& m) {
    FrameReader r(payload);
    r.str(m.queue_id);
    r.u32(m.index);
    r.str(m.data);
    return r.finish();
}

std::string encode(const BodyChunkResultMsg& m) {
    FrameWriter w(MsgType::body_chunk_result);
    w.str(m.queue_id);
    w.u32(m.index);
    w.u32(m.status);
    w.str(m.text);
    return w.finish();
}

bool decode(std::string_view payload, BodyChunkResultMsg& m) {
    FrameReader r(payload);
    r.str(m.queue_id);
    r.u32(m.index);
    r.u32(m.status);
    r.str(m.text);
    return r.finish();
}

std::string encode(const BodyAbortMsg& m) {
    FrameWriter w(MsgType::body_abort);
    w.str(m.queue_id);
    return w.finish();
}

bool decode(std::string_view payload, BodyAbortMsg& m) {
    FrameReader r(payload);
    r.str(m.queue_id);
    return r.finish();
}

std::string encode(const DeliverMsg& m) {
    FrameWriter w(MsgType::deliver);
    w.u64(m.request_id);
    w.str(m.queue_id);
    w.str(m.sender);
    w.u32(static_cast<uint32_t>(m.recipients.size()));
    for (const auto& rc : m.recipients) {
        w.u32(rc.index);
        w.str(rc.address);
        w.str(rc.orcpt);
        w.u32(rc.notify);
    }
    w.str(m.next_hop);
    w.str(m.envid);
    w.u32(m.flags);
    w.u64(m.arrival_time);
    w.u64(m.body_size);
    w.u64(m.body_offset);
    return w.finish(1);
}

bool decode(std::string_view payload, DeliverMsg& m) {
    FrameReader r(payload);
    uint32_t n = 0;
    r.u64(m.request_id);
    r.str(m.queue_id);
    r.str(m.sender);
    // Each recipient takes at least 16 bytes: bound the count before allocating.
    if (!r.u32(n) || n == 0 || n > payload.size() / 16) return false;
    m.recipients.resize(n);
    for (auto& rc : m.recipients) {
        r.u32(rc.index);
        r.str(rc.address);
        r.str(rc.orcpt);
        r.u32(rc.notify);
    }
    r.str(m.next_hop);
    r.str(m.envid);
    r.u32(m.flags);
    r.u64(m.arrival_time);
    r.u64(m.body_size);
    r.u64(m.body_offset);
    return r.finish();
}

std::string encode(const DeliverResultMsg& m) {
    FrameWriter w(MsgType::deliver_result);
    w.u64(m.request_id);
    w.u32(static_cast<uint32_t>(m.results.size()));
    for (const auto& rr : m.results) {
        w.u32(rr.index);
        w.u32(rr.status);
        w.str(rr.dsn);
        w.str(rr.text);
        w.u32(rr.flags);
    }
    w.str(m.relay);
    w.u32(m.setup_ms);
    w.u32(m.xfer_ms);
    return w.finish();
}

bool decode(std::string_view payload, DeliverResultMsg& m) {
    FrameReader r(payload);
    uint32_t n = 0;
    r.u64(m.request_id);
    if (!r.u32(n) || n > payload.size() / 16) return false;
    m.results.resize(n);
    for (auto& rr : m.results) {
        r.u32(rr.index);
        r.u32(rr.status);
        r.str(rr.dsn);
        r.str(rr.text);
        r.u32(rr.flags);
    }
    r.str(m.relay);
    r.u32(m.setup_ms);
    r.u32(m.xfer_ms);
    return r.finish();
}

std::string encode(const DeliverRedirectMsg& m) {
    FrameWriter w(MsgType::deliver_redirect);
    w.u64(m.request_id);
    w.u32(m.index);
    w.u32(static_cast<uint32_t>(m.targets.size()));
    for (const auto& t : m.targets) {
        w.str(t.address);
        w.u32(t.route);
    }
    return w.finish();
}

bool decode(std::string_view payload, DeliverRedirectMsg& m) {
    FrameReader r(payload);
    uint32_t n = 0;
    r.u64(m.request_id);
    r.u32(m.index);
    if (!r.u32(n) || n == 0 || n > kMaxRedirects || n > payload.size() / 8) return false;
    m.targets.resize(n);
    for (auto& t : m.targets) {
        r.str(t.address);
        r.u32(t.route);
    }
    if (!r.finish()) return false;
    for (const auto& t : m.targets)
        if (t.address.empty() || t.route > kRedirectMailbox) return false;
    return true;
}

std::string encode(const AuthStartMsg& m) {
    FrameWriter w(MsgType::auth_start);
    w.u64(m.request_id);
    w.str(m.mechanism);
    w.u32(m.has_initial);
    w.str(m.initial);
    w.str(m.client_addr);
    w.str(m.channel_binding);
    w.u32(m.flags);
    return w.finish();
}

bool decode(std::string_view payload, AuthStartMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.str(m.mechanism);
    r.u32(m.has_initial);
    r.str(m.initial);
    r.str(m.client_addr);
    r.str(m.channel_binding);
    r.u32(m.flags);
    return r.finish() && m.has_initial <= 1;
}

std::string encode(const AuthStepMsg& m) {
    FrameWriter w(MsgType::auth_step);
    w.u64(m.request_id);
    w.str(m.response);
    return w.finish();
}

bool decode(std::string_view payload, AuthStepMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.str(m.response);
    return r.finish();
}

std::string encode(const AuthCancelMsg& m) {
    FrameWriter w(MsgType::auth_cancel);
    w.u64(m.request_id);
    return w.finish();
}

bool decode(std::string_view payload, AuthCancelMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    return r.finish();
}

std::string encode(const AuthCheckMsg& m) {
    FrameWriter w(MsgType::auth_check);
    w.u64(m.request_id);
    w.str(m.client_addr);
    return w.finish();
}

bool decode(std::string_view payload, AuthCheckMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.str(m.client_addr);
    return r.finish();
}

std::string encode(const AuthReplyMsg& m) {
    FrameWriter w(MsgType::auth_reply);
    w.u64(m.request_id);
    w.u32(m.status);
    w.str(m.challenge);
    w.str(m.login);
    w.str(m.text);
    return w.finish();
}

bool decode(std::string_view payload, AuthReplyMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.u32(m.status);
    r.str(m.challenge);
    r.str(m.login);
    r.str(m.text);
    return r.finish() && m.status >= kAuthContinue && m.status <= kAuthNoMech;
}

std::string encode_empty(MsgType type) {
    return FrameWriter(type).finish();
}

std::string encode(const ControlRequestMsg& m) {
    FrameWriter w(MsgType::control_request);
    w.u32(static_cast<uint32_t>(m.op));
    w.strs(m.ids);
    w.str(m.reason);
    return w.finish();
}

bool decode(std::string_view payload, ControlRequestMsg& m) {
    FrameReader r(payload);
    uint32_t op = 0, n = 0;
    r.u32(op);
    if (op < 1 || op > 5) return false;
    m.op = static_cast<ControlOp>(op);
    if (!r.u32(n) || n > payload.size() / 4) return false;
    m.ids.resize(n);
    for (auto& id : m.ids)
        r.str(id);
    r.str(m.reason);
    return r.finish();
}

std::string encode(const ControlListMsg& m) {
    FrameWriter w(MsgType::control_list);
    w.u32(static_cast<uint32_t>(m.entries.size()));
    for (const auto& e : m.entries) {
        w.str(e.queue_id);
        w.u32(e.flags);
        w.u64(e.size);
        w.u64(e.arrival);
        w.str(e.sender);
        w.str(e.reason);
        w.u32(static_cast<uint32_t>(e.recipients.size()));
        for (const auto& rc : e.recipients) {
            w.str(rc.address);
            w.str(rc.state);
            w.str(rc.dsn);
            w.str(rc.text);
            w.u64(rc.next_try);
        }
    }
    return w.finish();
}

bool decode(std::string_view payload, ControlListMsg& m) {
    FrameReader r(payload);
    uint32_t n = 0;
    // An entry takes at least 40 bytes, a recipient 24: bound counts before allocating.
    if (!r.u32(n) || n > payload.size() / 40) return false;
    m.entries.resize(n);
    for (auto& e : m.entries) {
        uint32_t k = 0;
        r.str(e.queue_id);
        r.u32(e.flags);
        r.u64(e.size);
        r.u64(e.arrival);
        r.str(e.sender);
        r.str(e.reason);
        if (!r.u32(k) || k > payload.size() / 24) return false;
        e.recipients.resize(k);
        for (auto& rc : e.recipients) {
            r.str(rc.address);
            r.str(rc.state);
            r.str(rc.dsn);
            r.str(rc.text);
            r.u64(rc.next_try);
        }
        if (!r.ok()) return false;
    }
    return r.finish();
}

std::string encode(const ControlResultMsg& m) {
    FrameWriter w(MsgType::control_result);
    w.u32(m.status);
    w.u32(m.count);
    w.str(m.text);
    return w.finish();
}

bool decode(std::string_view payload, ControlResultMsg& m) {
    FrameReader r(payload);
    r.u32(m.status);
    r.u32(m.count);
    r.str(m.text);
    return r.finish();
}

// ---- sending limits
std::string encode(const LimitCheckMsg& m) {
    FrameWriter w(MsgType::limit_check);
    w.u64(m.request_id);
    w.str(m.identity);
    return w.finish();
}

bool decode(std::string_view payload, LimitCheckMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.str(m.identity);
    return r.finish();
}

namespace {
void put_window(FrameWriter& w, const LimitWindowMsg& m) {
    for (uint64_t v : {m.max_messages, m.max_recipients, m.messages, m.recipients,
                       m.messages_free_at, m.recipients_free_at, m.next_drop})
        w.u64(v);
}
void get_window(FrameReader& r, LimitWindowMsg& m) {
    for (uint64_t* v : {&m.max_messages, &m.max_recipients, &m.messages, &m.recipients,
                        &m.messages_free_at, &m.recipients_free_at, &m.next_drop})
        r.u64(*v);
}
}  // namespace

std::string encode(const LimitReplyMsg& m) {
    FrameWriter w(MsgType::limit_reply);
    w.u64(m.request_id);
    w.u32(m.status);
    put_window(w, m.hour);
    put_window(w, m.day);
    return w.finish();
}

bool decode(std::string_view payload, LimitReplyMsg& m) {
    FrameReader r(payload);
    r.u64(m.request_id);
    r.u32(m.status);
    get_window(r, m.hour);
    get_window(r, m.day);
    return r.finish();
}

std::string encode(const LimitCountMsg& m) {
    FrameWriter w(MsgType::limit_count);
    w.str(m.identity);
    w.u64(m.messages);
    w.u64(m.recipients);
    return w.finish();
}

bool decode(std::string_view payload, LimitCountMsg& m) {
    FrameReader r(payload);
    r.str(m.identity);
    r.u64(m.messages);
    r.u64(m.recipients);
    return r.finish();
}

}  // namespace tegami::ipc
