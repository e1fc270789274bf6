// test_files.hpp - the scratch files of the unit tests that work on real files (maps,
// aliases, makemap): a fresh directory under /tmp, a file written whole, a tree removed.
// Header-only; each test removes what it made.
#pragma once

#include <criterion/criterion.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace tegami::test {

// A new directory /tmp/NAME-XXXXXX (mkdtemp); the test fails at once without one.
inline std::string temp_dir(const std::string& name) {
    std::string tmpl = "/tmp/" + name + "-XXXXXX";
    char* d = mkdtemp(tmpl.data());
    cr_assert(d != nullptr, "mkdtemp %s", tmpl.c_str());
    return d;
}

// path holds exactly text afterwards (bytes as given).
inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::trunc | std::ios::binary);
    f << text;
}

inline void rm_rf(const std::string& dir) {
    std::string cmd = "rm -rf '" + dir + "'";
    cr_expect_eq(system(cmd.c_str()), 0);
}

}  // namespace tegami::test
