// wire.hpp - THE inter-process vocabulary of the suite: frame header, message types,
// protocol version. Every process talks to every other over a Unix socket in these
// frames and nothing else; a peer that sends a short frame, an unknown type, a wrong
// version or trailing bytes is closed (and the supervisor restarts it).
//
// A frame is a fixed header followed by `length` payload bytes; up to kMaxFds file
// descriptors travel with the header as SCM_RIGHTS ancillary data. The payload is a
// sequence of typed fields (lib/ipc/frame.hpp): u32/u64 in host byte order (both ends
// are on one host) and strings as u32 length + bytes. Internal formats need no parser:
// no quoting, no text to split. Message layouts are in lib/ipc/messages.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tegami::ipc {

constexpr uint32_t kMagic = 0x54474d49;  // "TGMI"
constexpr uint16_t kVersion = 4;         // 2: multi-recipient deliver requests, body as a memfd;
                                         // 3: DSN fields in SubmitMsg, RcptResult flags;
                                         // 4: the local address and port in AuthStartMsg
constexpr size_t kMaxFds = 8;
// Large enough for the biggest message body a configuration allows plus its envelope;
// the reader refuses anything larger before allocating.
constexpr uint32_t kMaxPayload = 256u * 1024u * 1024u;

struct FrameHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t type;    // MsgType
    uint32_t length;  // payload bytes that follow
    uint32_t nfds;    // descriptors attached (SCM_RIGHTS) to this frame
};
static_assert(sizeof(FrameHeader) == 16);

enum class MsgType : uint16_t {
    // master <-> every daemon (fd 3 of the daemon, a socketpair made by master)
    listener = 1,  // master -> daemon: ListenerMsg + one fd (a bound, listening socket)
    start = 2,     // master -> daemon: all listeners sent, start serving
    ready = 3,     // daemon -> master: serving
    reload = 4,    // master -> daemon: re-read the reloadable configuration

    // smtpd <-> queue (smtpd connects to the queue's Unix socket)
    submit = 10,         // smtpd -> queue: SubmitMsg
    submit_result = 11,  // queue -> smtpd: SubmitResultMsg, only once durable (or refused)
    // A body streamed in chunks as it arrives (large messages), then its SubmitMsg
    body_chunk = 12,         // smtpd -> queue: BodyChunkMsg, stored at once (not yet durable)
    body_chunk_result = 13,  // queue -> smtpd: BodyChunkResultMsg, one per chunk (flow control)
    body_abort = 14,         // smtpd -> queue: BodyAbortMsg, the chunks of a message never sent
    body_writer = 15,        // queue -> smtpd: BodyWriterMsg + one fd (the body file, lent)

    // queue <-> local delivery (queue connects to the local agent's Unix socket)
    deliver = 20,           // queue -> local: DeliverMsg + one fd (the body, a sealed memfd)
    deliver_result = 21,    // local -> queue: DeliverResultMsg, one result per recipient
    deliver_redirect = 22,  // local -> queue: DeliverRedirectMsg, before the request's result

    // smtpd <-> auth (smtpd connects to tegami-auth's Unix socket; peers checked by uid)
    auth_start = 60,   // smtpd -> auth: AuthStartMsg, a client's AUTH command
    auth_step = 61,    // smtpd -> auth: AuthStepMsg, the client's next SASL response
    auth_cancel = 62,  // smtpd -> auth: AuthCancelMsg, "*" or the session went away
    auth_reply = 63,   // auth -> smtpd: AuthReplyMsg, the answer to start/step/check
    auth_check = 64,   // smtpd -> auth: AuthCheckMsg, is this client address refused?
    // smtpd <-> auth: the per-user sending limits (the counters live in tegami-auth);
    // 65 and 67 (a query without a hold, a count without a release) are retired
    limit_reply = 66,    // auth -> smtpd: LimitReplyMsg, the answer to limit_reserve
    limit_reserve = 68,  // smtpd -> auth: LimitReserveMsg, hold a transaction's share
    limit_release = 69,  // smtpd -> auth: LimitReleaseMsg, the share counted or given back
    // sendmail (mailq, -q, -Q) <-> queue, on queue_control_socket (peer uid checked)
    control_request = 70,  // sendmail -> queue: ControlRequestMsg
    control_list = 71,     // queue -> sendmail: ControlListMsg (answer to a list request)
    control_result = 72,   // queue -> sendmail: ControlResultMsg (answer to the others)
};

const char* msg_type_name(MsgType t);

}  // namespace tegami::ipc
