// submit_check.hpp - the checks a SubmitMsg from smtpd must pass before the queue
// stores it, and the envelope built from it. Pure functions (no I/O), called by intake
// for every submission; tested in tests/unit/queue/submit_check_test.cpp.
// smtpd is trusted to have applied policy, not to have sent well-formed data: an
// invalid queue ID or an unusable address is refused with a clear status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lib/ipc/messages.hpp"
#include "queue/envelope.hpp"

namespace tegami::queue {

struct Refusal {
    uint32_t status;   // ipc::kStatusTemp or ipc::kStatusPerm
    std::string text;  // "5.1.3 ..."
};

// Longest address accepted (RFC 5321 4.5.3.1.3: a path is at most 256 octets).
constexpr size_t kMaxAddress = 512;
// Longest DSN ENVID (RFC 3461 4.4: 100 characters).
constexpr size_t kMaxEnvid = 100;

bool address_storable(std::string_view addr);
// The original (ORCPT) form: spaces and UTF-8 allowed, control bytes not.
bool original_storable(std::string_view addr);
std::optional<Refusal> check_submit(const ipc::SubmitMsg& m);
// The envelope of an accepted submission: every recipient pending, due now.
Envelope envelope_from_submit(const ipc::SubmitMsg& m, uint64_t now);

}  // namespace tegami::queue
