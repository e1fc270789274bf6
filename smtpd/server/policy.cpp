// policy.cpp - see policy.hpp.
#include "smtpd/server/policy.hpp"

#include "lib/core/log.hpp"
#include "lib/map/recipients.hpp"
#include "lib/map/virtual.hpp"

namespace tegami::smtpd {

PolicyChain::PolicyChain() = default;

std::optional<Reply> relay_refusal(const SessionState& st, const CommandArgs& args, bool relay_ok) {
    const auto* rc = std::get_if<RcptCommand>(&args);
    // A local submitter (the sendmail command, uid from SO_PEERCRED) may send to any
    // domain, as sendmail's MSP relays through the local MTA.
    if (!rc || relay_ok || st.may_relay || st.client.local) return std::nullopt;
    const Mailbox& mb = rc->rcpt;
    if (mb.domain.empty() || is_local_domain(*st.config, mb.domain) ||
        is_virtual_domain(*st.config, mb.domain))
        return std::nullopt;
    return make_reply(550, "5.7.1", "<" + mb.str() + ">: Relaying denied");
}

PolicyVerdict PolicyChain::run(const SessionState& st, const VerbSpec& verb,
                               const CommandArgs& args) {
    PolicyVerdict out;
    for (auto& c : checks_) {
        PolicyVerdict v = c->check(verb.stage, st, args);
        if (v.step != PolicyStep::proceed) {
            if (v.step == PolicyStep::reject)
                log_info("%s: %s from %s[%s]: %d %s", c->name(), verb.name, st.client.name.c_str(),
                         st.client.addr.c_str(), v.reply.code, v.reply.text.c_str());
            return v;
        }
        out.relay = out.relay || v.relay;
        if (v.quota) out.quota = std::move(v.quota);
        for (auto& h : v.headers)
            out.headers.push_back(std::move(h));
    }
    if (verb.stage == PolicyStage::rcpt) {
        if (auto r = relay_refusal(st, args, out.relay)) {
            log_info("reject: RCPT from %s[%s]: %d %s", st.client.name.c_str(),
                     st.client.addr.c_str(), r->code, r->text.c_str());
            return PolicyVerdict(PolicyStep::reject, std::move(*r));
        }
    }
    return out;
}

}  // namespace tegami::smtpd
