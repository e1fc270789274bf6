// caller.hpp - who runs sendmail and what it holds: the real uid/gid (the caller), the
// MSP group borrowed through the set-group-ID bit (effective gid), and the one audited
// place that gives the group up. Used by every mode in main.cpp.
//
// Invariant: once drop_msp_group() returned, real, effective and saved gid are the
// caller's real gid, verified; nothing can take the group back.
#pragma once

#include <sys/types.h>

#include <string>

#include "lib/conf/config.hpp"

namespace tegami::msp {

struct Caller {
    uid_t uid = 0;
    gid_t gid = 0;
    gid_t egid = 0;
    std::string login;  // passwd name of uid, or "uidN" when it has none
    std::string gecos_name;
    bool has_passwd_entry = false;
    bool root() const { return uid == 0; }
    // Holds a group it did not have on its own (the setgid bit took effect).
    bool borrowed_group() const { return egid != gid; }
};

Caller identify_caller();

// Gives up the MSP group for good (setresgid to the real gid) and verifies it.
// Exits with EX_OSERR if the kernel refuses (never continues half-privileged).
void drop_msp_group(Caller& c);

// Trusted users may set the envelope sender (-f) without an X-Authentication-Warning:
// root, daemon, uucp (sendmail's class t) and the suite's own user.
bool trusted_user(const Caller& c, const Config& cfg);

}  // namespace tegami::msp
