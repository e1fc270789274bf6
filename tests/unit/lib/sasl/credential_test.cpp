// credential_test.cpp - tests for lib/sasl/credential.cpp, crypto.cpp and passwd_db.cpp:
// malformed stored records are refused, yescrypt hashes verify only the right
// password, SCRAM keys match RFC 7677's example, and the store is replaced atomically
// while a reader holds the old one open.
#include <criterion/criterion.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "lib/sasl/base64.hpp"
#include "lib/sasl/credential.hpp"
#include "lib/sasl/crypto.hpp"
#include "lib/sasl/passwd_db.hpp"

using namespace tegami;
using namespace tegami::sasl;

Test(credential, malformed_records_are_refused) {
    auto good = make_credential("pencil", kScramIterationsMin);
    cr_assert(good.ok());
    std::string enc = encode_credential(*good);
    const std::string bad[] = {
        "",
        "1;",
        "2;" + enc.substr(2),
        enc.substr(0, enc.size() - 1),
        enc + "x",
        "1;3:abc",
        "1;99999999:x",
        "1;4:$y$x1:04:AAAA44:" + std::string(44, 'A') + "44:" + std::string(44, 'A'),
        "1;4:nope4:40964:AAAA4:AAAA4:AAAA"};
    for (const auto& b : bad)
        cr_expect_not(decode_credential(b).has_value(), "%s", b.c_str());
    auto back = decode_credential(enc);
    cr_assert(back.has_value());
    cr_expect_eq(back->hash, good->hash);
    cr_expect_eq(back->scram.stored_key, good->scram.stored_key);
}

Test(credential, a_mechanism_floor_round_trips_and_plain_entries_stay_version_1) {
    auto c = make_credential("pencil", kScramIterationsMin);
    cr_assert(c.ok());
    std::string v1 = encode_credential(*c);
    cr_expect_eq(v1.substr(0, 2), std::string("1;"), "an older reader still reads it");
    cr_expect_eq(decode_credential(v1)->floor, MechFloor::any);
    for (MechFloor f : {MechFloor::scram, MechFloor::scram_plus}) {
        c->floor = f;
        std::string enc = encode_credential(*c);
        cr_expect_eq(enc.substr(0, 2), std::string("2;"));
        auto back = decode_credential(enc);
        cr_assert(back.has_value());
        cr_expect(back->floor == f);
        cr_expect_eq(back->hash, c->hash);
        // A v2 record without its floor, or with an unknown one, is refused.
        cr_expect_not(decode_credential(v1.replace(0, 2, "2;")).has_value());
        v1.replace(0, 2, "1;");
        cr_expect_not(decode_credential("2;" + v1.substr(2) + "5:PLAIN").has_value());
        cr_expect_not(decode_credential("2;" + v1.substr(2) + "13:scram-sha-256").has_value());
    }
    cr_expect(parse_mech_floor("scram-sha-256-plus") == MechFloor::scram_plus);
    cr_expect(parse_mech_floor("PLAIN") == MechFloor::any);
    cr_expect_not(parse_mech_floor("LOGIN").has_value());
    cr_expect_not(parse_mech_floor("").has_value());
}

Test(credential, yescrypt_verifies_only_the_right_password) {
    auto c = make_credential("correct horse", kScramIterationsMin);
    cr_assert(c.ok(), "%s", c.ok() ? "" : c.error().message.c_str());
    cr_expect_eq(c->hash.substr(0, 3), std::string("$y$"));
    cr_expect(c->hash.find("correct") == std::string::npos);
    cr_expect_not(verify_password(*c, ""));
    cr_expect_not(verify_password(*c, "correct hors"));
    cr_expect_not(verify_password(*c, "correct horse "));
    cr_expect_not(verify_password(*c, std::string("correct horse\0x", 15)));
    cr_expect(verify_password(*c, "correct horse"));
    cr_expect_not(make_credential(std::string("a\0b", 3)).ok());
}

Test(credential, bad_logins) {
    const std::string bad[] = {
        "", "a b", "a,b", "a=b", std::string("a\0b", 3), "a\tb", "a\x7f", std::string(256, 'a')};
    for (const auto& l : bad)
        cr_expect_not(valid_login(l), "%s", l.c_str());
    cr_expect(valid_login("alice"));
    cr_expect(valid_login("alice@example.org"));
    cr_expect(valid_login("j\xc3\xbcrgen"));
}

Test(credential, scram_keys_match_rfc7677) {
    auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    cr_assert(salt.has_value());
    ScramKeys k = scram_keys("pencil", *salt, 4096);
    // ServerSignature of RFC 7677's exchange, from these keys.
    std::string auth_message =
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    cr_expect_eq(base64_encode(hmac_sha256(k.server_key, auth_message)),
                 std::string("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
}

Test(credential, constant_time_equal) {
    cr_expect_not(constant_time_equal("abc", "abd"));
    cr_expect_not(constant_time_equal("abc", "ab"));
    cr_expect(constant_time_equal("", ""));
    cr_expect(constant_time_equal("abc", "abc"));
}

Test(passwd_db, missing_store_is_a_temporary_error) {
    PasswdDb db("/nonexistent/tegami-passwd.db");
    auto r = db.lookup("alice");
    cr_expect_not(r.ok());
    cr_expect_eq(r.error().exit, Exit::temp_fail);
}

Test(passwd_db, writer_replaces_the_file_and_readers_see_the_new_one) {
    char tmpl[] = "/tmp/tegami-passwd-test.XXXXXX";
    cr_assert(mkdtemp(tmpl));
    std::string path = std::string(tmpl) + "/passwd.db";
    {
        auto w = PasswdWriter::open(path);
        cr_assert(w.ok(), "%s", w.ok() ? "" : w.error().message.c_str());
        auto c = make_credential("one", kScramIterationsMin);
        cr_assert(c.ok());
        w->entries()["alice"] = encode_credential(*c);
        cr_assert(w->commit(static_cast<uid_t>(-1), static_cast<gid_t>(-1)).ok());
    }
    PasswdDb db(path);
    auto a = db.lookup("alice");
    cr_assert(a.ok() && a->has_value());
    cr_expect(verify_password(**a, "one"));
    auto none = db.lookup("bob");
    cr_assert(none.ok());
    cr_expect_not(none->has_value());
    {
        auto w = PasswdWriter::open(path);
        cr_assert(w.ok());
        cr_expect_eq(w->entries().size(), 1u);
        // A second writer cannot take the lock meanwhile.
        w->entries().erase("alice");
        auto c = make_credential("two", kScramIterationsMin);
        cr_assert(c.ok());
        w->entries()["bob"] = encode_credential(*c);
        cr_assert(w->commit(static_cast<uid_t>(-1), static_cast<gid_t>(-1)).ok());
    }
    sleep(1);  // the reader re-checks the file at most once a second
    auto gone = db.lookup("alice");
    cr_assert(gone.ok());
    cr_expect_not(gone->has_value());
    auto b = db.lookup("bob");
    cr_assert(b.ok() && b->has_value());
    cr_expect(verify_password(**b, "two"));
    cr_expect_neq(access((path + ".new").c_str(), F_OK), 0);
    std::string cmd = std::string("rm -rf ") + tmpl;
    cr_expect_eq(std::system(cmd.c_str()), 0);
}
