// context.hpp - the server side TLS configuration (OpenSSL 3) shared by every listener:
// certificate chains and keys from tls_cert_file/tls_key_file (several pairs, e.g. RSA
// and ECDSA: OpenSSL picks the one the client's signature algorithms suit), TLS 1.2 and
// 1.3 only, Mozilla's "intermediate" cipher list, session tickets whose key rotates
// (the previous key still decrypts; every resumption is handed a fresh ticket), no server-side
// session cache, and SSL_MODE_RELEASE_BUFFERS so an idle TLS session holds no record buffers.
//
// Built by smtpd at start and on SIGHUP (Server::reload); a failed reload keeps the old
// context. A session keeps the SSL_CTX it was made with (OpenSSL counts references), so
// a reload never drops a session. Trusts the configuration's file names; reads the files
// as smtpd's user.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/c_ptr.hpp"
#include "lib/core/result.hpp"

namespace tegami::tls {

class Context {
  public:
    // Loads every certificate/key pair of c; an error names the file and OpenSSL's reason.
    static Result<std::shared_ptr<Context>> load(const Config& c);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    SSL_CTX* get() const { return ctx_.get(); }
    // A new ticket key becomes current; the current one becomes the previous one.
    void rotate_ticket_keys();
    // Keeps another context's ticket keys (a reload must not void every ticket).
    void adopt_ticket_keys(const Context& older);

    struct TicketKey {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
    };

  private:
    Context() = default;
    static int ticket_cb(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* c,
                         EVP_MAC_CTX* hctx, int enc) noexcept;
    SslCtxPtr ctx_;
    std::vector<TicketKey> keys_;  // [0] current, [1] previous
};

// The Mozilla "intermediate" TLS 1.2 cipher list (TLS 1.3 keeps OpenSSL's suites).
extern const char* const kIntermediateCiphers;

// OpenSSL's error queue as one line (emptied), or fallback when it is empty.
std::string openssl_error(const std::string& fallback);

}  // namespace tegami::tls
