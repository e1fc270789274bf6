// dir_sync_test.cpp - lib/core/dir_sync.cpp: parent_dir on a table of paths, and
// fsync_dir's three outcomes: done (a real directory), unsupported (a file system that
// cannot fsync a directory: /proc answers EINVAL), error (missing, or not a directory).
#include "lib/core/dir_sync.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <string>

using namespace tegami;

namespace {
struct ParentCase {
    const char* path;
    const char* want;
};
const ParentCase kParents[] = {
    {"", "."},       {"name", "."}, {"/", "/"},       {"/a", "/"},  {"/a/b", "/a"},
    {"/a/b/", "/a"}, {"a/b", "a"},  {"/a//b", "/a/"}, {"./x", "."},
};
}  // namespace

Test(dir_sync, parent_dir_table) {
    for (const auto& c : kParents)
        cr_expect_eq(parent_dir(c.path), std::string(c.want), "\"%s\"", c.path);
}

Test(dir_sync, errors_first) {
    cr_expect(!fsync_dir("/nonexistent-tegami-dir").ok());
    cr_expect(!fsync_dir("/etc/passwd").ok(), "a file is not a directory");
    cr_expect(!fsync_parent("/nonexistent-tegami-dir/x").ok());
    cr_expect(dir_sync_unsupported(EINVAL));
    cr_expect(!dir_sync_unsupported(EIO));
    cr_expect(!dir_sync_unsupported(ENOSPC));
}

Test(dir_sync, unsupported_file_system) {
    auto r = fsync_dir("/proc/self");
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    cr_expect(r.value() == DirSync::unsupported);
}

Test(dir_sync, real_directory) {
    char tmpl[] = "/tmp/tegami-dirsync-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    auto r = fsync_dir(tmpl);
    cr_assert(r.ok());
    cr_expect(r.value() == DirSync::done);
    auto p = fsync_parent(std::string(tmpl) + "/not-yet");
    cr_assert(p.ok(), "the parent exists even if the name does not");
    cr_expect(p.value() == DirSync::done);
    ::rmdir(tmpl);
}
