// penalty_test.cpp - tests for smtpd/auth/penalty.cpp: failures count per address
// within the window, the limit boxes the address for the window, and a reopened store
// (a restarted tegami-auth) still knows both.
#include <criterion/criterion.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "smtpd/auth/penalty.hpp"

using namespace tegami::auth;

Test(penalty, counts_expire_and_box_and_survive_a_restart) {
    char tmpl[] = "/tmp/tegami-penalty-test.XXXXXX";
    cr_assert(mkdtemp(tmpl));
    std::string path = std::string(tmpl) + "/penalty.db";
    time_t t = std::time(nullptr);
    {
        PenaltyBox box(3, 600);
        cr_assert(box.open(path).ok());
        cr_expect_eq(box.fail("192.0.2.1", t), 1u);
        cr_expect_eq(box.fail("192.0.2.1", t + 1), 2u);
        cr_expect_eq(box.boxed_until("192.0.2.1", t + 1), 0);
        cr_expect_eq(box.fail("198.51.100.7", t + 1), 1u, "addresses count apart");
        cr_expect_eq(box.fail("192.0.2.1", t + 2), 3u);
        cr_expect_eq(box.boxed_until("192.0.2.1", t + 2), t + 602);
        // An old failure no longer counts.
        cr_expect_eq(box.failures("198.51.100.7", t + 700), 0u);
        cr_expect_eq(box.fail("198.51.100.7", t + 700), 1u);
    }
    {
        PenaltyBox box(3, 600);  // as after a restart
        cr_assert(box.open(path).ok());
        cr_expect_eq(box.boxed_until("192.0.2.1", t + 3), t + 602);
        cr_expect_eq(box.failures("192.0.2.1", t + 3), 3u);
    }
    std::string cmd = std::string("rm -rf ") + tmpl;
    cr_expect_eq(std::system(cmd.c_str()), 0);
}

Test(penalty, limit_zero_never_boxes) {
    PenaltyBox box(0, 600);
    cr_assert(box.open("").ok());
    for (int i = 0; i < 50; ++i)
        (void)box.fail("192.0.2.9", 1000);
    cr_expect_eq(box.boxed_until("192.0.2.9", 1000), 0);
    cr_expect_eq(box.failures("192.0.2.9", 1000), 50u);
}
