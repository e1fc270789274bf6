// mechanisms.cpp - see mechanisms.hpp.
#include "smtpd/auth/mechanisms.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <vector>

#include "lib/sasl/base64.hpp"
#include "lib/sasl/crypto.hpp"

namespace tegami::auth {

namespace {

StepResult result(StepStatus s, std::string reason, std::string login = {}) {
    StepResult r;
    r.status = s;
    r.reason = std::move(reason);
    r.login = std::move(login);
    return r;
}

StepResult challenge(std::string c) {
    StepResult r;
    r.status = StepStatus::cont;
    r.challenge = std::move(c);
    return r;
}

// A hash of the same method and cost as real entries, so that an unknown login costs
// one yescrypt computation like a known one.
const sasl::Credential& dummy_credential() {
    static const sasl::Credential c = [] {
        auto r = sasl::make_credential("tegami dummy password", sasl::kScramIterationsMin);
        return r ? r.value() : sasl::Credential{};
    }();
    return c;
}

// The password was right: ok, unless the login may only use SCRAM.
StepResult floor_check(const sasl::Credential& c, const std::string& login) {
    if (c.floor != sasl::MechFloor::any)
        return result(StepStatus::weak,
                      std::string("login requires ") + sasl::mech_floor_name(c.floor), login);
    return result(StepStatus::ok, "", login);
}

// Checks login/password against the store: the shared end of PLAIN and LOGIN.
StepResult check_password(CredentialSource& creds, const std::string& login,
                          std::string& password) {
    auto found = creds.lookup(login);
    StepResult r;
    if (!found) {
        r = result(StepStatus::temp, "credential store: " + found.error().message, login);
    } else if (!found->has_value()) {
        (void)sasl::verify_password(dummy_credential(), password);
        r = result(StepStatus::fail, "no such login", login);
    } else if (creds.recently_verified(login, **found, password)) {
        r = floor_check(**found, login);
    } else if (!sasl::verify_password(**found, password)) {
        r = result(StepStatus::fail, "wrong password", login);
    } else {
        creds.verified(login, **found, password);
        r = floor_check(**found, login);
    }
    OPENSSL_cleanse(password.data(), password.size());
    return r;
}

// ---- PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd
class Plain final : public Mechanism {
  public:
    explicit Plain(CredentialSource& c) : creds_(c) {}
    StepResult start(std::optional<std::string_view> initial) override {
        if (!initial) return challenge("");
        return step(*initial);
    }
    StepResult step(std::string_view msg) override {
        size_t a = msg.find('\0');
        size_t b = a == std::string_view::npos ? a : msg.find('\0', a + 1);
        if (b == std::string_view::npos || msg.find('\0', b + 1) != std::string_view::npos)
            return result(StepStatus::malformed, "PLAIN message without two NUL separators");
        std::string authzid(msg.substr(0, a));
        std::string login(msg.substr(a + 1, b - a - 1));
        std::string password(msg.substr(b + 1));
        if (login.empty() || password.empty()) {
            OPENSSL_cleanse(password.data(), password.size());
            return result(StepStatus::malformed, "PLAIN message with an empty field", login);
        }
        if (!authzid.empty() && authzid != login) {
            OPENSSL_cleanse(password.data(), password.size());
            return result(StepStatus::fail, "authorization identity differs from the login", login);
        }
        return check_password(creds_, login, password);
    }

  private:
    CredentialSource& creds_;
};

// ---- LOGIN: "Username:" then "Password:"
class Login final : public Mechanism {
  public:
    explicit Login(CredentialSource& c) : creds_(c) {}
    StepResult start(std::optional<std::string_view> initial) override {
        if (!initial) return challenge("Username:");
        return step(*initial);
    }
    StepResult step(std::string_view msg) override {
        if (!have_login_) {
            if (msg.empty() || msg.find('\0') != std::string_view::npos)
                return result(StepStatus::malformed, "LOGIN with an empty or NUL user name");
            login_ = std::string(msg);
            have_login_ = true;
            return challenge("Password:");
        }
        std::string password(msg);
        if (password.empty() || password.find('\0') != std::string::npos) {
            OPENSSL_cleanse(password.data(), password.size());
            return result(StepStatus::malformed, "LOGIN with an empty or NUL password", login_);
        }
        return check_password(creds_, login_, password);
    }

