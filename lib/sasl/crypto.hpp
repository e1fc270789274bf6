// crypto.hpp - the primitives SCRAM-SHA-256 (RFC 5802, RFC 7677) is built from, over
// OpenSSL 3: SHA-256, HMAC-SHA-256, PBKDF2-HMAC-SHA-256 (RFC 5802's Hi()), XOR,
// constant-time comparison and random bytes. Used by tegami-auth (verifying a proof)
// and tegami-passwd (deriving the stored keys). Pure apart from random_bytes().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tegami::sasl {

constexpr size_t kSha256Size = 32;

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Hi(password, salt, iterations) of RFC 5802 section 2.2.
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, uint32_t iterations);
// a XOR b; both of one size (else empty).
std::string xor_bytes(std::string_view a, std::string_view b);
// Equal in length and content, in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// n bytes from the OpenSSL CSPRNG; nullopt when it fails (never a weak fallback).
std::optional<std::string> random_bytes(size_t n);

// What the server stores for SCRAM-SHA-256 (RFC 5802 section 3): never the password.
struct ScramKeys {
    std::string salt;
    uint32_t iterations = 0;
    std::string stored_key;  // H(ClientKey)
    std::string server_key;  // HMAC(SaltedPassword, "Server Key")
};
ScramKeys scram_keys(std::string_view password, std::string_view salt, uint32_t iterations);

}  // namespace tegami::sasl
