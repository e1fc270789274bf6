// context.cpp - see context.hpp.
#include "lib/tls/context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <cstring>

#include "lib/core/log.hpp"

namespace tegami::tls {

const char* const kIntermediateCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

namespace {

int context_index() {
    static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return idx;
}

bool new_key(Context::TicketKey& k) {
    return RAND_bytes(k.name, sizeof k.name) == 1 && RAND_priv_bytes(k.aes, sizeof k.aes) == 1 &&
           RAND_priv_bytes(k.hmac, sizeof k.hmac) == 1;
}

}  // namespace

std::string openssl_error(const std::string& fallback) {
    std::string out;
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? fallback : out;
}

Context::~Context() {
    for (auto& k : keys_)
        OPENSSL_cleanse(&k, sizeof k);
}

Result<std::shared_ptr<Context>> Context::load(const Config& c) {
    if (c.tls_cert_file.size() != c.tls_key_file.size())
        return make_error(Exit::config, "tls_cert_file and tls_key_file must list as many files");
    if (c.tls_cert_file.empty()) return make_error(Exit::config, "no tls_cert_file configured");
    std::shared_ptr<Context> t(new Context);
    ERR_clear_error();
    t->ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = t->ctx_.get();
    if (!ctx) return make_error(Exit::software, openssl_error("SSL_CTX_new failed"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_SINGLE_DH_USE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, kIntermediateCiphers) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:prime256v1:secp384r1") != 1)
        return make_error(Exit::software, openssl_error("cipher list refused"));
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // tickets only: no state here
    SSL_CTX_set_num_tickets(ctx, 1);
    // Read whole socket buffers, not a record header then its body: half the read calls.
    // Records read ahead are invisible to epoll: TlsTransport::has_pending_input says so.
    SSL_CTX_set_read_ahead(ctx, 1);
    for (size_t i = 0; i < c.tls_cert_file.size(); ++i) {
        const std::string& cert = c.tls_cert_file[i];
        const std::string& key = c.tls_key_file[i];
        if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
            return make_error(Exit::config, cert + ": " + openssl_error("cannot load certificate"));
        if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
            return make_error(Exit::config, key + ": cannot load key (does it match " + cert +
                                                "?): " + openssl_error("unreadable"));
        if (SSL_CTX_check_private_key(ctx) != 1)
            return make_error(Exit::config, key + ": does not match " + cert + " (" +
                                                openssl_error("wrong key") + ")");
    }
    t->keys_.resize(1);
    if (!new_key(t->keys_[0])) return make_error(Exit::software, "no randomness for ticket keys");
    SSL_CTX_set_ex_data(ctx, context_index(), t.get());
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &Context::ticket_cb);
    return t;
}

void Context::rotate_ticket_keys() {
    TicketKey k;
    if (!new_key(k)) {
        log_error("tls: no randomness for a new ticket key; keeping the current one");
        return;
    }
    if (keys_.size() > 1) OPENSSL_cleanse(&keys_[1], sizeof keys_[1]);
    keys_.insert(keys_.begin(), k);
    keys_.resize(2);
    OPENSSL_cleanse(&k, sizeof k);
}

void Context::adopt_ticket_keys(const Context& older) {
    if (!older.keys_.empty()) keys_ = older.keys_;
}

// RFC 5077 ticket protection with our own keys (OpenSSL 3 EVP_MAC form): enc=1 seals a
// new ticket with the current key; enc=0 finds the key by name: 2 accept and issue a
// fresh ticket, 0 unknown (full handshake). Never 1 (accept, no new ticket): a TLS 1.3
// server then sends no NewSessionTicket after a resumption, and OpenSSL's client (as RFC
// 8446 C.4 advises) does not offer a ticket twice, so every second connection of a client
// that keeps the newest ticket made a full handshake. The fresh ticket travels in the
// server's handshake flight (1.2) or right after it (1.3): no extra round trip.
int Context::ticket_cb(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
                       EVP_MAC_CTX* hctx, int enc) noexcept {
    auto* self = static_cast<Context*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    if (!self || self->keys_.empty()) return -1;
    const TicketKey* k = nullptr;
    int ret = 1;
    if (enc) {
        k = &self->keys_[0];
        std::memcpy(name, k->name, sizeof k->name);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes, iv) != 1) return -1;
    } else {
        for (const auto& key : self->keys_)
            if (std::memcmp(name, key.name, sizeof key.name) == 0) k = &key;
        ret = 2;
        if (!k) return 0;
        if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes, iv) != 1) return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k->hmac),
                                          sizeof k->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
    return ret;
}

}  // namespace tegami::tls
