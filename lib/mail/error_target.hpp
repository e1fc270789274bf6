// error_target.hpp - the one parser of sendmail's "error:" targets, the refusal an alias
// (deliver/local/expand.cpp) or a virtusertable value (lib/map/virtual.cpp) names
// instead of an address: "error:D.S.N:NNN text", "error:NNN text", "error:D.S.N text"
// or "error:text"; in place of the enhanced code also a sysexits name as sendmail's error
// mailer takes it ("error:nouser 550 No such user here": nouser 5.1.1, nohost 5.1.2,
// tempfail 4.0.0, software 5.3.0, protocol 5.5.0, config 5.3.5, usage 5.5.4, unavailable
// the caller's default). Pure; trusts nothing in the text (it comes from admins' files).
//
// The result is always a refusal: status 4 when the reply code (else the enhanced
// code) is of class 4, else 5 (a class 2 or 3 code refuses permanently: an error:
// target never delivers). dsn is the enhanced code when it is given and of that class,
// else "4.0.0" or the caller's permanent default. problem names what an admin got wrong
// ("" when nothing), for a warning in the log: the reply carries the refusal either way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tegami {

struct ErrorTarget {
    uint32_t status = 5;  // 4 or 5
    std::string dsn;      // "5.1.1", "4.2.2", ...; always of class status
    std::string text;     // the words after the codes, else the caller's default
    uint32_t code = 0;    // the reply code as written (0: none), 250 included
    std::string problem;  // "" or why the target is not well formed
};

// spec: the target after "error:". default_text: the text when none is given;
// default_perm_dsn: the enhanced code of a permanent refusal that has none of its own.
ErrorTarget parse_error_target(std::string_view spec, std::string_view default_text,
                               std::string_view default_perm_dsn = "5.0.0");

}  // namespace tegami
