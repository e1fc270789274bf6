// credential.hpp - one login's stored credential in the built-in store: a yescrypt
// hash (libxcrypt crypt_r, "$y$" setting) for PLAIN and LOGIN, and the SCRAM-SHA-256
// salt, iteration count, StoredKey and ServerKey (RFC 5802 section 3) for SCRAM. Never
// the password. Written by tegami-passwd, read by tegami-auth only.
//
// Stored form (the value of the login's key in the Berkeley DB file): printable text,
// versioned, length-prefixed fields: "1;" then "<len>:<bytes>" for the hash, the
// iteration count in decimal, and salt, StoredKey, ServerKey in base64. A login held to
// a stronger mechanism than PLAIN is written "2;" with one more field naming it
// ("SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS"); the rest stay "1;", so an older reader
// still reads them. decode() refuses anything else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"
#include "lib/sasl/crypto.hpp"

namespace tegami::sasl {

constexpr uint32_t kScramIterationsDefault = 10000;  // RFC 7677 asks for at least 4096
constexpr uint32_t kScramIterationsMin = 4096;

// The weakest mechanism a login may authenticate with (the administrator's policy; RFC
// 4954's 534 5.7.9 answers a weaker one). any: PLAIN and LOGIN too; scram: a SCRAM
// mechanism, so the server never sees the password; scram_plus: SCRAM with channel
// binding, so a man in the middle of the TLS session cannot relay the exchange.
enum class MechFloor : uint8_t { any, scram, scram_plus };

struct Credential {
    std::string hash;  // "$y$j9T$..."
    ScramKeys scram;
    MechFloor floor = MechFloor::any;
};

// "PLAIN" (any), "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", any case; nullopt otherwise.
std::optional<MechFloor> parse_mech_floor(std::string_view name);
const char* mech_floor_name(MechFloor f);

std::string encode_credential(const Credential& c);
std::optional<Credential> decode_credential(std::string_view stored);

// A new credential for password: a fresh yescrypt salt and a fresh 16-byte SCRAM salt.
Result<Credential> make_credential(std::string_view password,
                                   uint32_t iterations = kScramIterationsDefault);
// The password matches the yescrypt hash (constant-time comparison).
bool verify_password(const Credential& c, std::string_view password);

// A login tegami-passwd accepts: 1-255 bytes, printable ASCII or UTF-8, no white space,
// no control characters, no NUL (PLAIN separates fields with NUL), no ',' or '='
// (SCRAM's attribute syntax would need escapes clients get wrong).
bool valid_login(std::string_view login);

}  // namespace tegami::sasl
