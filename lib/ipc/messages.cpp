// messages.cpp - see messages.hpp. Every message's layout is declared once, in the table
// of Fields<M> below: its type, its fields in wire order and the checks on them. One
// writer and one reader walk that list, so encode and decode cannot disagree, and each
// decoder consumes exactly the fields its encoder wrote and fails on anything short, left
// over or outside the layout's bounds. Called by every process on both ends of every
// channel; trusts nothing in a payload it reads.
//
// A field is one of
//   uint32_t, uint64_t, std::string                   u32, u64, u32 length + bytes
//   std::vector<std::string>, std::vector<uint32_t>    u32 count, then each element
//   std::vector<R> of a record R with a Fields<R>     u32 count, then each record's fields
//   a record R with a Fields<R>                       its fields, inline
//   within(v, lo, hi)    a u32 (or an enum on u32) that must be in [lo, hi]
//   nonempty(s)            a string that must not be empty
//   with_count(v, min, max) a vector whose count must be in [min, max]
// Counts are bounded by what the payload could hold (each element's smallest encoding)
// before anything is allocated.
//
// Adding a message: its struct and the two declarations in messages.hpp, a Fields<M>
// here (type, nfds when it carries descriptors, of()), a TEGAMI_IPC_MESSAGE line at the
// end, a golden row in tests/unit/lib/ipc/golden_test.cpp and a case in
// tests/fuzz/ipc_messages_fuzz.cpp.
#include "lib/ipc/messages.hpp"

#include <limits>
#include <type_traits>
#include <utility>

#include "lib/ipc/frame.hpp"

