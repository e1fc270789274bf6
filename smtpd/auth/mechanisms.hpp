// mechanisms.hpp - the server side of the SASL mechanisms tegami-auth answers: PLAIN
// (RFC 4616), LOGIN (draft-murchison-sasl-login), SCRAM-SHA-256 (RFC 7677, RFC 5802)
// and SCRAM-SHA-256-PLUS with tls-exporter channel binding (RFC 9266). Each is a small
// state machine fed the client's decoded responses; no I/O but the credential lookup
// behind CredentialSource. Called by auth_server.cpp; tests feed RFC vectors.
//
// Trusts nothing a client sends. Invariants: a result never carries a password, a
// hash or a key; an unknown login costs the same work as a known one (a dummy hash for
// PLAIN/LOGIN, a derived fake salt for SCRAM) and fails the same way; syntax errors
// give `malformed`, wrong credentials `fail`, an unreadable store `temp`.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"
#include "lib/sasl/credential.hpp"

namespace tegami::auth {

// nomech: the backend does not offer the mechanism (Dovecot's MECH list). weak: the
// credentials were right but the login is held to a stronger mechanism (its
// Credential::floor): RFC 4954's 534 5.7.9. Given only after the proof checks out, so
// it tells nothing to a client that does not know the password.
enum class StepStatus { cont, ok, fail, malformed, temp, nomech, weak };

struct StepResult {
    StepStatus status = StepStatus::fail;
    std::string challenge;  // raw bytes, for cont
    std::string login;      // for ok; for fail/malformed the claimed login, if any (logs)
    std::string reason;     // for logs: "bad password", "no such login", ...
};

class CredentialSource {
  public:
    virtual ~CredentialSource() = default;
    // nullopt: no such login; an error: the store cannot be read.
    virtual Result<std::optional<sasl::Credential>> lookup(std::string_view login) = 0;
    // The verification cache (auth_cache_time): whether this login's password was
    // checked against this very credential moments ago, and the note that it just was.
    // A miss costs a full yescrypt check; a wrong password always does.
    virtual bool recently_verified(std::string_view /*login*/, const sasl::Credential&,
                                   std::string_view /*password*/) {
        return false;
    }
    virtual void verified(std::string_view /*login*/, const sasl::Credential&,
                          std::string_view /*password*/) {}
};

struct MechContext {
    std::string channel_binding;         // tls-exporter bytes; empty without TLS (no -PLUS)
    std::string secret;                  // per-process random key: fake salts for unknown logins
    std::function<std::string()> nonce;  // printable server nonce, no ','
};

class Mechanism {
  public:
    virtual ~Mechanism() = default;
    // initial: the initial response of the AUTH command, if the client gave one.
    virtual StepResult start(std::optional<std::string_view> initial) = 0;
    virtual StepResult step(std::string_view response) = 0;
};

// nullptr for a mechanism not offered (SCRAM-SHA-256-PLUS without channel binding data).
std::unique_ptr<Mechanism> make_mechanism(std::string_view name, CredentialSource& creds,
                                          const MechContext& ctx);
// The names, in order of preference, offered with or without TLS channel binding.
std::string mechanism_list(bool channel_binding);

// SCRAM pieces, exposed for tests. saslname escapes: "=2C" is ',', "=3D" is '='.
std::optional<std::string> decode_saslname(std::string_view s);

}  // namespace tegami::auth
