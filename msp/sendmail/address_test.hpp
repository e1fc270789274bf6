// address_test.hpp - sendmail -bt, address test mode, for the scripts and admins that
// probe an MTA with it. Tegami has no rewriting rules, so the mode answers the questions
// those probes ask from the configuration Tegami routes by (local_domains,
// virtual_domains + virtual_map, mailertable, smarthost):
//   "3,0 addr", "0 addr", "canonify,parse addr"  ruleset chains: 3/canonify focuses the
//        address (user < @ domain . >), 0/parse resolves it to $# mailer $@ host $: user,
//        4/final strips the focus, 1 and 2 (sender/recipient) leave it as it is; any
//        other ruleset is "Undefined ruleset N", as sendmail says for one it lacks;
//   "/parse addr"        canonify + parse, then "mailer M, host H, user U" (as -bv);
//   "/try mailer addr"   the address as that mailer would get it ("Rcode = 0, addr = ...");
//   "/tryflags HESR"     header/envelope, sender/recipient for /try;
//   "/map name key"      one lookup in a configured map (mailertable, virtuser, access);
//   "$j" "$w" "$m" "$=w" the host name macros and class w (local_domains);
//   "/quit", "#..." and empty lines; everything else (=S, =M, .D, .C, -d, /mx) is refused
//   with a sentence saying so, and the session goes on.
// Output follows sendmail 8.17's shape (banner, "> " prompt, the input line echoed when
// standard input is not a terminal). Pure: the maps arrive as a lookup function.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"

namespace tegami::msp {

struct AddressTestContext {
    std::string hostname;                      // $j
    std::vector<std::string> local_domains;    // class w
    std::vector<std::string> virtual_domains;  // mapped by "virtuser"
    std::string smarthost;
    // name ("mailertable", "virtuser", "access") and key -> value, nullopt for no match;
    // an error when the map is not configured (Exit::unavailable: routing goes on without
    // it) or cannot be read (any other: the address resolves to a 4.3.5 error).
    std::function<Result<std::optional<std::string>>(std::string_view map, std::string_view key)>
        lookup;
};

constexpr std::string_view kAddressTestBanner =
    "ADDRESS TEST MODE (ruleset 3 NOT automatically invoked)\n"
    "Enter <ruleset> <address>\n";

class AddressTester {
  public:
    explicit AddressTester(AddressTestContext ctx) : ctx_(std::move(ctx)) {}
    // The output for one input line (without its newline). quit() turns true on /quit.
    std::string line(std::string_view in);
    bool quit() const { return quit_; }

  private:
    std::string ruleset_chain(std::string_view names, std::string_view addr);
    std::string parse_cmd(std::string_view addr);
    std::string try_cmd(std::string_view args);
    std::string map_cmd(std::string_view args);
    std::string macro(std::string_view in);
    AddressTestContext ctx_;
    bool quit_ = false;
    bool try_header_ = false, try_sender_ = false;
};

// sendmail's token form: words and specials separated by single spaces
// ("a@b.c" -> "a @ b . c"); quoted strings and comments stay whole.
std::string tokenize(std::string_view addr);

// The resolution of one address: mailer, host ("" for none) and user, as ruleset 0
// would give it with Tegami's routing order (local domain, virtual map, mailertable for
// the domain, its parents and ".", smarthost, the domain's MX hosts).
struct Resolved {
    std::string mailer, host, user;
    std::string error;  // mailer "error": the status text
};
Resolved resolve_address(std::string_view addr, const AddressTestContext& ctx, int depth = 0);

}  // namespace tegami::msp
