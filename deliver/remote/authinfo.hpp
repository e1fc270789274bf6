// authinfo.hpp - sendmail's authinfo map values (cf/README "AuthInfo"): the key is
// "AuthInfo:host" (or "AuthInfo:" for every host), the value a list of quoted items
// "U:user" "I:authid" "P:password" (or "P=base64") "M:PLAIN LOGIN" "R:realm". Called by
// the remote agent (deliver/remote/server.cpp) with the value read through lib/map. Pure;
// the value is untrusted file content: an unknown item or bad quoting is an error naming
// the item, never a guess.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tegami::remote {

struct AuthInfo {
    std::string user;                     // U: (authorization id), else I:
    std::string authid;                   // I: (authentication id), else U:
    std::string password;                 // P: in clear, or P= decoded from base64
    std::vector<std::string> mechanisms;  // M:, upper case; empty: PLAIN, LOGIN
};

// False with why set on a malformed value.
bool parse_authinfo(std::string_view value, AuthInfo& out, std::string& why);

}  // namespace tegami::remote
