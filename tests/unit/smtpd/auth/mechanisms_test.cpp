// mechanisms_test.cpp - tests for smtpd/auth/mechanisms.cpp: PLAIN, LOGIN,
// SCRAM-SHA-256 (RFC 7677's example exchange, byte for byte) and SCRAM-SHA-256-PLUS
// with tls-exporter binding. Bad inputs first: missing NULs, empty fields, foreign
// authzid, wrong passwords, unknown logins, truncated and reordered SCRAM messages,
// wrong nonces, channel-binding mismatches and downgrades.
#include <criterion/criterion.h>

#include <map>
#include <string>
#include <vector>

#include "lib/sasl/base64.hpp"
#include "lib/sasl/crypto.hpp"
#include "smtpd/auth/mechanisms.hpp"

using namespace tegami;
using namespace tegami::auth;
using sasl::base64_decode;
using sasl::base64_encode;

namespace {

class FakeStore : public CredentialSource {
  public:
    FakeStore() {
        auto c = sasl::make_credential("pencil", sasl::kScramIterationsMin);
        cr_assert(c.ok());
        // RFC 7677's salt and iteration count, so its exchange replays exactly.
        c->scram = sasl::scram_keys("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        users_["user"] = *c;
        // The same password and keys, held to SCRAM and to SCRAM with channel binding.
        c->floor = sasl::MechFloor::scram;
        users_["scramonly"] = *c;
        c->floor = sasl::MechFloor::scram_plus;
        users_["plusonly"] = *c;
    }
    Result<std::optional<sasl::Credential>> lookup(std::string_view login) override {
        if (broken) return make_error(Exit::temp_fail, "store unreadable");
        auto it = users_.find(std::string(login));
        if (it == users_.end()) return std::optional<sasl::Credential>();
        return std::optional<sasl::Credential>(it->second);
    }
    bool broken = false;

  private:
    std::map<std::string, sasl::Credential> users_;
};

MechContext context(std::string cb = "") {
    MechContext m;
    m.channel_binding = std::move(cb);
    m.secret = "0123456789abcdef0123456789abcdef";
    m.nonce = [] { return std::string("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"); };
    return m;
}

FakeStore& store() {
    static FakeStore s;
    return s;
}

StepResult one_shot(const char* mech, std::string_view msg) {
    static MechContext ctx = context();
    auto m = make_mechanism(mech, store(), ctx);
    cr_assert(m);
    return m->start(msg);
}

std::string nul(std::string_view a, std::string_view b, std::string_view c) {
    return std::string(a) + '\0' + std::string(b) + '\0' + std::string(c);
}

const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const char* kNonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

// The client side of SCRAM, for the -PLUS case RFC 7677 has no vector for.
std::string client_final(const std::string& gs2_and_cb, const std::string& client_first_bare,
                         const std::string& server_first, const std::string& password) {
    auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    std::string salted = sasl::pbkdf2_sha256(password, *salt, 4096);
    std::string client_key = sasl::hmac_sha256(salted, "Client Key");
    std::string stored = sasl::sha256(client_key);
    std::string without = "c=" + base64_encode(gs2_and_cb) + ",r=" + kNonce;
    std::string auth_message = client_first_bare + "," + server_first + "," + without;
    std::string proof = sasl::xor_bytes(client_key, sasl::hmac_sha256(stored, auth_message));
    return without + ",p=" + base64_encode(proof);
}

}  // namespace

Test(plain, malformed_messages) {
    const std::string bad[] = {"",
                               "user",
                               std::string("user\0pencil", 11),
                               nul("", "", "pencil"),
                               nul("", "user", ""),
                               nul("", "user", "pencil") + '\0' + "x"};
    for (const auto& b : bad)
        cr_expect_eq(one_shot("PLAIN", b).status, StepStatus::malformed, "%zu bytes", b.size());
}

Test(plain, wrong_credentials_fail) {
    cr_expect_eq(one_shot("PLAIN", nul("", "user", "pencil2")).status, StepStatus::fail);
    cr_expect_eq(one_shot("PLAIN", nul("", "User", "pencil")).status, StepStatus::fail);
    StepResult unknown = one_shot("PLAIN", nul("", "nobody", "pencil"));
    cr_expect_eq(unknown.status, StepStatus::fail);
    cr_expect_eq(unknown.reason, std::string("no such login"));
    // Acting for another identity is not allowed.
    cr_expect_eq(one_shot("PLAIN", nul("admin", "user", "pencil")).status, StepStatus::fail);
}

Test(plain, store_failure_is_temporary) {
    store().broken = true;
    StepResult r = one_shot("PLAIN", nul("", "user", "pencil"));
    store().broken = false;
    cr_expect_eq(r.status, StepStatus::temp);
}

Test(plain, right_credentials_succeed) {
    StepResult r = one_shot("PLAIN", nul("", "user", "pencil"));
    cr_expect_eq(r.status, StepStatus::ok);
    cr_expect_eq(r.login, std::string("user"));
    cr_expect_eq(one_shot("PLAIN", nul("user", "user", "pencil")).status, StepStatus::ok);
    // No initial response: an empty challenge, then the message.
    MechContext ctx = context();
    auto m = make_mechanism("PLAIN", store(), ctx);
    StepResult c = m->start(std::nullopt);
    cr_expect_eq(c.status, StepStatus::cont);
    cr_expect_eq(c.challenge, std::string(""));
    cr_expect_eq(m->step(nul("", "user", "pencil")).status, StepStatus::ok);
    // No result ever carries the password.
    cr_expect(r.reason.find("pencil") == std::string::npos);
}

Test(login, exchange_and_bad_inputs) {
    MechContext ctx = context();
    auto m = make_mechanism("LOGIN", store(), ctx);
    StepResult u = m->start(std::nullopt);
    cr_expect_eq(u.status, StepStatus::cont);
    cr_expect_eq(u.challenge, std::string("Username:"));
    StepResult p = m->step("user");
    cr_expect_eq(p.challenge, std::string("Password:"));
    cr_expect_eq(m->step("pencil").status, StepStatus::ok);

    auto empty_user = make_mechanism("LOGIN", store(), ctx);
    (void)empty_user->start(std::nullopt);
    cr_expect_eq(empty_user->step("").status, StepStatus::malformed);

    auto wrong = make_mechanism("LOGIN", store(), ctx);
    cr_expect_eq(wrong->start("user").challenge, std::string("Password:"));
    cr_expect_eq(wrong->step("wrong").status, StepStatus::fail);

    auto empty_pw = make_mechanism("LOGIN", store(), ctx);
    (void)empty_pw->start("user");
    cr_expect_eq(empty_pw->step("").status, StepStatus::malformed);
}

Test(scram, truncated_and_malformed_client_first) {
    const char* bad[] = {"",
                         "n",
                         "n,",
                         "n,,",
                         "n,,n=user",
                         "n,,r=abc,n=user",
                         "x,,n=user,r=abc",
                         "n,b=x,n=user,r=abc",
                         "n,,m=ext,n=user,r=abc",
                         "n,,n=us=er,r=abc",
                         "n,,n=us=2Ger,r=abc",
                         "n,,n=,r=abc",
                         "n,,n=user,r=",
                         "n,,n=user,r=a b",
                         "n,,n=user,,r=abc"};
    MechContext ctx = context();
    for (const char* b : bad) {
        auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
        StepResult r = m->start(std::nullopt);
        cr_expect_eq(r.status, StepStatus::cont);
        cr_expect_eq(m->step(b).status, StepStatus::malformed, "%s", b);
    }
}

Test(scram, bad_client_final) {
    MechContext ctx = context();
    std::string proofless = std::string("c=biws,r=") + kNonce;
    const std::string bad_malformed[] = {
        "",
        proofless,
        proofless + ",p=",
        proofless + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
        proofless + ",p=AAAA",
        std::string("r=") + kNonce + ",c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        std::string("c=bi*s,r=") + kNonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="};
    for (const auto& b : bad_malformed) {
        auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
        cr_assert_eq(m->start(kClientFirst).status, StepStatus::cont);
        cr_expect_eq(m->step(b).status, StepStatus::malformed, "%s", b.c_str());
    }
    const std::string bad_fail[] = {
        // a nonce that is not the one the server made
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        // the client's nonce alone
        "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        // a channel binding header other than the one sent first ("y,,")
        std::string("c=eSws,r=") + kNonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        // a wrong proof
        std::string("c=biws,r=") + kNonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA="};
    for (const auto& b : bad_fail) {
        auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
        cr_assert_eq(m->start(kClientFirst).status, StepStatus::cont);
        cr_expect_eq(m->step(b).status, StepStatus::fail, "%s", b.c_str());
    }
}

Test(scram, unknown_login_looks_like_a_known_one_and_fails) {
    MechContext ctx = context();
    auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
    StepResult first = m->start("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO");
    cr_assert_eq(first.status, StepStatus::cont);
    cr_expect(first.challenge.find(",s=") != std::string::npos);
    cr_expect(first.challenge.find(",i=") != std::string::npos);
    auto again = make_mechanism("SCRAM-SHA-256", store(), ctx);
    cr_expect_eq(again->start("n,,n=nobody,r=rOprNGfwEbeRWgbNEkqO").challenge, first.challenge,
                 "the fake salt is stable");
    cr_expect_eq(m->step(kClientFinal).status, StepStatus::fail);
}

Test(scram, rfc7677_exchange) {
    MechContext ctx = context();
    auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
    StepResult s1 = m->start(kClientFirst);
    cr_assert_eq(s1.status, StepStatus::cont);
    cr_expect_eq(s1.challenge, std::string("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                           "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
    StepResult s2 = m->step(kClientFinal);
    cr_assert_eq(s2.status, StepStatus::cont);
    cr_expect_eq(s2.challenge, std::string("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
    StepResult done = m->step("");
    cr_expect_eq(done.status, StepStatus::ok);
    cr_expect_eq(done.login, std::string("user"));
    cr_expect_eq(m->step("").status, StepStatus::malformed, "nothing after the end");
}

Test(scram, data_instead_of_the_empty_acknowledgement_fails) {
    MechContext ctx = context();
    auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
    (void)m->start(kClientFirst);
    (void)m->step(kClientFinal);
    cr_expect_eq(m->step("v=x").status, StepStatus::malformed);
}

Test(scram, channel_binding_downgrade_and_mismatch) {
    // -PLUS is not offered without TLS binding data.
    MechContext plain_ctx = context();
    cr_expect_null(make_mechanism("SCRAM-SHA-256-PLUS", store(), plain_ctx).get());
    MechContext ctx = context("0123456789abcdef0123456789abcdef");
    // "y": the client could bind but believes the server cannot, while it offered -PLUS.
    auto y = make_mechanism("SCRAM-SHA-256", store(), ctx);
    cr_expect_eq(y->start("y,,n=user,r=rOprNGfwEbeRWgbNEkqO").status, StepStatus::fail);
    // p= on the mechanism without -PLUS.
    auto p = make_mechanism("SCRAM-SHA-256", store(), ctx);
    cr_expect_eq(p->start("p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO").status,
                 StepStatus::fail);
    // -PLUS with another binding type, or none.
    auto u = make_mechanism("SCRAM-SHA-256-PLUS", store(), ctx);
    cr_expect_eq(u->start("p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO").status, StepStatus::fail);
    auto n = make_mechanism("SCRAM-SHA-256-PLUS", store(), ctx);
    cr_expect_eq(n->start("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").status, StepStatus::fail);
    // -PLUS whose binding data is another TLS session's.
    std::string bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    auto other = make_mechanism("SCRAM-SHA-256-PLUS", store(), ctx);
    StepResult s1 = other->start("p=tls-exporter,," + bare);
    cr_assert_eq(s1.status, StepStatus::cont);
    cr_expect_eq(other
                     ->step(client_final("p=tls-exporter,,ANOTHER-SESSION-EXPORTER-VALUE", bare,
                                         s1.challenge, "pencil"))
                     .status,
                 StepStatus::fail);
}

Test(scram, plus_with_tls_exporter_binding) {
    std::string cb = "0123456789abcdef0123456789abcdef";
    MechContext ctx = context(cb);
    std::string bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    auto m = make_mechanism("SCRAM-SHA-256-PLUS", store(), ctx);
    StepResult s1 = m->start("p=tls-exporter,," + bare);
    cr_assert_eq(s1.status, StepStatus::cont);
    StepResult s2 = m->step(client_final("p=tls-exporter,," + cb, bare, s1.challenge, "pencil"));
    cr_assert_eq(s2.status, StepStatus::cont, "%s", s2.reason.c_str());
    cr_expect_eq(s2.challenge.substr(0, 2), std::string("v="));
    cr_expect_eq(m->step("").status, StepStatus::ok);
    // The same with a wrong password.
    auto w = make_mechanism("SCRAM-SHA-256-PLUS", store(), ctx);
    StepResult w1 = w->start("p=tls-exporter,," + bare);
    cr_expect_eq(
        w->step(client_final("p=tls-exporter,," + cb, bare, w1.challenge, "pencil2")).status,
        StepStatus::fail);
}

Test(scram, saslname) {
    cr_expect_not(decode_saslname("a=").has_value());
    cr_expect_not(decode_saslname("a=2").has_value());
    cr_expect_not(decode_saslname("a=41").has_value());
    cr_expect_not(decode_saslname("a,b").has_value());
    cr_expect_eq(*decode_saslname("a=2Cb=3Dc"), std::string("a,b=c"));
}

Test(mechanisms, unknown_names) {
    MechContext ctx = context();
    for (const char* n : {"", "plain", "CRAM-MD5", "SCRAM-SHA-1", "GSSAPI", "PLAIN "})
        cr_expect_null(make_mechanism(n, store(), ctx).get(), "%s", n);
}

// The verification cache hooks: a success is noted, a hit skips the check, a wrong
// password is never taken from the cache (the source decides; here it answers for one
// password only) and never noted.
namespace {
class CachingStore : public FakeStore {
  public:
    bool recently_verified(std::string_view, const sasl::Credential&,
                           std::string_view password) override {
        ++asked;
        return password == hit;
    }
    void verified(std::string_view login, const sasl::Credential&, std::string_view) override {
        noted.emplace_back(login);
    }
    std::string hit;
    int asked = 0;
    std::vector<std::string> noted;
};
}  // namespace

Test(plain, verification_cache_hooks) {
    CachingStore s;
    MechContext ctx = context();
    auto run = [&](const char* pw) {
        return make_mechanism("PLAIN", s, ctx)->start(nul("", "user", pw)).status;
    };
    cr_expect_eq(run("wrong"), StepStatus::fail);
    cr_expect(s.noted.empty(), "a failure is never noted");
    cr_expect_eq(run("pencil"), StepStatus::ok);
    cr_expect_eq(s.noted, std::vector<std::string>{"user"}, "a checked success is noted");
    s.hit = "pencil";
    cr_expect_eq(run("pencil"), StepStatus::ok);
    cr_expect_eq(s.noted.size(), 1u, "a cache hit is not checked (nor noted) again");
    cr_expect_eq(run("pencil2"), StepStatus::fail, "another password misses and fails");
    cr_expect_eq(make_mechanism("PLAIN", s, ctx)->start(nul("", "nobody", "pencil")).status,
                 StepStatus::fail, "an unknown login never reaches the cache");
}

// RFC 4954's 534 5.7.9: a login held to SCRAM gets `weak` for PLAIN and LOGIN, and one
// held to -PLUS for SCRAM without binding; but only once the password is known right, so
// a guesser learns nothing about the policy.
Test(floor, weaker_mechanisms_are_refused_only_with_the_right_password) {
    StepResult p = one_shot("PLAIN", nul("", "scramonly", "pencil"));
    cr_expect_eq(p.status, StepStatus::weak);
    cr_expect_eq(p.login, std::string("scramonly"));
    cr_expect_eq(one_shot("PLAIN", nul("", "scramonly", "pencil2")).status, StepStatus::fail);
    cr_expect_eq(one_shot("PLAIN", nul("", "plusonly", "pencil")).status, StepStatus::weak);
    MechContext ctx = context();
    auto l = make_mechanism("LOGIN", store(), ctx);
    (void)l->start("scramonly");
    cr_expect_eq(l->step("pencil").status, StepStatus::weak);

    // SCRAM-SHA-256 satisfies "scram" but not "scram-plus".
    std::string cb = "0123456789abcdef0123456789abcdef";
    MechContext cbctx = context(cb);
    for (const char* who : {"scramonly", "plusonly"}) {
        std::string bare = std::string("n=") + who + ",r=rOprNGfwEbeRWgbNEkqO";
        auto m = make_mechanism("SCRAM-SHA-256", store(), ctx);
        StepResult s1 = m->start("n,," + bare);
        cr_assert_eq(s1.status, StepStatus::cont);
        StepResult s2 = m->step(client_final("n,,", bare, s1.challenge, "pencil"));
        if (std::string(who) == "scramonly") {
            cr_expect_eq(s2.status, StepStatus::cont, "%s", s2.reason.c_str());
            cr_expect_eq(m->step("").status, StepStatus::ok);
        } else {
            cr_expect_eq(s2.status, StepStatus::weak, "%s", s2.reason.c_str());
        }
        // The wrong password is a plain failure for both.
        auto w = make_mechanism("SCRAM-SHA-256", store(), ctx);
        StepResult w1 = w->start("n,," + bare);
        cr_expect_eq(w->step(client_final("n,,", bare, w1.challenge, "pencil2")).status,
                     StepStatus::fail);
        // -PLUS satisfies both.
        auto plus = make_mechanism("SCRAM-SHA-256-PLUS", store(), cbctx);
        StepResult p1 = plus->start("p=tls-exporter,," + bare);
        cr_assert_eq(p1.status, StepStatus::cont);
        StepResult p2 =
            plus->step(client_final("p=tls-exporter,," + cb, bare, p1.challenge, "pencil"));
        cr_expect_eq(p2.status, StepStatus::cont, "%s: %s", who, p2.reason.c_str());
        cr_expect_eq(plus->step("").status, StepStatus::ok);
    }
}
