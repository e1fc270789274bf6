// virtual_test.cpp - lib/map/virtual.cpp: sendmail's virtusertable lookup order, the %1
// %2 %3 forms and error: values, over a text map in a mkdtemp() directory.
#include "lib/map/virtual.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace tegami;

Test(virtual_map, lookup_order_forms_and_errors) {
    char tmpl[] = "/tmp/tegami-virtual-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string path = std::string(tmpl) + "/v";
    std::ofstream(path) << "a+b@x.test exact-detail\n"
                           "a+*@x.test any-detail-%2-%3\n"
                           "a@x.test plain\n"
                           "@x.test catch-%1%3\n"
                           "bad@x.test error:4.2.1:450 later\n"
                           "worse@x.test error:550 gone\n"
                           "bare@x.test error:\n";
    map::MapRef m("text:" + path);
    struct Case {
        const char* local;
        VirtualTarget::Kind kind;
        const char* target;
        const char* dsn;
    };
    using K = VirtualTarget::Kind;
    const Case cases[] = {
        {"bad", K::error, "", "4.2.1"},
        {"worse", K::error, "", "5.1.1"},
        {"bare", K::error, "", "5.1.1"},
        {"a+b", K::address, "exact-detail", ""},
        {"a+c", K::address, "any-detail-c-+c", ""},
        {"a", K::address, "plain", ""},
        {"z", K::address, "catch-z", ""},
        {"z+t", K::address, "catch-z+t", ""},
    };
    for (const auto& c : cases) {
        auto r = virtual_lookup(m, c.local, "x.test", "+");
        cr_assert(r.ok(), "%s: %s", c.local, r.ok() ? "" : r.error().message.c_str());
        cr_expect_eq(static_cast<int>(r->kind), static_cast<int>(c.kind), "%s", c.local);
        if (c.kind == K::address)
            cr_expect_eq(r->target, std::string(c.target), "%s: %s", c.local, r->target.c_str());
        else
            cr_expect_eq(r->dsn, std::string(c.dsn), "%s: %s", c.local, r->dsn.c_str());
    }
    auto r = virtual_lookup(m, "a", "y.test", "+");
    cr_assert(r.ok());
    cr_expect(r->kind == K::none, "another domain matched");
    Config cfg = default_config();
    cfg.virtual_domains = {"x.test"};
    cr_expect(is_virtual_domain(cfg, "X.TEST"));
    cr_expect(!is_virtual_domain(cfg, "sub.x.test"));
    cr_expect_eq(virtual_substitute("%1-%2-%3-%4%", "u", ""), "u---%4%");
    unlink(path.c_str());
    rmdir(tmpl);
}