  private:
    CredentialSource& creds_;
    std::string login_;
    bool have_login_ = false;
};

// ---- SCRAM-SHA-256 and -PLUS (RFC 5802, RFC 7677, RFC 9266)

// Splits "a=x,b=y" into attributes; nullopt when an attribute is not "<letter>=...".
std::optional<std::vector<std::pair<char, std::string_view>>> attributes(std::string_view s) {
    std::vector<std::pair<char, std::string_view>> out;
    size_t start = 0;
    for (;;) {
        size_t comma = s.find(',', start);
        std::string_view a =
            s.substr(start, comma == std::string_view::npos ? comma : comma - start);
        if (a.size() < 2 || a[1] != '=' ||
            !((a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z')))
            return std::nullopt;
        out.emplace_back(a[0], a.substr(2));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

bool printable_nonce(std::string_view n) {
    if (n.empty()) return false;
    for (unsigned char c : n)
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    return true;
}

class Scram final : public Mechanism {
  public:
    Scram(CredentialSource& c, const MechContext& ctx, bool plus)
        : creds_(c), ctx_(ctx), plus_(plus) {}

    StepResult start(std::optional<std::string_view> initial) override {
        if (!initial || initial->empty()) return challenge("");  // client-first comes next
        return step(*initial);
    }

    StepResult step(std::string_view msg) override {
        switch (stage_) {
            case Stage::first:
                return client_first(msg);
            case Stage::final:
                return client_final(msg);
            case Stage::done:
                // The client acknowledges server-final with an empty response.
                if (!msg.empty())
                    return result(StepStatus::malformed, "data after SCRAM server-final", login_);
                stage_ = Stage::over;
                return result(StepStatus::ok, "", login_);
            case Stage::over:
                break;
        }
        return result(StepStatus::malformed, "SCRAM exchange already over", login_);
    }

  private:
    enum class Stage { first, final, done, over };

    StepResult client_first(std::string_view msg) {
        // gs2-header: cbind-flag "," [authzid] ","
        size_t c1 = msg.find(',');
        if (c1 == std::string_view::npos) return bad("SCRAM client-first without a GS2 header");
        size_t c2 = msg.find(',', c1 + 1);
        if (c2 == std::string_view::npos) return bad("SCRAM client-first without a GS2 header");
        std::string_view flag = msg.substr(0, c1);
        std::string_view authz = msg.substr(c1 + 1, c2 - c1 - 1);
        gs2_header_ = std::string(msg.substr(0, c2 + 1));
        std::string_view bare = msg.substr(c2 + 1);
        if (plus_) {
            if (flag != "p=tls-exporter")
                return result(StepStatus::fail,
                              "SCRAM-SHA-256-PLUS needs p=tls-exporter channel binding");
        } else if (flag == "y") {
            // The client could bind but thinks we cannot: if we offered -PLUS, someone
            // removed it on the way (RFC 5802 section 6).
            if (!ctx_.channel_binding.empty())
                return result(StepStatus::fail,
                              "SCRAM downgrade: client supports channel "
                              "binding that the server offered");
        } else if (flag != "n") {
            if (flag.substr(0, 2) == "p=")
                return result(StepStatus::fail, "channel binding requested with SCRAM-SHA-256");
            return bad("SCRAM client-first with a bad channel binding flag");
        }
        std::optional<std::string> authzid;
        if (!authz.empty()) {
            if (authz.substr(0, 2) != "a=") return bad("SCRAM client-first with a bad authzid");
            authzid = decode_saslname(authz.substr(2));
            if (!authzid || authzid->empty()) return bad("SCRAM authzid is not a saslname");
        }
        auto attrs = attributes(bare);
        if (!attrs || attrs->size() < 2) return bad("SCRAM client-first-bare is malformed");
        if ((*attrs)[0].first == 'm') return bad("SCRAM mandatory extension not supported");
        if ((*attrs)[0].first != 'n' || (*attrs)[1].first != 'r')
            return bad("SCRAM client-first-bare needs n= then r=");
        auto login = decode_saslname((*attrs)[0].second);
        if (!login || login->empty()) return bad("SCRAM user name is not a saslname");
        login_ = std::move(*login);
        if (authzid && *authzid != login_)
            return result(StepStatus::fail, "authorization identity differs from the login",
                          login_);
        std::string_view cnonce = (*attrs)[1].second;
        if (!printable_nonce(cnonce)) return bad("SCRAM client nonce is not printable");
        client_first_bare_ = std::string(bare);

        auto found = creds_.lookup(login_);
        if (!found)
            return result(StepStatus::temp, "credential store: " + found.error().message, login_);
        if (found->has_value()) {
            keys_ = (*found)->scram;
            floor_ = (*found)->floor;
            known_ = true;
        } else {
            // A stable fake salt, so probing cannot tell a known login from an unknown one.
            keys_.salt = sasl::hmac_sha256(ctx_.secret, "salt:" + login_).substr(0, 16);
            keys_.iterations = sasl::kScramIterationsDefault;
            keys_.stored_key = sasl::hmac_sha256(ctx_.secret, "stored:" + login_);
            keys_.server_key = sasl::hmac_sha256(ctx_.secret, "server:" + login_);
        }
        nonce_ = std::string(cnonce) + ctx_.nonce();
        server_first_ = "r=" + nonce_ + ",s=" + sasl::base64_encode(keys_.salt) +
                        ",i=" + std::to_string(keys_.iterations);
        stage_ = Stage::final;
        return challenge(server_first_);
    }

    StepResult client_final(std::string_view msg) {
        size_t p = msg.rfind(",p=");
        if (p == std::string_view::npos) return bad("SCRAM client-final without a proof");
        std::string_view without_proof = msg.substr(0, p);
        auto proof = sasl::base64_decode(msg.substr(p + 3));
        if (!proof || proof->size() != sasl::kSha256Size)
            return bad("SCRAM proof is not 32 bytes of base64");
        auto attrs = attributes(without_proof);
        if (!attrs || attrs->size() < 2 || (*attrs)[0].first != 'c' || (*attrs)[1].first != 'r')
            return bad("SCRAM client-final needs c= then r=");
        auto cbind = sasl::base64_decode((*attrs)[0].second);
        if (!cbind) return bad("SCRAM channel binding is not base64");
        std::string expect = gs2_header_;
        if (plus_) expect += ctx_.channel_binding;
        if (!sasl::constant_time_equal(*cbind, expect))
            return result(StepStatus::fail, "SCRAM channel binding does not match", login_);
        if ((*attrs)[1].second != nonce_)
            return result(StepStatus::fail, "SCRAM nonce does not match", login_);
        std::string auth_message =
            client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
        std::string signature = sasl::hmac_sha256(keys_.stored_key, auth_message);
        std::string client_key = sasl::xor_bytes(*proof, signature);
        bool ok = sasl::constant_time_equal(sasl::sha256(client_key), keys_.stored_key);
        OPENSSL_cleanse(client_key.data(), client_key.size());
        if (!known_) return result(StepStatus::fail, "no such login", login_);
        if (!ok) return result(StepStatus::fail, "wrong password", login_);
        if (floor_ == sasl::MechFloor::scram_plus && !plus_)
            return result(StepStatus::weak, "login requires SCRAM-SHA-256-PLUS", login_);
        stage_ = Stage::done;
        return challenge("v=" +
                         sasl::base64_encode(sasl::hmac_sha256(keys_.server_key, auth_message)));
    }

    StepResult bad(const char* why) { return result(StepStatus::malformed, why, login_); }

    CredentialSource& creds_;
    const MechContext& ctx_;
    bool plus_;
    Stage stage_ = Stage::first;
    bool known_ = false;
    sasl::MechFloor floor_ = sasl::MechFloor::any;
    std::string login_;
    std::string gs2_header_;
    std::string client_first_bare_;
    std::string server_first_;
    std::string nonce_;
    sasl::ScramKeys keys_;
};

}  // namespace

std::optional<std::string> decode_saslname(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == ',' || s[i] == '\0') return std::nullopt;
        if (s[i] != '=') {
            out += s[i];
            continue;
        }
        if (s.substr(i + 1, 2) == "2C")
            out += ',';
        else if (s.substr(i + 1, 2) == "3D")
            out += '=';
        else
            return std::nullopt;
        i += 2;
    }
    return out;
}

std::unique_ptr<Mechanism> make_mechanism(std::string_view name, CredentialSource& creds,
                                          const MechContext& ctx) {
    if (name == "PLAIN") return std::make_unique<Plain>(creds);
    if (name == "LOGIN") return std::make_unique<Login>(creds);
    if (name == "SCRAM-SHA-256") return std::make_unique<Scram>(creds, ctx, false);
    if (name == "SCRAM-SHA-256-PLUS" && !ctx.channel_binding.empty())
        return std::make_unique<Scram>(creds, ctx, true);
    return nullptr;
}

std::string mechanism_list(bool channel_binding) {
    return channel_binding ? "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN"
                           : "SCRAM-SHA-256 PLAIN LOGIN";
}

}  // namespace tegami::auth
