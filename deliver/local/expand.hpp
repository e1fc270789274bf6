// expand.hpp - resolves one local recipient to the local users that receive a copy:
// recursive aliases(5) expansion with duplicate suppression, self-reference ("bob: bob,
// ...") delivering to the user, "\user" stopping further aliasing, user@<local domain>
// treated as user, a loop or more than kMaxAliasDepth levels failing with 5.4.6.
// |command, /file, :include: and non-local addresses are not delivered by this version:
// each fails permanently with 5.3.0. Called by the local server for every request;
// pure apart from reading the passwd database.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/map/aliases.hpp"

namespace tegami::local {

constexpr int kMaxAliasDepth = 10;

struct LocalUser {
    std::string name;  // the passwd name
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
};

// One target that cannot be delivered (always a permanent failure here).
struct TargetFailure {
    std::string target;
    std::string dsn;   // "5.1.1", "5.3.0", "5.4.6", ...
    std::string text;  // "user unknown: bob"
};

struct Expansion {
    std::vector<LocalUser> users;  // each passwd user at most once, uid never 0
    std::vector<TargetFailure> failures;
};

// local_part: the recipient's part before the last '@', unquoted. aliases may be null.
// config: its local domains decide which targets written user@domain are local.
Expansion expand_local(std::string_view local_part, const AliasFile* aliases, const Config& config);

}  // namespace tegami::local