namespace tegami::ipc {

namespace {

// ---- field markers

template <typename T>
struct Range {
    T* v;
    std::remove_const_t<T> lo, hi;
};
template <typename T>
Range<T> within(T& v, std::remove_const_t<T> lo, std::remove_const_t<T> hi) {
    return {&v, lo, hi};
}

template <typename S>
struct NonEmpty {
    S* s;
};
template <typename S>
NonEmpty<S> nonempty(S& s) {
    return {&s};
}

template <typename V>
struct Count {
    V* v;
    uint32_t min, max;
};
template <typename V>
Count<V> with_count(V& v, uint32_t min, uint32_t max = std::numeric_limits<uint32_t>::max()) {
    return {&v, min, max};
}

// ---- the table: Fields<M>::of(f, m) calls f with m's fields in wire order.

template <typename M>
struct Fields;

template <typename M>
concept Record = requires {
    sizeof(Fields<M>);
};

template <>
struct Fields<ListenerMsg> {
    static constexpr MsgType type = MsgType::listener;
    static void of(auto& f, auto& m) { f(m.role, m.name); }
};

template <>
struct Fields<SubmitMsg> {
    static constexpr MsgType type = MsgType::submit;
    static void of(auto& f, auto& m) {
        f(m.request_id, m.queue_id, m.sender, m.recipients, m.orcpts, m.client_addr, m.client_name,
          m.helo, m.protocol, m.flags, m.envid, m.notify, m.dsn_orcpts, m.body);
    }
};

template <>
struct Fields<SubmitResultMsg> {
    static constexpr MsgType type = MsgType::submit_result;
    static void of(auto& f, auto& m) { f(m.request_id, m.status, m.queue_id, m.text); }
};

template <>
struct Fields<BodyChunkMsg> {
    static constexpr MsgType type = MsgType::body_chunk;
    static void of(auto& f, auto& m) { f(m.queue_id, m.index, m.data); }
};

template <>
struct Fields<BodyChunkResultMsg> {
    static constexpr MsgType type = MsgType::body_chunk_result;
    static void of(auto& f, auto& m) { f(m.queue_id, m.index, m.status, m.text); }
};

template <>
struct Fields<BodyAbortMsg> {
    static constexpr MsgType type = MsgType::body_abort;
    static void of(auto& f, auto& m) { f(m.queue_id); }
};

template <>
struct Fields<BodyWriterMsg> {
    static constexpr MsgType type = MsgType::body_writer;
    static constexpr uint32_t nfds = 1;  // the body file, open for writing
    static void of(auto& f, auto& m) { f(m.queue_id); }
};

template <>
struct Fields<DeliverRcpt> {
    static void of(auto& f, auto& m) { f(m.index, m.address, m.orcpt, m.notify); }
};

template <>
struct Fields<DeliverMsg> {
    static constexpr MsgType type = MsgType::deliver;
    static constexpr uint32_t nfds = 1;  // the body: a body file or a sealed memfd
    static void of(auto& f, auto& m) {
        f(m.request_id, m.queue_id, m.sender, with_count(m.recipients, 1), m.next_hop, m.envid,
          m.flags, m.arrival_time, m.body_size, m.body_offset);
    }
};

template <>
struct Fields<RcptResult> {
    static void of(auto& f, auto& m) { f(m.index, m.status, m.dsn, m.text, m.flags); }
};

template <>
struct Fields<DeliverResultMsg> {
    static constexpr MsgType type = MsgType::deliver_result;
    static void of(auto& f, auto& m) { f(m.request_id, m.results, m.relay, m.setup_ms, m.xfer_ms); }
};

template <>
struct Fields<RedirectTarget> {
    static void of(auto& f, auto& m) {
        f(nonempty(m.address), within(m.route, kRedirectAddress, kRedirectMailbox), m.sender);
    }
};

template <>
struct Fields<DeliverRedirectMsg> {
    static constexpr MsgType type = MsgType::deliver_redirect;
    static void of(auto& f, auto& m) {
        f(m.request_id, m.index, with_count(m.targets, 1, kMaxRedirects));
    }
};

template <>
struct Fields<AuthStartMsg> {
    static constexpr MsgType type = MsgType::auth_start;
    static void of(auto& f, auto& m) {
        f(m.request_id, m.mechanism, within(m.has_initial, 0, 1), m.initial, m.client_addr,
          m.channel_binding, m.flags, m.local_addr, within(m.local_port, 0, 65535));
    }
};

template <>
struct Fields<AuthStepMsg> {
    static constexpr MsgType type = MsgType::auth_step;
    static void of(auto& f, auto& m) { f(m.request_id, m.response); }
};

template <>
struct Fields<AuthCancelMsg> {
    static constexpr MsgType type = MsgType::auth_cancel;
    static void of(auto& f, auto& m) { f(m.request_id); }
};

template <>
struct Fields<AuthCheckMsg> {
    static constexpr MsgType type = MsgType::auth_check;
    static void of(auto& f, auto& m) { f(m.request_id, m.client_addr); }
};

template <>
struct Fields<AuthReplyMsg> {
    static constexpr MsgType type = MsgType::auth_reply;
    static void of(auto& f, auto& m) {
        f(m.request_id, within(m.status, kAuthContinue, kAuthWeak), m.challenge, m.login, m.text);
    }
};

template <>
struct Fields<ControlRequestMsg> {
    static constexpr MsgType type = MsgType::control_request;
    static void of(auto& f, auto& m) {
        f(within(m.op, ControlOp::list, ControlOp::remove), m.ids, m.reason);
    }
};

template <>
struct Fields<ControlRecipient> {
    static void of(auto& f, auto& m) { f(m.address, m.state, m.dsn, m.text, m.next_try); }
};

template <>
struct Fields<ControlEntry> {
    static void of(auto& f, auto& m) {
        f(m.queue_id, m.flags, m.size, m.arrival, m.sender, m.reason, m.recipients);
    }
};

template <>
struct Fields<ControlListMsg> {
    static constexpr MsgType type = MsgType::control_list;
    static void of(auto& f, auto& m) { f(m.entries); }
};

template <>
struct Fields<ControlResultMsg> {
    static constexpr MsgType type = MsgType::control_result;
    static void of(auto& f, auto& m) { f(m.status, m.count, m.text); }
};

template <>
struct Fields<LimitWindowMsg> {
    static void of(auto& f, auto& m) {
        f(m.max_messages, m.max_recipients, m.messages, m.recipients, m.messages_free_at,
          m.recipients_free_at, m.next_drop);
    }
};

template <>
struct Fields<LimitReplyMsg> {
    static constexpr MsgType type = MsgType::limit_reply;
    static void of(auto& f, auto& m) { f(m.request_id, m.status, m.hour, m.day); }
};

template <>
struct Fields<LimitReserveMsg> {
    static constexpr MsgType type = MsgType::limit_reserve;
    static void of(auto& f, auto& m) {
        f(m.request_id, m.identity, m.holder, m.messages, m.recipients);
    }
};

template <>
struct Fields<LimitReleaseMsg> {
    static constexpr MsgType type = MsgType::limit_release;
    static void of(auto& f, auto& m) { f(m.identity, m.holder, m.messages, m.recipients); }
};

// ---- the writer, the smallest-size counter and the reader of a field list

struct Writer {
    FrameWriter& w;
    template <typename... F>
    void operator()(const F&... f) {
        (put(f), ...);
    }
    void put(uint32_t v) { w.u32(v); }
    void put(uint64_t v) { w.u64(v); }
    void put(const std::string& s) { w.str(s); }
    void put(const std::vector<std::string>& v) { w.strs(v); }
    void put(const std::vector<uint32_t>& v) {
        w.u32(static_cast<uint32_t>(v.size()));
        for (uint32_t x : v)
            w.u32(x);
    }
    template <Record R>
    void put(const std::vector<R>& v) {
        w.u32(static_cast<uint32_t>(v.size()));
        for (const auto& r : v)
            Fields<R>::of(*this, r);
    }
    template <Record R>
    void put(const R& r) {
        Fields<R>::of(*this, r);
    }
    template <typename T>
    void put(const Range<T>& r) {
        if constexpr (std::is_enum_v<std::remove_const_t<T>>)
            w.u32(static_cast<uint32_t>(*r.v));
        else
            put(*r.v);
    }
    template <typename S>
    void put(const NonEmpty<S>& n) {
        put(*n.s);
    }
    template <typename V>
    void put(const Count<V>& c) {
        put(*c.v);
    }
};

// The fewest bytes a record's encoding can take (every string and list empty).
struct Sizer {
    size_t n = 0;
    template <typename... F>
    void operator()(const F&... f) {
        (add(f), ...);
    }
    void add(uint64_t) { n += 8; }
    template <typename T>
    void add(const T& v) {
        if constexpr (Record<T>)
            Fields<T>::of(*this, v);
        else
            n += 4;  // a u32, an enum, a string's length or a list's count
    }
};

template <Record R>
size_t min_size() {
    static const size_t n = [] {
        const R r{};
        Sizer s;
        Fields<R>::of(s, r);
        return s.n;
    }();
    return n;
}

struct Reader {
    FrameReader& r;
    size_t size;  // of the whole payload: no count can exceed what it holds
    bool ok = true;

