// limits_policy.hpp - the per-user sending limits as a policy check (issue 13 item 5):
//  - MAIL (not for the null sender): for an authenticated login, or a local submitter's
//    uid, asks tegami-auth to hold one message against that identity's limits (the
//    stage suspends for that round trip) and refuses 451 4.7.1 when it does not fit,
//    counting what other transactions of the identity hold; else the answer
//    (SendQuota, with its LimitHold) goes with the transaction;
//  - RCPT of a recipient outside local_domains/virtual_domains, when a recipient limit
//    applies: holds the transaction's counted recipients with this one (another round
//    trip) and refuses 451 4.7.1 when they would pass the limit;
//  - the count itself is sent after the queue's durable 250 (Session::submit_done ->
//    LimitHold::commit, which releases the hold in the same message); a transaction
//    that ends otherwise gives its hold back when its SendQuota goes.
// tegami-auth unreachable: 451 4.3.0 (a limit we cannot read is not lifted).
// Every refusal is logged with the identity.
//
// Added to Server's PolicyChain as the last check: a suspended stage's later verdict is
// final, so no check after this one would run at MAIL. Trusts the session state.
#pragma once

#include "smtpd/server/policy.hpp"

namespace tegami::smtpd {

class Server;

class LimitsPolicy final : public PolicyCheck {
  public:
    explicit LimitsPolicy(Server& server) : server_(server) {}
    const char* name() const override { return "limits"; }
    PolicyVerdict check(PolicyStage stage, const SessionState& st,
                        const CommandArgs& args) override;

  private:
    Server& server_;
};

}  // namespace tegami::smtpd
