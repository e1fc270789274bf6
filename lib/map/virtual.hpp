// virtual.hpp - sendmail's virtusertable semantics over a lib/map MapRef: the one lookup
// smtpd (RCPT) and local (delivery) share for recipients of virtual_domains.
//
// For user+detail@domain the keys tried are user+detail@domain, user+*@domain,
// user@domain and @domain; the first found wins. In the value %1 becomes the user, %2
// the detail and %3 "+detail" (empty without a detail). "error:CODE TEXT" values are
// refusals (lib/mail/error_target.hpp; default 5.1.1). Pure apart from the map lookups
// and a log warning for a malformed error: value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/conf/config.hpp"
#include "lib/core/result.hpp"
#include "lib/map/map.hpp"

namespace tegami {

struct VirtualTarget {
    enum class Kind { none, address, error } kind = Kind::none;
    std::string target;   // address: the value with %1/%2/%3 replaced
    uint32_t status = 5;  // error: 4 or 5
    std::string dsn;      // error: "5.1.1", ...
    std::string text;     // error: the words after the code
};

bool is_virtual_domain(const Config& c, std::string_view domain);

// local: the unquoted local part; domain lower-cased.
Result<VirtualTarget> virtual_lookup(map::MapRef& map, std::string_view local,
                                     std::string_view domain, std::string_view delimiter);

// %1/%2/%3 replacement (pure).
std::string virtual_substitute(std::string_view value, std::string_view user,
                               std::string_view detail);

}  // namespace tegami