    template <typename... F>
    void operator()(F&&... f) {
        (get(std::forward<F>(f)), ...);
    }
    void get(uint32_t& v) { ok = r.u32(v) && ok; }
    void get(uint64_t& v) { ok = r.u64(v) && ok; }
    void get(std::string& s) { ok = r.str(s) && ok; }
    void get(std::vector<std::string>& v) { ok = r.strs(v) && ok; }
    void get(std::vector<uint32_t>& v) {
        uint32_t n = 0;
        // Each element takes 4 bytes: bound the count before allocating.
        if (!read_count(n, 0, std::numeric_limits<uint32_t>::max(), 4)) return;
        v.resize(n);
        for (auto& x : v)
            get(x);
    }
    template <Record R>
    void get(std::vector<R>& v, uint32_t min = 0,
             uint32_t max = std::numeric_limits<uint32_t>::max()) {
        uint32_t n = 0;
        if (!read_count(n, min, max, min_size<R>())) return;
        v.resize(n);
        for (auto& x : v) {
            Fields<R>::of(*this, x);
            if (!ok) return;
        }
    }
    template <Record R>
    void get(R& rec) {
        Fields<R>::of(*this, rec);
    }
    template <typename T>
    void get(Range<T> rg) {
        if constexpr (std::is_enum_v<T>) {
            uint32_t raw = 0;
            get(raw);
            if (raw < static_cast<uint32_t>(rg.lo) || raw > static_cast<uint32_t>(rg.hi))
                ok = false;
            else
                *rg.v = static_cast<T>(raw);
        } else {
            get(*rg.v);
            if (*rg.v < rg.lo || *rg.v > rg.hi) ok = false;
        }
    }
    template <typename S>
    void get(NonEmpty<S> ne) {
        get(*ne.s);
        if (ne.s->empty()) ok = false;
    }
    template <typename V>
    void get(Count<V> c) {
        get(*c.v, c.min, c.max);
    }

