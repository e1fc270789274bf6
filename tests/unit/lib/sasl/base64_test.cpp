// base64_test.cpp - tests for lib/sasl/base64.cpp: the strict decoder refuses every
// malformed form first; then RFC 4648 section 10 vectors both ways.
#include <criterion/criterion.h>

#include <string>

#include "lib/sasl/base64.hpp"

using namespace tegami::sasl;

Test(base64, malformed_input_is_refused) {
    const char* bad[] = {"Zg",       "Zg=",  "Zg==Zg==", "Z===", "Zm9v YmFy",
                         "Zm9v\r\n", "Zh==", "Zm9=",     "====", "Zm9v=",
                         "Zm$v",     "*",    "AAAA=AAA", "A=AA", "Zg=a"};
    for (const char* s : bad)
        cr_expect_not(base64_decode(s).has_value(), "%s", s);
}

Test(base64, rfc4648_vectors) {
    struct Case {
        const char* plain;
        const char* encoded;
    } cases[] = {{"", ""},
                 {"f", "Zg=="},
                 {"fo", "Zm8="},
                 {"foo", "Zm9v"},
                 {"foob", "Zm9vYg=="},
                 {"fooba", "Zm9vYmE="},
                 {"foobar", "Zm9vYmFy"}};
    for (const auto& c : cases) {
        cr_expect_eq(base64_encode(c.plain), std::string(c.encoded), "%s", c.plain);
        auto d = base64_decode(c.encoded);
        cr_assert(d.has_value(), "%s", c.encoded);
        cr_expect_eq(*d, std::string(c.plain), "%s", c.encoded);
    }
}

Test(base64, binary_round_trip) {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    for (size_t n = 0; n < all.size(); n += 7) {
        auto d = base64_decode(base64_encode(all.substr(0, n)));
        cr_assert(d.has_value());
        cr_expect_eq(*d, all.substr(0, n));
    }
}
