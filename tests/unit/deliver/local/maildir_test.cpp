// maildir_test.cpp - unit tests for deliver/local/maildir.cpp: path expansion, unique
// names, and a real delivery into a mkdtemp() directory (tmp/ empty afterwards, exactly
// one file in new/ with the exact bytes).
#include "deliver/local/maildir.hpp"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/core/unique_fd.hpp"
#include "tests/unit/deliver/local/fsync_spy.hpp"
#include "tests/unit/test_files.hpp"

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
    MailMessage m{"a@b", "bob@h", "x\r\n", ""};
    auto r = deliver_maildir(file + "/Maildir", "h", m, 1);
    cr_assert(!r.ok());
    cr_expect(r.error().exit == tegami::Exit::cant_create);
}

Test(maildir, deliver) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string root = std::string(tmpl) + "/users/bob/Maildir";
    MailMessage m{"a@b", "bob@h", "Subject: t\r\n\r\nFrom x\r\nbody", ""};
    for (unsigned long seq = 1; seq <= 2; ++seq) {
        auto r = deliver_maildir(root, "mx.example", m, seq);
        cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
        cr_expect(r.value().starts_with(root + "/new/"));
        cr_expect_eq(tegami::test::read_file(r.value()),
                     std::string("Return-Path: <a@b>\nDelivered-To: bob@h\n"
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

// Every directory the first delivery creates is fsync'ed, and so is its parent, before
// success; a later delivery into the existing tree syncs the file and new/ only.
Test(maildir, new_directories_are_durable) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string base = tmpl;
    std::string root = base + "/users/bob/Maildir";
    MailMessage m{"a@b", "bob@h", "Subject: t\r\n\r\nbody", ""};
    (void)tegami::test::fsync_spy_take();
    auto r = deliver_maildir(root, "mx.example", m, 1);
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    auto synced = tegami::test::fsync_spy_take();
    auto has = [&](const std::string& p) {
        return std::find(synced.begin(), synced.end(), p) != synced.end();
    };
    for (const std::string& d : {base, base + "/users", base + "/users/bob", root, root + "/tmp",
                                 root + "/new", root + "/cur"})
        cr_expect(has(d), "%s was not fsync'ed", d.c_str());
    // The directories are durable before the message goes into them: the first fsync
    // of the message file (in tmp/) comes after every directory fsync but new/'s last.
    auto file_sync = std::find_if(synced.begin(), synced.end(), [&](const std::string& p) {
        return p.starts_with(root + "/tmp/");
    });
    cr_assert(file_sync != synced.end(), "the message file was not fsync'ed");
    for (auto it = file_sync; it != synced.end(); ++it)
        cr_expect(*it == *file_sync || *it == root + "/new", "%s synced after the file",
                  it->c_str());
    cr_expect_eq(synced.back(), root + "/new");

    auto again = deliver_maildir(root, "mx.example", m, 2);
    cr_assert(again.ok());
    auto second = tegami::test::fsync_spy_take();
    cr_assert_eq(second.size(), 2u, "existing tree: the file and new/ only");
    cr_expect(second[0].starts_with(root + "/tmp/"));
    cr_expect_eq(second[1], root + "/new");
}

// A Maildir root whose parent exists: only the missing components are created and synced.
Test(maildir, existing_parent_synced_once) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string root = std::string(tmpl) + "/Maildir";
    MailMessage m{"a@b", "bob@h", "x\r\n", ""};
    (void)tegami::test::fsync_spy_take();
    cr_assert(deliver_maildir(root, "h", m, 1).ok());
    auto synced = tegami::test::fsync_spy_take();
    cr_expect_eq(std::count(synced.begin(), synced.end(), std::string(tmpl)), 1);
    cr_expect_eq(std::count(synced.begin(), synced.end(), root), 1);
}

// Written a piece at a time, the file is maildir_file's bytes whatever the piece size: a
// body larger than several pieces, From lines (not quoted here), no final newline; and a
// body that is a single line without a newline.
Test(maildir, written_in_pieces_same_bytes) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string root = std::string(tmpl) + "/Maildir";
    std::string body = "Subject: pieces\r\n\r\n";
    for (int i = 0; body.size() < 600 * 1024; ++i)
        body += i % 101 == 0 ? "From here\r\n" : std::string(size_t(i % 90), 'b') + "\r\n";
    body += "last line, no newline";
    unsigned long seq = 0;
    for (std::string_view b : {std::string_view(body), std::string_view("x")}) {
        MailMessage m{"", "bob@h", b, ""};
        std::string want = maildir_file(m);
        for (size_t piece : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, kWritePiece}) {
            if (b.size() > 1000 && piece < 100) continue;  // a line a write: slow, no new case
            auto r = deliver_maildir(root, "h", m, ++seq, piece);
            cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
            std::string got = tegami::test::read_file(r.value());
            cr_expect_eq(got.size(), want.size(), "piece %zu", piece);
            cr_expect(got == want, "piece %zu: the same bytes", piece);
        }
    }
    cr_expect(list(root + "/tmp").empty(), "tmp/ is empty");
}

// A mapped body (MailMessage::mapped) gives back its pages as the file is written: 8 MiB
// read through the mapping leave RssFile about where it was; unmarked, resident. The
// files are the same.
Test(maildir, mapped_body_pages_given_back) {
    char tmpl[] = "/tmp/tegami-maildir-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string file = std::string(tmpl) + "/body";
    {
        std::string line = std::string(76, 'x') + "\r\n";
        std::ofstream f(file, std::ios::binary);
        for (size_t n = 0; n < 8u << 20; n += line.size())
            f << line;
    }
    tegami::UniqueFd fd(open(file.c_str(), O_RDONLY));
    cr_assert(fd.valid());
    struct stat st {};
    cr_assert(fstat(fd.get(), &st) == 0);
    long grew[2] = {0, 0};
    std::string got[2];
    for (int mapped = 0; mapped < 2; ++mapped) {
        tegami::UniqueMapping map;
        cr_assert(map.map(fd.get(), static_cast<size_t>(st.st_size)));
        MailMessage m{"a@b", "bob@h", map.view(), "", mapped == 1};
        long before = tegami::test::rss_file_kib();
        auto r = deliver_maildir(std::string(tmpl) + "/Maildir", "h", m, 1u + unsigned(mapped));
        cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
        grew[mapped] = tegami::test::rss_file_kib() - before;
        got[mapped] = tegami::test::read_file(r.value());
    }
    cr_expect_gt(grew[0], 6 * 1024, "unmarked: RssFile grew by %ld KiB", grew[0]);
    cr_expect_lt(grew[1], 1024, "mapped: RssFile grew by %ld KiB", grew[1]);
    cr_expect(got[0] == got[1], "the same file either way");
}
