// relay_policy.cpp - see relay_policy.hpp.
#include "smtpd/server/relay_policy.hpp"

#include "lib/core/log.hpp"
#include "smtpd/server/relay_rules.hpp"
#include "smtpd/server/verbs.hpp"

namespace tegami::smtpd {

void RelayPolicy::refresh(const Config& c) {
    if (for_ == &c) return;
    for_ = &c;
    std::string bad;
    auto nets = parse_networks(c.trusted_networks, bad);  // checked when the file was read
    nets_ = nets ? std::move(*nets) : std::vector<Network>{};
    if (!access_ || access_->spec() != c.smtpd_access_map)
        access_ = std::make_unique<map::MapRef>(c.smtpd_access_map);
    if (!sender_logins_ || sender_logins_->spec() != c.smtpd_sender_login_map)
        sender_logins_ = std::make_unique<map::MapRef>(c.smtpd_sender_login_map);
}

std::optional<AccessAction> RelayPolicy::lookup(const std::vector<std::string>& keys) {
    if (!access_->configured()) return std::nullopt;
    for (const auto& k : keys) {
        auto v = access_->lookup(k);
        if (!v) {
            log_warning("access map %s: %s", access_->spec().c_str(), v.error().message.c_str());
            // A REJECT we cannot read must not become an accept: try again later.
            return AccessAction{
                AccessKind::error,
                make_reply(451, "4.3.0", "Access map unavailable, try again later")};
        }
        if (!v->has_value()) continue;
        auto a = parse_access_action(**v);
        if (!a) {
            log_warning("access map %s: key %s: unknown action (ignored)", access_->spec().c_str(),
                        k.c_str());
            continue;
        }
        if (a->kind == AccessKind::skip) return std::nullopt;
        return a;
    }
    return std::nullopt;
}

bool RelayPolicy::trusted(const SessionState& st) {
    return network_contains(nets_, st.client.addr);
}

namespace {

std::optional<Reply> refusal(const std::optional<AccessAction>& a, int code, const char* dsn,
                             const std::string& what) {
    if (!a) return std::nullopt;
    if (a->kind == AccessKind::reject) return make_reply(code, dsn, what + ": Access denied");
    if (a->kind == AccessKind::error) return a->reply;
    return std::nullopt;
}

}  // namespace

PolicyVerdict RelayPolicy::check(PolicyStage stage, const SessionState& st,
                                 const CommandArgs& args) {
    refresh(*st.config);
    switch (stage) {
        case PolicyStage::connect: {
            auto a = lookup(access_client_keys("Connect:", st.client.addr));
            if (auto r = refusal(a, 554, "5.7.1", st.client.addr))
                return PolicyVerdict(PolicyStep::reject, *r);
            return {};
        }
        case PolicyStage::mail: {
            const auto* m = std::get_if<MailCommand>(&args);
            if (!m) return {};
            std::string from = canonical_address(m->sender);
            if (!m->sender.null()) {
                auto a = lookup(access_address_keys("From:", from));
                if (auto r = refusal(a, 550, "5.7.1", "<" + from + ">"))
                    return PolicyVerdict(PolicyStep::reject, *r);
            }
            if (!st.auth_login.empty() && st.config->smtpd_sender_login_check) {
                std::string owners;
                if (sender_logins_->configured() && !m->sender.null()) {
                    for (const std::string& key : {lower_ascii(from), "@" + m->sender.domain}) {
                        auto v = sender_logins_->lookup(key);
                        if (v && v->has_value()) {
                            owners = **v;
                            break;
                        }
                    }
                }
                if (!sender_login_ok(st.auth_login, m->sender, st.config->local_domains, owners))
                    return PolicyVerdict(
                        PolicyStep::reject,
                        make_reply(553, "5.7.1",
                                   "<" + from +
                                       ">: Sender address rejected: not owned by the "
                                       "authenticated user"));
            }
            return {};
        }
        case PolicyStage::rcpt: {
            const auto* rc = std::get_if<RcptCommand>(&args);
            if (!rc) return {};
            const Mailbox& mb = rc->rcpt;
            std::string to = mb.domain.empty() ? mb.str() : canonical_address(mb);
            auto a = lookup(access_address_keys("To:", to));
            if (auto r = refusal(a, 550, "5.7.1", "<" + to + ">"))
                return PolicyVerdict(PolicyStep::reject, *r);
            bool relay = st.may_relay || !st.auth_login.empty() || trusted(st) ||
                         (a && a->kind == AccessKind::relay);
            if (!relay) {
                auto c = lookup(access_client_keys("Connect:", st.client.addr));
                relay = c && c->kind == AccessKind::relay;
            }
            PolicyVerdict v;
            v.relay = relay;
            if (!relay && (mb.domain.empty() || is_local_domain(*st.config, mb.domain)))
                if (auto trick = relay_trick(mb)) return PolicyVerdict(PolicyStep::reject, *trick);
            return v;
        }
        default:
            return {};
    }
}

}  // namespace tegami::smtpd
