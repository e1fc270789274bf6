// limits_policy.cpp - see limits_policy.hpp.
#include "smtpd/server/limits_policy.hpp"

#include "lib/core/log.hpp"
#include "smtpd/server/server.hpp"

namespace tegami::smtpd {

namespace {

PolicyVerdict on_reply(const ipc::LimitReplyMsg& r, const std::string& identity,
                       const std::string& client) {
    if (r.status != ipc::kStatusOk) {
        log_warning("sender limits: cannot read the counts of %s (client %s): deferring MAIL",
                    identity.c_str(), client.c_str());
        return PolicyVerdict(
            PolicyStep::reject,
            make_reply(451, "4.3.0", "Sending limits unavailable, try again later"));
    }
    auto q = std::make_shared<SendQuota>();
    q->identity = identity;
    q->hour = r.hour;
    q->day = r.day;
    if (auto refusal = mail_limit_refusal(*q)) {
        log_warning("sender limits: MAIL from %s refused for %s: %s", client.c_str(),
                    identity.c_str(), refusal->text.c_str());
        return PolicyVerdict(PolicyStep::reject, std::move(*refusal));
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
    if (stage == PolicyStage::mail) {
        const auto* m = std::get_if<MailCommand>(&args);
        if (!m || m->sender.null()) return {};  // bounces are not counted
        std::string identity = limit_identity(st.auth_login, st.client);
        if (identity.empty()) return {};
        std::string client = st.client.local ? "local" : st.client.addr;
        uint64_t id = st.id;
        Server& server = server_;
        server.auth().limit_check(identity,
                                  [&server, id, identity, client](const ipc::LimitReplyMsg& r) {
                                      (void)server.policy_done(id, on_reply(r, identity, client));
                                  });
        return PolicyVerdict(PolicyStep::suspend);
    }
    if (stage == PolicyStage::rcpt && st.tx && st.tx->quota) {
        const auto* rc = std::get_if<RcptCommand>(&args);
        if (!rc || !counted_domain(cfg, rc->rcpt.domain)) return {};
        uint64_t pending = counted_recipients(cfg, st.tx->recipients);
        if (auto refusal = rcpt_limit_refusal(*st.tx->quota, pending)) {
            log_warning("sender limits: RCPT from %s refused for %s: %s",
                        st.client.local ? "local" : st.client.addr.c_str(),
                        st.tx->quota->identity.c_str(), refusal->text.c_str());
            return PolicyVerdict(PolicyStep::reject, std::move(*refusal));
        }
    }
    return {};
}

}  // namespace tegami::smtpd
