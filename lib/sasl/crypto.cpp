// crypto.cpp - see crypto.hpp.
#include "lib/sasl/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tegami::sasl {

std::string sha256(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
    return std::string(reinterpret_cast<char*>(md), len);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len))
        return {};
    return std::string(reinterpret_cast<char*>(md), len);
}

std::string pbkdf2_sha256(std::string_view password, std::string_view salt, uint32_t iterations) {
    std::string out(kSha256Size, '\0');
    if (iterations == 0 ||
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()),
                          reinterpret_cast<unsigned char*>(out.data())) != 1)
        return {};
    return out;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return {};
    std::string out(a.size(), '\0');
    for (size_t i = 0; i < a.size(); ++i)
        out[i] = static_cast<char>(a[i] ^ b[i]);
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> random_bytes(size_t n) {
    std::string out(n, '\0');
    if (n && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        return std::nullopt;
    return out;
}

ScramKeys scram_keys(std::string_view password, std::string_view salt, uint32_t iterations) {
    ScramKeys k;
    k.salt = std::string(salt);
    k.iterations = iterations;
    std::string salted = pbkdf2_sha256(password, salt, iterations);
    std::string client_key = hmac_sha256(salted, "Client Key");
    k.stored_key = sha256(client_key);
    k.server_key = hmac_sha256(salted, "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
    OPENSSL_cleanse(client_key.data(), client_key.size());
    return k;
}

}  // namespace tegami::sasl
