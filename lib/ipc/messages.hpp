// messages.hpp - the layout of every message in wire.hpp, as structs with one encoder
// and one strict decoder each. Adding a field means changing both here and bumping
// kVersion in wire.hpp; nothing else in the suite builds or splits frames by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/ipc/wire.hpp"

namespace tegami::ipc {

// master -> daemon, with one descriptor: a bound listening socket.
struct ListenerMsg {
    std::string role;  // "mta" (later "msa", "smtps"), "local" (the MSP socket), or
                       // "queue"/"deliver"/"control" for internal Unix sockets
    std::string name;  // printable address, "127.0.0.1:2525" or a socket path
};

// Message flags carried in the envelope.
constexpr uint32_t kFlag8BitMime = 1u << 0;  // BODY=8BITMIME
constexpr uint32_t kFlagSmtputf8 = 1u << 1;  // SMTPUTF8

// smtpd -> queue: one complete message. The body is the message as received after
// dot-unstuffing, with smtpd's Received header first, lines ending in CRLF.
struct SubmitMsg {
    uint64_t request_id = 0;
    std::string queue_id;  // named by smtpd at MAIL (lib/core/queue_id.hpp); never reused
    std::string sender;    // empty for the null reverse path <>
    std::vector<std::string> recipients;
    std::string client_addr;  // "127.0.0.1", "::1"
    std::string client_name;  // "localhost" or "unknown"
    std::string helo;
    std::string protocol;  // "SMTP", "ESMTP", "ESMTPS", "ESMTPA", ...
    uint32_t flags = 0;
    std::string body;
};

// Reply classes used by every *_result message.
constexpr uint32_t kStatusOk = 2;
constexpr uint32_t kStatusTemp = 4;
constexpr uint32_t kStatusPerm = 5;

// queue -> smtpd: sent only after the message is on stable storage (status 2), or
// when it was refused (4/5). text is an enhanced status code and words, "4.3.0 ...".
struct SubmitResultMsg {
    uint64_t request_id = 0;
    uint32_t status = kStatusTemp;
    std::string queue_id;
    std::string text;
};

// queue -> local: deliver one recipient of one message.
struct DeliverMsg {
    uint64_t request_id = 0;
    std::string queue_id;
    std::string sender;
    std::string recipient;  // the envelope recipient, user@domain
    uint32_t flags = 0;
    uint64_t arrival_time = 0;  // seconds since the epoch
    std::string body;
};

// local -> queue: the outcome. dsn is "2.0.0"/"4.x.x"/"5.x.x"; text is for logs and bounces.
struct DeliverResultMsg {
    uint64_t request_id = 0;
    uint32_t status = kStatusTemp;
    std::string dsn;
    std::string text;
    std::string relay;  // "local", "mbox", "maildir": for the relay= log field
};

std::string encode(const ListenerMsg& m, uint32_t nfds);
std::string encode(const SubmitMsg& m);
std::string encode(const SubmitResultMsg& m);
std::string encode(const DeliverMsg& m);
std::string encode(const DeliverResultMsg& m);
std::string encode_empty(MsgType type);

bool decode(std::string_view payload, ListenerMsg& m);
bool decode(std::string_view payload, SubmitMsg& m);
bool decode(std::string_view payload, SubmitResultMsg& m);
bool decode(std::string_view payload, DeliverMsg& m);
bool decode(std::string_view payload, DeliverResultMsg& m);

}  // namespace tegami::ipc
