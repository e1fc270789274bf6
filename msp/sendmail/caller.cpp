// caller.cpp - see caller.hpp.
#include "msp/sendmail/caller.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "lib/core/sysexits.hpp"
#include "msp/sendmail/message.hpp"

namespace tegami::msp {

Caller identify_caller() {
    Caller c;
    c.uid = getuid();
    c.gid = getgid();
    c.egid = getegid();
    passwd pw{};
    passwd* res = nullptr;
    char buf[4096];
    if (getpwuid_r(c.uid, &pw, buf, sizeof buf, &res) == 0 && res) {
        c.login = pw.pw_name;
        c.gecos_name = gecos_full_name(pw.pw_gecos ? pw.pw_gecos : "", c.login);
        c.has_passwd_entry = true;
    } else {
        c.login = "uid" + std::to_string(c.uid);
    }
    return c;
}

void drop_msp_group(Caller& c) {
    if (setresgid(c.gid, c.gid, c.gid) != 0) {
        std::perror("sendmail: setresgid");
        std::exit(EX_OSERR);
    }
    gid_t r, e, s;
    if (getresgid(&r, &e, &s) != 0 || r != c.gid || e != c.gid || s != c.gid) {
        std::fprintf(stderr, "sendmail: could not give up the MSP group\n");
        std::exit(EX_OSERR);
    }
    c.egid = c.gid;
}

bool trusted_user(const Caller& c, const Config& cfg) {
    if (c.uid == 0) return true;
    return c.has_passwd_entry && (c.login == "daemon" || c.login == "uucp" || c.login == cfg.user);
}

}  // namespace tegami::msp
