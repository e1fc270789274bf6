// maildir_test.cpp - unit tests for deliver/local/maildir.cpp: path expansion, unique
// names, and a real delivery into a mkdtemp() directory (tmp/ empty afterwards, exactly
// one file in new/ with the exact bytes).
#include "deliver/local/maildir.hpp"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace tegami::local;

namespace {

struct PathCase {
    const char* pattern;
    const char* user;
    const char* home;
    const char* want;
};

const PathCase kPaths[] = {
    {"", "bob", "/home/bob", "/home/bob"},
    {"~", "bob", "/home/bob", "/home/bob"},
    {"~/Maildir/", "bob", "/home/bob", "/home/bob/Maildir"},
    {"Maildir", "bob", "/home/bob", "/home/bob/Maildir"},
    {"/var/mail/%u/", "bob", "/home/bob", "/var/mail/bob"},
    {"/m/%u/%u", "bob", "/h", "/m/bob/bob"},
    {"/m/%x%", "bob", "/h", "/m/%x%"},
    {"~/%u", "bob", "", "/bob"},
};

std::vector<std::string> list(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return out;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    closedir(d);
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

Test(maildir, expand_path) {
    for (const auto& c : kPaths)
        cr_expect_eq(expand_maildir_path(c.pattern, c.user, c.home), std::string(c.want), "\"%s\"",
                     c.pattern);
}

Test(maildir, unique_name) {
    timeval tv{1700000000, 42};
    cr_expect_eq(maildir_unique(tv, 123, 7, "mx.example"),
                 std::string("1700000000.M000042P123Q7.mx.example"));
    cr_expect_eq(maildir_unique(tv, 1, 1, "a/b:c"),
                 std::string("1700000000.M000042P1Q1.a\\057b\\072c"));
}

Test(maildir, uncreatable_root) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string file = std::string(tmpl) + "/file";
    std::ofstream(file) << "x";
    MailMessage m{"a@b", "bob@h", "x\r\n"};
    auto r = deliver_maildir(file + "/Maildir", "h", m, 1);
    cr_assert(!r.ok());
    cr_expect(r.error().exit == tegami::Exit::cant_create);
}

Test(maildir, deliver) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string root = std::string(tmpl) + "/users/bob/Maildir";
    MailMessage m{"a@b", "bob@h", "Subject: t\r\n\r\nFrom x\r\nbody"};
    for (unsigned long seq = 1; seq <= 2; ++seq) {
        auto r = deliver_maildir(root, "mx.example", m, seq);
        cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
        cr_expect(r.value().starts_with(root + "/new/"));
        cr_expect_eq(slurp(r.value()), std::string("Return-Path: <a@b>\nDelivered-To: bob@h\n"
                                                   "Subject: t\n\nFrom x\nbody\n"));
    }
    cr_expect(list(root + "/tmp").empty(), "tmp/ is empty");
    cr_expect(list(root + "/cur").empty());
    cr_expect_eq(list(root + "/new").size(), 2u);
    struct stat st {};
    cr_assert(stat((root + "/new").c_str(), &st) == 0);
    cr_expect_eq(st.st_mode & 0777, 0700u);
    auto names = list(root + "/new");
    cr_assert(stat((root + "/new/" + names[0]).c_str(), &st) == 0);
    cr_expect_eq(st.st_mode & 0777, 0600u);
}
