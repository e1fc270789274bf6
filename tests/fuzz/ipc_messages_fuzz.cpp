// ipc_messages_fuzz.cpp - fuzz target for the strict IPC payload decoders
// (lib/ipc/messages.hpp) and the frame header check (lib/ipc/frame.hpp). Byte 0 picks
// the message type (listener, submit, submit_result, deliver, deliver_result); the rest
// is the payload a peer sent. The first 16 bytes of the input also go through
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
    switch (data[0] % 5) {
        case 0: {
            // The descriptor count travels in the header only; use one that is allowed.
            const uint32_t nfds = data[0] % kMaxFds;
            round_trip<ListenerMsg>(payload, MsgType::listener, nfds,
                                    [nfds](const ListenerMsg& m) { return encode(m, nfds); });
            break;
        }
        case 1:
            round_trip<SubmitMsg>(payload, MsgType::submit, 0,
                                  [](const SubmitMsg& m) { return encode(m); });
            break;
        case 2:
            round_trip<SubmitResultMsg>(payload, MsgType::submit_result, 0,
                                        [](const SubmitResultMsg& m) { return encode(m); });
            break;
        case 3:
            round_trip<DeliverMsg>(payload, MsgType::deliver, 1,
                                   [](const DeliverMsg& m) { return encode(m); });
            break;
        default:
            round_trip<DeliverResultMsg>(payload, MsgType::deliver_result, 0,
                                         [](const DeliverResultMsg& m) { return encode(m); });
            break;
    }
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_ipc_messages(data, size);
}
#endif
