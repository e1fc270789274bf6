// ipc_messages_fuzz.cpp - fuzz target for the strict IPC payload decoders
// (lib/ipc/messages.hpp) and the frame header check (lib/ipc/frame.hpp). Byte 0 picks
// the message type (modulo the 20 types with a payload: listener, submit, submit_result,
// deliver, deliver_result, then body_chunk*, deliver_redirect, auth_*, limit_* and
// control_*; for listener the byte / 20 also picks the descriptor count); the rest is the
// payload a peer sent. The first 16 bytes of the input also go through
// header_valid as a frame header.
//
// Invariants checked beyond "no crash": a payload that decodes re-encodes to exactly the
// same bytes behind a header of the right magic, version, type and length (decoding is
// all-or-nothing and leaves nothing unread), and the re-encoded frame decodes again.
//
// fuzz_ipc_messages is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "lib/ipc/frame.hpp"
#include "lib/ipc/messages.hpp"

using namespace tegami;
using namespace tegami::ipc;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "ipc_messages fuzz: invariant broken: %s\n", what);
    std::abort();
}

void check_frame(const std::string& frame, MsgType type, std::string_view payload, uint32_t nfds) {
    require(frame.size() == sizeof(FrameHeader) + payload.size(), "frame of the wrong size");
    FrameHeader h{};
    std::memcpy(&h, frame.data(), sizeof h);
    require(h.magic == kMagic && h.version == kVersion, "bad magic or version");
    require(h.type == static_cast<uint16_t>(type), "wrong type in the header");
    require(h.length == payload.size() && h.nfds == nfds, "wrong length or fd count");
    require(header_valid(h), "own header not valid");
    require(std::string_view(frame).substr(sizeof h) == payload, "re-encoded payload differs");
}

// Decodes payload as M; if it decodes, encodes it again and checks the round trip.
template <typename M, typename Encode>
void round_trip(std::string_view payload, MsgType type, uint32_t nfds, Encode encode_msg) {
    M m;
    if (!decode(payload, m)) return;
    std::string frame = encode_msg(m);
    check_frame(frame, type, payload, nfds);
    M again;
    require(decode(std::string_view(frame).substr(sizeof(FrameHeader)), again),
            "re-encoded payload does not decode");
    require(encode_msg(again) == frame, "second round trip differs");
}

constexpr unsigned kCases = 21;

template <typename M, MsgType type, uint32_t nfds = 0>
void round_trip_msg(std::string_view payload, uint8_t) {
    round_trip<M>(payload, type, nfds, [](const M& m) { return encode(m); });
}

// The descriptor count travels in the header only; one that is allowed, from the type byte.
void round_trip_listener(std::string_view payload, uint8_t pick) {
    const uint32_t nfds = (pick / kCases) % kMaxFds;
    round_trip<ListenerMsg>(payload, MsgType::listener, nfds,
                            [nfds](const ListenerMsg& m) { return encode(m, nfds); });
}

// Every message with a payload. The first five keep their old places (the saved corpus
// picks them with bytes 0-4); new types go at the end.
using Case = void (*)(std::string_view, uint8_t);
constexpr Case kTable[] = {
    round_trip_listener,
    round_trip_msg<SubmitMsg, MsgType::submit>,
    round_trip_msg<SubmitResultMsg, MsgType::submit_result>,
    round_trip_msg<DeliverMsg, MsgType::deliver, 1>,
    round_trip_msg<DeliverResultMsg, MsgType::deliver_result>,
    round_trip_msg<BodyChunkMsg, MsgType::body_chunk>,
    round_trip_msg<BodyChunkResultMsg, MsgType::body_chunk_result>,
    round_trip_msg<BodyAbortMsg, MsgType::body_abort>,
    round_trip_msg<DeliverRedirectMsg, MsgType::deliver_redirect>,
    round_trip_msg<AuthStartMsg, MsgType::auth_start>,
    round_trip_msg<AuthStepMsg, MsgType::auth_step>,
    round_trip_msg<AuthCancelMsg, MsgType::auth_cancel>,
    round_trip_msg<AuthReplyMsg, MsgType::auth_reply>,
    round_trip_msg<AuthCheckMsg, MsgType::auth_check>,
    round_trip_msg<LimitReplyMsg, MsgType::limit_reply>,
    round_trip_msg<LimitReserveMsg, MsgType::limit_reserve>,
    round_trip_msg<LimitReleaseMsg, MsgType::limit_release>,
    round_trip_msg<ControlRequestMsg, MsgType::control_request>,
    round_trip_msg<ControlListMsg, MsgType::control_list>,
    round_trip_msg<ControlResultMsg, MsgType::control_result>,
    round_trip_msg<BodyWriterMsg, MsgType::body_writer, 1>,
};
static_assert(sizeof kTable / sizeof kTable[0] == kCases);

}  // namespace

int fuzz_ipc_messages(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    if (size >= 1 + sizeof(FrameHeader)) {
        FrameHeader h{};
        std::memcpy(&h, data + 1, sizeof h);
        bool expected = h.magic == kMagic && h.version == kVersion && h.length <= kMaxPayload &&
                        h.nfds <= kMaxFds;
        require(header_valid(h) == expected, "header_valid disagrees with wire.hpp");
    }
    std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    kTable[data[0] % kCases](payload, data[0]);
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_ipc_messages(data, size);
}
#endif
