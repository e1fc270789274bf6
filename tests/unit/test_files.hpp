// test_files.hpp - the scratch files of the unit tests that work on real files (maps,
// aliases, makemap, mailboxes): a fresh directory under /tmp, a file written or read
// whole, a tree removed, and this process's resident file pages. Header-only; each test
// removes what it made.
#pragma once

#include <criterion/criterion.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
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

// The whole file (bytes as stored); empty when it cannot be read.
inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// RssFile of this process in KiB (mapped file pages resident in its page tables); -1
// when /proc says nothing.
inline long rss_file_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("RssFile:", 0) == 0) return std::stol(line.substr(8));
    return -1;
}

inline void rm_rf(const std::string& dir) {
    std::string cmd = "rm -rf '" + dir + "'";
    cr_expect_eq(system(cmd.c_str()), 0);
}

}  // namespace tegami::test
