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

std::shared_ptr<SendQuota> quota_of(const ipc::LimitReplyMsg& r, const std::string& identity) {
    auto q = std::make_shared<SendQuota>();
    q->identity = identity;
    q->hour = r.hour;
    q->day = r.day;
    return q;
}

// MAIL: the answer to the hold of one message.
PolicyVerdict on_mail_reply(Server& server, const ipc::LimitReplyMsg& r,
                            const std::string& identity, uint64_t holder,
                            const std::string& client) {
    if (r.status == ipc::kStatusTemp) {
        log_warning("sender limits: cannot read the counts of %s (client %s): deferring MAIL",
                    identity.c_str(), client.c_str());
        return PolicyVerdict(PolicyStep::reject, unavailable());
    }
    auto q = quota_of(r, identity);
    if (r.status != ipc::kStatusOk) {
        Reply refusal = refusal_of(*q, 0, false);
        log_warning("sender limits: MAIL from %s refused for %s: %s", client.c_str(),
                    identity.c_str(), refusal.text.c_str());
        return PolicyVerdict(PolicyStep::reject, std::move(refusal));
    }
    q->hold = std::make_shared<LimitHold>(holder, server.auth().releaser(identity, holder));
    PolicyVerdict v;
    v.quota = std::move(q);
    return v;
}

// RCPT: the answer to the hold of the transaction's counted recipients with this one.
PolicyVerdict on_rcpt_reply(const ipc::LimitReplyMsg& r, const std::shared_ptr<LimitHold>& hold,
                            const std::string& identity, uint64_t pending,
                            const std::string& client) {
    if (r.status == ipc::kStatusTemp) {
        log_warning("sender limits: cannot read the counts of %s (client %s): deferring RCPT",
                    identity.c_str(), client.c_str());
        return PolicyVerdict(PolicyStep::reject, unavailable());
    }
    auto q = quota_of(r, identity);
    q->hold = hold;
    if (r.status != ipc::kStatusOk) {
        Reply refusal = refusal_of(*q, pending, true);
        log_warning("sender limits: RCPT from %s refused for %s: %s", client.c_str(),
                    identity.c_str(), refusal.text.c_str());
        return PolicyVerdict(PolicyStep::reject, std::move(refusal));
    }
    PolicyVerdict v;
    v.quota = std::move(q);
    return v;
}

}  // namespace

PolicyVerdict LimitsPolicy::check(PolicyStage stage, const SessionState& st,
                                  const CommandArgs& args) {
    const Config& cfg = *st.config;
    if (!limits_configured(cfg)) return {};
    std::string client = st.client.local ? "local" : st.client.addr;
    uint64_t id = st.id;
    Server& server = server_;
    if (stage == PolicyStage::mail) {
        const auto* m = std::get_if<MailCommand>(&args);
        if (!m || m->sender.null()) return {};  // bounces are not counted
        std::string identity = limit_identity(st.auth_login, st.client);
        if (identity.empty()) return {};
        ipc::LimitReserveMsg req;
        req.identity = identity;
        req.holder = server.auth().new_holder();
        req.messages = 1;
        uint64_t holder = req.holder;
        server.auth().limit_reserve(
            std::move(req), [&server, id, identity, holder, client](const ipc::LimitReplyMsg& r) {
                (void)server.policy_done(id, on_mail_reply(server, r, identity, holder, client));
            });
        return PolicyVerdict(PolicyStep::suspend);
    }
    if (stage == PolicyStage::rcpt && st.tx && st.tx->quota) {
        const auto* rc = std::get_if<RcptCommand>(&args);
        if (!rc || !counted_domain(cfg, rc->rcpt.domain)) return {};
        const SendQuota& q = *st.tx->quota;
        uint64_t pending = counted_recipients(cfg, st.tx->recipients);
        if (!has_recipient_limit(q)) return {};
        if (!q.hold) {  // nothing held (not reached from MAIL's answer): the counts alone
            if (auto refusal = rcpt_limit_refusal(q, pending))
                return PolicyVerdict(PolicyStep::reject, std::move(*refusal));
            return {};
        }
        ipc::LimitReserveMsg req;
        req.identity = q.identity;
        req.holder = q.hold->holder();
        req.messages = 1;
        req.recipients = pending + 1;
        std::shared_ptr<LimitHold> hold = q.hold;
        std::string identity = q.identity;
        server.auth().limit_reserve(std::move(req), [&server, id, hold, identity, pending,
                                                     client](const ipc::LimitReplyMsg& r) {
            (void)server.policy_done(id, on_rcpt_reply(r, hold, identity, pending, client));
        });
        return PolicyVerdict(PolicyStep::suspend);
    }
    return {};
}

}  // namespace tegami::smtpd