    bool read_count(uint32_t& n, uint32_t min, uint32_t max, size_t each) {
        if (!ok || !r.u32(n) || n < min || n > max || n > size / each) ok = false;
        return ok;
    }
};

template <Record M>
std::string encode_fields(const M& m, uint32_t nfds) {
    FrameWriter w(Fields<M>::type);
    Writer out{w};
    Fields<M>::of(out, m);
    return w.finish(nfds);
}

template <Record M>
bool decode_fields(std::string_view payload, M& m) {
    FrameReader r(payload);
    Reader in{r, payload.size()};
    Fields<M>::of(in, m);
    return in.ok && r.finish();
}

template <Record M>
constexpr uint32_t nfds_of() {
    if constexpr (requires { Fields<M>::nfds; })
        return Fields<M>::nfds;
    else
        return 0;
}

}  // namespace

// ---- the public encoders and decoders of messages.hpp, one line a message

// M is a type name, which cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TEGAMI_IPC_MESSAGE(M)                     \
    std::string encode(const M& m) {              \
        return encode_fields(m, nfds_of<M>());    \
    }                                             \
    bool decode(std::string_view payload, M& m) { \
        return decode_fields(payload, m);         \
    }
// NOLINTEND(bugprone-macro-parentheses)

TEGAMI_IPC_MESSAGE(SubmitMsg)
TEGAMI_IPC_MESSAGE(SubmitResultMsg)
TEGAMI_IPC_MESSAGE(BodyChunkMsg)
TEGAMI_IPC_MESSAGE(BodyChunkResultMsg)
TEGAMI_IPC_MESSAGE(BodyAbortMsg)
TEGAMI_IPC_MESSAGE(BodyWriterMsg)
TEGAMI_IPC_MESSAGE(DeliverMsg)
TEGAMI_IPC_MESSAGE(DeliverResultMsg)
TEGAMI_IPC_MESSAGE(DeliverRedirectMsg)
TEGAMI_IPC_MESSAGE(AuthStartMsg)
TEGAMI_IPC_MESSAGE(AuthStepMsg)
TEGAMI_IPC_MESSAGE(AuthCancelMsg)
TEGAMI_IPC_MESSAGE(AuthCheckMsg)
TEGAMI_IPC_MESSAGE(AuthReplyMsg)
TEGAMI_IPC_MESSAGE(ControlRequestMsg)
TEGAMI_IPC_MESSAGE(ControlListMsg)
TEGAMI_IPC_MESSAGE(ControlResultMsg)
TEGAMI_IPC_MESSAGE(LimitReplyMsg)
TEGAMI_IPC_MESSAGE(LimitReserveMsg)
TEGAMI_IPC_MESSAGE(LimitReleaseMsg)

#undef TEGAMI_IPC_MESSAGE

// The listener's descriptor count is the caller's (master sends one socket per frame).
std::string encode(const ListenerMsg& m, uint32_t nfds) {
    return encode_fields(m, nfds);
}

bool decode(std::string_view payload, ListenerMsg& m) {
    return decode_fields(payload, m);
}

std::string encode_empty(MsgType type) {
    return FrameWriter(type).finish();
}

}  // namespace tegami::ipc
