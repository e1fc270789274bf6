// relay_policy.hpp - the policy check that decides relaying and submission rules
// (issue 13 item 4), added to smtpd's PolicyChain before the built-in relay refusal:
//  - connect: the access map's Connect: entries (REJECT / ERROR refuse the session);
//  - MAIL: From: entries; for an authenticated session, the sender-login rule
//    (relay_rules.hpp, smtpd_sender_login_map) -> 553 5.7.1;
//  - RCPT: To: entries; relay is allowed for authenticated clients, for clients in
//    trusted_networks, and where Connect: or To: says RELAY; a client that may not relay
//    gets 550 5.7.1 for relay tricks even to a local domain.
// DISCARD is taken as OK (no silent discard yet). A map that cannot be read answers
// 451 4.3.0 (a REJECT must not turn into an accept), logged, never a crash. smtpd reads
// the map as smtpd_user: makemap writes 0640, so give the .db that account's group.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/map/map.hpp"
#include "lib/net/networks.hpp"
#include "smtpd/server/access.hpp"
#include "smtpd/server/policy.hpp"

namespace tegami::smtpd {

class RelayPolicy final : public PolicyCheck {
  public:
    const char* name() const override { return "relay"; }
    PolicyVerdict check(PolicyStage stage, const SessionState& st,
                        const CommandArgs& args) override;

  private:
    void refresh(const Config& c);
    std::optional<AccessAction> lookup(const std::vector<std::string>& keys);
    bool trusted(const SessionState& st);

    const Config* for_ = nullptr;  // the snapshot nets_ and the maps were made for
    std::vector<Network> nets_;
    std::unique_ptr<map::MapRef> access_;
    std::unique_ptr<map::MapRef> sender_logins_;
};

}  // namespace tegami::smtpd
