// limits_policy.cpp - see limits_policy.hpp.
#include "smtpd/server/limits_policy.hpp"

#include "lib/core/log.hpp"
#include "smtpd/server/server.hpp"

namespace tegami::smtpd {

namespace {

Reply unavailable() {
    return make_reply(451, "4.3.0", "Sending limits unavailable, try again later");
}

// Refused by tegami-auth: the text says which limit, from the counts it sent; a limit
// that only the holds of other transactions reach still reads as reached, since those
// count once accepted.
Reply refusal_of(const SendQuota& q, uint64_t pending, bool at_rcpt) {
    if (at_rcpt)
        if (auto r = rcpt_limit_refusal(q, pending)) return *r;
    if (auto r = mail_limit_refusal(q)) return *r;
    return make_reply(451, "4.7.1", "Sending limit reached for " + q.identity);
}

// One ask for a hold: MAIL's (one message; the hold is made when it is granted) or a
// counted RCPT's (the message and the transaction's counted recipients with this one).
struct HoldAsk {
    std::string identity, client;
    uint64_t holder = 0;
    uint64_t pending = 0;             // RCPT: the counted recipients before this one
    std::shared_ptr<LimitHold> hold;  // RCPT: the transaction's; MAIL: none yet
    bool rcpt = false;
};

PolicyVerdict on_reply(Server& server, const ipc::LimitReplyMsg& r, const HoldAsk& a) {
    const char* verb = a.rcpt ? "RCPT" : "MAIL";
    if (r.status == ipc::kStatusTemp) {
        log_warning("sender limits: cannot read the counts of %s (client %s): deferring %s",
                    a.identity.c_str(), a.client.c_str(), verb);
        return PolicyVerdict(PolicyStep::reject, unavailable());
    }
    auto q = std::make_shared<SendQuota>();
    q->identity = a.identity;
    q->hour = r.hour;
    q->day = r.day;
    if (r.status != ipc::kStatusOk) {
        Reply refusal = refusal_of(*q, a.pending, a.rcpt);
        log_warning("sender limits: %s from %s refused for %s: %s", verb, a.client.c_str(),
                    a.identity.c_str(), refusal.text.c_str());
        return PolicyVerdict(PolicyStep::reject, std::move(refusal));
    }
    q->hold = a.hold ? a.hold
                     : std::make_shared<LimitHold>(a.holder,
                                                   server.auth().releaser(a.identity, a.holder));
    PolicyVerdict v;
    v.quota = std::move(q);
    return v;
}

// Sends the ask; the session waits for the answer (PolicyStep::suspend).
PolicyVerdict ask(Server& server, uint64_t session, HoldAsk a) {
    ipc::LimitReserveMsg req;
    req.identity = a.identity;
    req.holder = a.holder;
    req.messages = 1;
    req.recipients = a.rcpt ? a.pending + 1 : 0;
    server.auth().limit_reserve(std::move(req),
                                [&server, session, a = std::move(a)](const ipc::LimitReplyMsg& r) {
                                    (void)server.policy_done(session, on_reply(server, r, a));
                                });
    return PolicyVerdict(PolicyStep::suspend);
}

}  // namespace

PolicyVerdict LimitsPolicy::check(PolicyStage stage, const SessionState& st,
                                  const CommandArgs& args) {
    const Config& cfg = *st.config;
    if (!limits_configured(cfg)) return {};
    HoldAsk a;
    a.client = st.client.local ? "local" : st.client.addr;
    if (stage == PolicyStage::mail) {
        const auto* m = std::get_if<MailCommand>(&args);
        if (!m || m->sender.null()) return {};  // bounces are not counted
        a.identity = limit_identity(st.auth_login, st.client);
        if (a.identity.empty()) return {};
        a.holder = server_.auth().new_holder();
        return ask(server_, st.id, std::move(a));
    }
    if (stage == PolicyStage::rcpt && st.tx && st.tx->quota) {
        const auto* rc = std::get_if<RcptCommand>(&args);
        if (!rc || !counted_domain(cfg, rc->rcpt.domain)) return {};
        const SendQuota& q = *st.tx->quota;
        if (!has_recipient_limit(q)) return {};
        uint64_t pending = counted_recipients(cfg, st.tx->recipients);
        if (!q.hold) {  // nothing held (not reached from MAIL's answer): the counts alone
            if (auto refusal = rcpt_limit_refusal(q, pending))
                return PolicyVerdict(PolicyStep::reject, std::move(*refusal));
            return {};
        }
        a.identity = q.identity;
        a.holder = q.hold->holder();
        a.pending = pending;
        a.hold = q.hold;
        a.rcpt = true;
        return ask(server_, st.id, std::move(a));
    }
    return {};
}

}  // namespace tegami::smtpd
