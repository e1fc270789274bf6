// credential.cpp - see credential.hpp. crypt_r and crypt_gensalt_rn come from libxcrypt
// (Debian's libcrypt-dev); yescrypt is its default strong method.
#include "lib/sasl/credential.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <charconv>
#include <cstring>
#include <memory>

#include "lib/sasl/base64.hpp"

namespace tegami::sasl {

namespace {

void field(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out.append(v);
}

bool take_field(std::string_view& in, std::string_view& v) {
    size_t colon = in.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 6) return false;
    size_t len = 0;
    auto [p, ec] = std::from_chars(in.data(), in.data() + colon, len);
    if (ec != std::errc() || p != in.data() + colon || len > in.size() - colon - 1) return false;
    v = in.substr(colon + 1, len);
    in.remove_prefix(colon + 1 + len);
    return true;
}

struct CryptData {
    crypt_data d;
};

}  // namespace

std::optional<MechFloor> parse_mech_floor(std::string_view name) {
    std::string up;
    for (char ch : name)
        up += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
    if (up == "PLAIN") return MechFloor::any;
    if (up == "SCRAM-SHA-256") return MechFloor::scram;
    if (up == "SCRAM-SHA-256-PLUS") return MechFloor::scram_plus;
    return std::nullopt;
}

const char* mech_floor_name(MechFloor f) {
    switch (f) {
        case MechFloor::scram:
            return "SCRAM-SHA-256";
        case MechFloor::scram_plus:
            return "SCRAM-SHA-256-PLUS";
        case MechFloor::any:
            break;
    }
    return "PLAIN";
}

std::string encode_credential(const Credential& c) {
    std::string out = c.floor == MechFloor::any ? "1;" : "2;";
    field(out, c.hash);
    field(out, std::to_string(c.scram.iterations));
    field(out, base64_encode(c.scram.salt));
    field(out, base64_encode(c.scram.stored_key));
    field(out, base64_encode(c.scram.server_key));
    if (c.floor != MechFloor::any) field(out, mech_floor_name(c.floor));
    return out;
}

std::optional<Credential> decode_credential(std::string_view in) {
    bool v2 = in.substr(0, 2) == "2;";
    if (in.substr(0, 2) != "1;" && !v2) return std::nullopt;
    in.remove_prefix(2);
    std::string_view hash, iter, salt, stored, server, floor;
    for (std::string_view* f : {&hash, &iter, &salt, &stored, &server})
        if (!take_field(in, *f)) return std::nullopt;
    if (v2 && !take_field(in, floor)) return std::nullopt;
    if (!in.empty() || hash.empty() || hash[0] != '$') return std::nullopt;
    Credential c;
    if (v2) {
        // Exact names only: the writer is tegami-passwd, which spells them so.
        if (floor == "SCRAM-SHA-256")
            c.floor = MechFloor::scram;
        else if (floor == "SCRAM-SHA-256-PLUS")
            c.floor = MechFloor::scram_plus;
        else
            return std::nullopt;
    }
    c.hash = std::string(hash);
    auto [p, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), c.scram.iterations);
    if (ec != std::errc() || p != iter.data() + iter.size() || c.scram.iterations == 0)
        return std::nullopt;
    auto s = base64_decode(salt), k1 = base64_decode(stored), k2 = base64_decode(server);
    if (!s || s->empty() || !k1 || k1->size() != kSha256Size || !k2 || k2->size() != kSha256Size)
        return std::nullopt;
    c.scram.salt = std::move(*s);
    c.scram.stored_key = std::move(*k1);
    c.scram.server_key = std::move(*k2);
    return c;
}

Result<Credential> make_credential(std::string_view password, uint32_t iterations) {
    if (password.find('\0') != std::string_view::npos)
        return make_error(Exit::data_err, "a password cannot hold a NUL byte");
    auto entropy = random_bytes(32);
    auto scram_salt = random_bytes(16);
    if (!entropy || !scram_salt) return make_error(Exit::os_err, "no random bytes from OpenSSL");
    const std::string& seed = entropy.value();
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, seed.data(), static_cast<int>(seed.size()), setting,
                          sizeof setting))
        return make_error(Exit::software,
                          "crypt_gensalt_rn($y$) failed: " + std::string(std::strerror(errno)));
    auto cd = std::make_unique<CryptData>();
    std::string pw(password);
    const char* h = crypt_r(pw.c_str(), setting, &cd->d);
    OPENSSL_cleanse(pw.data(), pw.size());
    if (!h || h[0] != '$')
        return make_error(Exit::software,
                          "crypt_r(yescrypt) failed: " + std::string(std::strerror(errno)));
    Credential c;
    c.hash = h;
    OPENSSL_cleanse(&cd->d, sizeof cd->d);
    c.scram = scram_keys(password, *scram_salt, iterations);
    if (c.scram.stored_key.size() != kSha256Size)
        return make_error(Exit::software, "PBKDF2-HMAC-SHA-256 failed");
    return c;
}

bool verify_password(const Credential& c, std::string_view password) {
    if (password.find('\0') != std::string_view::npos) return false;
    auto cd = std::make_unique<CryptData>();
    std::string pw(password);
    const char* h = crypt_r(pw.c_str(), c.hash.c_str(), &cd->d);
    OPENSSL_cleanse(pw.data(), pw.size());
    bool ok = h && h[0] == '$' && constant_time_equal(h, c.hash);
    OPENSSL_cleanse(&cd->d, sizeof cd->d);
    return ok;
}

bool valid_login(std::string_view login) {
    if (login.empty() || login.size() > 255) return false;
    for (unsigned char ch : login)
        if (ch <= 0x20 || ch == 0x7f || ch == ',' || ch == '=') return false;
    return true;
}

}  // namespace tegami::sasl
