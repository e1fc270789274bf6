// authinfo_test.cpp - tests for deliver/remote/authinfo.cpp: sendmail authinfo values.
// Bad values first.
#include "deliver/remote/authinfo.hpp"

#include <criterion/criterion.h>

#include <string>

using namespace tegami::remote;

Test(authinfo, bad_values_are_refused) {
    const char* bad[] = {"",
                         "\"U:user\"",
                         "\"P:pw\"",
                         "\"U:user\" \"P:pw",
                         "\"X:1\" \"U:u\" \"P:p\"",
                         "\"U\" \"P:p\"",
                         "\"U:u\" \"P=not base64!\""};
    for (const char* b : bad) {
        AuthInfo a;
        std::string why;
        cr_expect_not(parse_authinfo(b, a, why), "%s", b);
        cr_expect_not(why.empty(), "%s", b);
    }
}

Test(authinfo, sendmail_forms) {
    AuthInfo a;
    std::string why;
    cr_assert(parse_authinfo("\"U:smmsp\" \"P:secret pw\" \"M:plain login\"", a, why), "%s",
              why.c_str());
    cr_expect_eq(a.user, "smmsp");
    cr_expect_eq(a.authid, "smmsp");
    cr_expect_eq(a.password, "secret pw");
    cr_assert_eq(a.mechanisms.size(), 2u);
    cr_expect_eq(a.mechanisms[0], "PLAIN");
    cr_assert(parse_authinfo("\"I:id\" \"P=c2VjcmV0\" \"R:realm\"", a, why), "%s", why.c_str());
    cr_expect_eq(a.authid, "id");
    cr_expect_eq(a.user, "id");
    cr_expect_eq(a.password, "secret");
    cr_expect_eq(a.mechanisms.size(), 2u);  // default PLAIN LOGIN
}
