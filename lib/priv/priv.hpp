// priv.hpp - the one audited place where privileges change (setgroups/setresgid/
// setresuid + libcap). No daemon hand-rolls its own drop.
//
//  - master's child, before exec:    drop_privileges(id, keep)   (root -> user, caps kept
//                                     as ambient so they survive exec, or none)
//  - every daemon at start-up:       verify_privileges(expect)   (refuses to run with more)
//  - local's delivery child:         become_user(...)            (user -> recipient, no caps)
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami {

enum class CapProfile {
    none,   // smtpd, queue: no capabilities at all
    setid,  // local: CAP_SETUID and CAP_SETGID only
};

struct Identity {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups (primary included)
    std::string home;
};

// Looks up a user in the passwd database; extra_group (if not empty and it exists) is
// added to the supplementary groups. EX_NOUSER if the user is unknown.
Result<Identity> lookup_identity(const std::string& user, const std::string& extra_group = "");
// The identity of the calling process's real uid.
Result<Identity> current_identity();

bool running_as_root();

// Root only: switch to id for good (real, effective and saved ids), keeping exactly the
// capabilities of `keep` in the permitted, effective, inheritable and ambient sets so
// that they survive execve. Verifies the result.
Result<void> drop_privileges(const Identity& id, CapProfile keep);

// Checks that this process runs with no uid or gid 0 (when started by a root master:
// `privileged`) and exactly the capabilities of `expect` (none when !privileged).
Result<void> verify_privileges(CapProfile expect, bool privileged);

// True when the process holds CAP_SETUID and CAP_SETGID in its effective set.
bool can_switch_users();

// In a delivery child: become uid/gid with these supplementary groups and drop every
// capability (effective, permitted, inheritable, ambient, bounding where allowed).
// Refuses uid 0. Verifies afterwards.
Result<void> become_user(uid_t uid, gid_t gid, const std::vector<gid_t>& groups);

// "cap_setgid,cap_setuid=ep" style text of the current process's capabilities.
std::string capability_text();

}  // namespace tegami
