// priv.cpp - see priv.hpp. The one audited place where uids, gids and capabilities
// change. Called by master (in the child, before exec), by every daemon at start-up
// (verify only) and by local's delivery children. Trusts the passwd/group databases.
//
// Invariants: after drop_privileges() or become_user() returns ok, real, effective and
// saved ids are the target ids, the supplementary groups are exactly the given ones,
// and the capability sets are exactly the requested ones (checked, not assumed).
#include "lib/priv/priv.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/core/c_ptr.hpp"

namespace tegami {

namespace {

const cap_value_t kSetid[] = {CAP_SETGID, CAP_SETUID};

Result<Identity> identity_from(const passwd* pw, const std::string& extra_group) {
    Identity id;
    id.name = pw->pw_name;
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    id.home = pw->pw_dir ? pw->pw_dir : "/";
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    while (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) {
        if (n > 65536) return make_error(Exit::os_err, "too many groups for " + id.name);
        groups.resize(static_cast<size_t>(n) * 2);
        n = static_cast<int>(groups.size());
    }
    groups.resize(static_cast<size_t>(n));
    if (!extra_group.empty()) {
        errno = 0;
        if (const group* gr = getgrnam(extra_group.c_str())) groups.push_back(gr->gr_gid);
    }
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    id.groups = std::move(groups);
    return id;
}

// Sets all four capability sets (and the ambient set) to exactly `keep`.
Result<void> set_caps(CapProfile keep) {
    CapPtr caps(cap_init());
    if (!caps) return sys_error("cap_init", errno);
    if (keep == CapProfile::setid) {
        for (cap_flag_t f : {CAP_PERMITTED, CAP_EFFECTIVE, CAP_INHERITABLE})
            if (cap_set_flag(caps.get(), f, 2, kSetid, CAP_SET) != 0)
                return sys_error("cap_set_flag", errno);
    }
    if (cap_set_proc(caps.get()) != 0) return sys_error("cap_set_proc", errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return sys_error("clear ambient", errno);
    if (keep == CapProfile::setid) {
        for (cap_value_t c : kSetid)
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
                return sys_error("raise ambient", errno);
    }
    return {};
}

Result<void> check_caps(CapProfile expect) {
    CapPtr have(cap_get_proc());
    if (!have) return sys_error("cap_get_proc", errno);
    CapPtr want(cap_init());
    if (expect == CapProfile::setid) {
        for (cap_flag_t f : {CAP_PERMITTED, CAP_EFFECTIVE, CAP_INHERITABLE})
            cap_set_flag(want.get(), f, 2, kSetid, CAP_SET);
    }
    if (cap_compare(have.get(), want.get()) != 0) {
        ssize_t len;
        char* txt = cap_to_text(have.get(), &len);
        std::string s = txt ? txt : "?";
        cap_free(txt);
        return make_error(
            Exit::no_perm,
            "capabilities are \"" + s + "\", expected " +
                (expect == CapProfile::setid ? "cap_setgid,cap_setuid only" : "none"));
    }
    return {};
}

Result<void> check_ids(uid_t uid, gid_t gid) {
    uid_t r, e, s;
    gid_t rg, eg, sg;
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    if (r != uid || e != uid || s != uid)
        return make_error(Exit::no_perm, "uid change did not take");
    if (rg != gid || eg != gid || sg != gid)
        return make_error(Exit::no_perm, "gid change did not take");
    return {};
}

}  // namespace

Result<Identity> lookup_identity(const std::string& user, const std::string& extra_group) {
    errno = 0;
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) return make_error(Exit::no_user, "unknown user \"" + user + "\"");
    return identity_from(pw, extra_group);
}

Result<Identity> current_identity() {
    const passwd* pw = getpwuid(getuid());
    if (!pw) return make_error(Exit::no_user, "the current uid has no passwd entry");
    return identity_from(pw, "");
}

bool running_as_root() {
    return geteuid() == 0;
}

Result<void> drop_privileges(const Identity& id, CapProfile keep) {
    if (id.uid == 0) return make_error(Exit::config, "refusing to run a daemon as uid 0");
    if (keep != CapProfile::none && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return sys_error("PR_SET_KEEPCAPS", errno);
    if (setgroups(id.groups.size(), id.groups.data()) != 0) return sys_error("setgroups", errno);
    if (setresgid(id.gid, id.gid, id.gid) != 0) return sys_error("setresgid", errno);
    if (setresuid(id.uid, id.uid, id.uid) != 0) return sys_error("setresuid", errno);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return sys_error("PR_SET_KEEPCAPS", errno);
    if (auto r = set_caps(keep); !r) return r;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("PR_SET_NO_NEW_PRIVS", errno);
    if (auto r = check_ids(id.uid, id.gid); !r) return r;
    return check_caps(keep);
}

Result<void> verify_privileges(CapProfile expect, bool privileged) {
    if (getuid() == 0 || geteuid() == 0)
        return make_error(Exit::no_perm, "running as uid 0; start through tegami-master");
    if (getgid() == 0 || getegid() == 0) return make_error(Exit::no_perm, "running with gid 0");
    return check_caps(privileged ? expect : CapProfile::none);
}

bool can_switch_users() {
    CapPtr have(cap_get_proc());
    if (!have) return false;
    cap_flag_value_t u = CAP_CLEAR, g = CAP_CLEAR;
    cap_get_flag(have.get(), CAP_SETUID, CAP_EFFECTIVE, &u);
    cap_get_flag(have.get(), CAP_SETGID, CAP_EFFECTIVE, &g);
    return u == CAP_SET && g == CAP_SET;
}

Result<void> become_user(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
    if (uid == 0) return make_error(Exit::no_perm, "refusing to deliver as uid 0");
    if (setgroups(groups.size(), groups.data()) != 0) return sys_error("setgroups", errno);
    if (setresgid(gid, gid, gid) != 0) return sys_error("setresgid", errno);
    if (setresuid(uid, uid, uid) != 0) return sys_error("setresuid", errno);
    // The ids were never 0, so the kernel kept our capabilities: drop them explicitly.
    if (auto r = set_caps(CapProfile::none); !r) return r;
    if (auto r = check_ids(uid, gid); !r) return r;
    return check_caps(CapProfile::none);
}

std::string capability_text() {
    CapPtr have(cap_get_proc());
    if (!have) return "?";
    ssize_t len;
    char* txt = cap_to_text(have.get(), &len);
    std::string s = txt ? txt : "?";
    cap_free(txt);
    return s;
}

}  // namespace tegami
