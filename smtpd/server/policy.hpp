// policy.hpp - the policy stages of an SMTP session: connect, HELO, MAIL, RCPT, DATA
// and end of data (PolicyStage), run between each verb's pure check and its proceed
// step. A stage is a list of PolicyChecks, run in order; the first reject or suspend
// decides; any check may mark a recipient relayable or add end-of-data headers. The
// built-in last RCPT check is relay control: a recipient outside local_domains is
// refused 550 5.7.1 unless an earlier check said relay or the session may relay
// (st.may_relay: trusted network or AUTH, set by those checks).
//
// Called by Server::policy for every session. Trusts the session state and the parsed
// arguments only. Checks that need slow work (DNS, the auth process, milters) return
// suspend, keep st.id, and later call Server::policy_done(id, verdict) with the stage's
// final verdict (a session that closed meanwhile is simply gone).
#pragma once

#include <memory>
#include <vector>

#include "smtpd/server/session_state.hpp"
#include "smtpd/server/verbs.hpp"

namespace tegami::smtpd {

class PolicyCheck {
  public:
    virtual ~PolicyCheck() = default;
    virtual const char* name() const = 0;  // for logs: "relay", "access"
    virtual PolicyVerdict check(PolicyStage stage, const SessionState& st,
                                const CommandArgs& args) = 0;
};

class PolicyChain {
  public:
    PolicyChain();
    // Adds a check before the built-in relay control (auth, access map, limits ...).
    void add(std::unique_ptr<PolicyCheck> c) { checks_.push_back(std::move(c)); }
    PolicyVerdict run(const SessionState& st, const VerbSpec& verb, const CommandArgs& args);

  private:
    std::vector<std::unique_ptr<PolicyCheck>> checks_;
};

// The relay decision on its own (pure): the reply refusing `args`' recipient, or
// nothing when it is local, relay_ok, or the session may relay.
std::optional<Reply> relay_refusal(const SessionState& st, const CommandArgs& args, bool relay_ok);

}  // namespace tegami::smtpd
