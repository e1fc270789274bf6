// base64.hpp - strict base64 (RFC 4648 section 4, with padding), as SASL (RFC 4422,
// RFC 4954) carries it. Pure functions, used by smtpd (AUTH lines), tegami-auth (SCRAM
// attributes) and tegami-passwd (stored salts and keys). The decoder refuses white
// space, missing or misplaced padding, non-zero pad bits and any byte outside the
// alphabet: a client's malformed line is answered 501 5.5.2, never guessed at.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tegami::sasl {

std::string base64_encode(std::string_view bytes);
// nullopt on any malformed input; "" decodes to "".
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tegami::sasl
