// address_fuzz.cpp - fuzz target for the SMTP path parser parse_path
// (lib/mail/address.hpp) and the domain, address-literal and UTF-8 checks it uses. The
// first input byte chooses the path kind (reverse or forward); the rest is the text
// after "MAIL FROM:" or "RCPT TO:".
//
// Invariants checked beyond "no crash": an accepted path starts with '<', its consumed
// count ends on the '>' and lies inside the input; local part, domain and path respect
// the RFC 5321 length limits; a domain is lower-case (or an address literal as written)
// and valid; octets of 0x80 and above set the utf8 flag and are well-formed UTF-8; the
// path re-serialised as "<local@domain>" re-parses to the same mailbox; only a reverse
// path may be null, and <Postmaster> alone only as a forward path.
//
// fuzz_address is also run over the saved corpus by tests/unit/fuzz/corpus_test.cpp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/mail/address.hpp"

using namespace tegami;

namespace {

// A broken invariant aborts, so that libFuzzer (or the corpus test) reports the input.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "address fuzz: invariant broken: %s\n", what);
    std::abort();
}

void check_mailbox(const Mailbox& mb, std::string_view path, PathKind kind) {
    require(mb.local.size() <= kMaxLocalPart, "local part too long");
    require(mb.domain.size() <= kMaxDomain, "domain too long");
    require(mb.null() || mb.local.size() + mb.domain.size() + 3 <= kMaxPath, "path too long");
    require(path.find(mb.local) != std::string_view::npos, "local part not as written");
    if (mb.null()) {
        require(kind == PathKind::reverse, "null forward path accepted");
        return;
    }
    require(!mb.local.empty(), "empty local part");
    if (mb.domain.empty()) {
        require(kind == PathKind::forward && iequals(mb.local, "postmaster"),
                "mailbox without a domain accepted");
    } else if (mb.domain.front() == '[') {
        require(valid_address_literal(mb.domain), "invalid address literal accepted");
    } else {
        require(valid_domain(mb.domain, true), "invalid domain accepted");
        require(lower_ascii(mb.domain) == mb.domain, "domain not lower-cased");
    }
    bool non_ascii = has_non_ascii(mb.local) || has_non_ascii(mb.domain);
    require(!non_ascii || mb.utf8, "non-ASCII mailbox without the utf8 flag");
    require(!mb.utf8 || has_non_ascii(path), "utf8 flag on an ASCII path");
    require(!mb.utf8 || (valid_utf8(mb.local) && valid_utf8(mb.domain)), "malformed UTF-8");
    require(unquote_local(mb.local).size() <= mb.local.size(), "unquoting grew the local part");
}

}  // namespace

int fuzz_address(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const PathKind kind = (data[0] & 1) != 0 ? PathKind::forward : PathKind::reverse;
    std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);

    // The helpers trust nothing either; they must agree with each other.
    bool domain_utf8 = valid_domain(s, true);
    require(!valid_domain(s, false) || domain_utf8, "ASCII domain refused with UTF-8 allowed");
    require(!domain_utf8 || valid_utf8(s), "domain of malformed UTF-8 accepted");
    require(has_non_ascii(s) || valid_utf8(s), "ASCII text is not valid UTF-8");
    (void)valid_address_literal(s);
    require(lower_ascii(s).size() == s.size(), "lower_ascii changed the length");
    require(iequals(s, lower_ascii(s)), "text differs from its lower case");

    size_t consumed = 0;
    auto r = parse_path(s, kind, consumed);
    if (!r) {
        int code = r.error().code;
        require(code == 501, "path refused without 501");
        return 0;
    }
    require(consumed >= 2 && consumed <= s.size(), "consumed outside the input");
    require(s.front() == '<' && s[consumed - 1] == '>', "consumed is not a <path>");
    std::string_view path = s.substr(0, consumed);
    check_mailbox(r.value(), path, kind);

    std::string again = "<" + r->str() + ">";
    size_t consumed2 = 0;
    auto r2 = parse_path(again, kind, consumed2);
    require(r2.ok(), "re-serialised path refused");
    require(consumed2 == again.size(), "re-serialised path not consumed whole");
    require(r2->local == r->local && r2->domain == r->domain, "re-serialised path differs");
    // Without a source route the flag comes from the mailbox alone.
    require(r2->utf8 == (has_non_ascii(r2->local) || has_non_ascii(r2->domain)),
            "utf8 flag does not follow the mailbox");
    if (s.size() > 1 && s[1] != '@') require(r2->utf8 == r->utf8, "utf8 flag changed");
    return 0;
}

#ifdef TEGAMI_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz_address(data, size);
}
#endif
