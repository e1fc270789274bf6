// auth_session.cpp - see auth_session.hpp.
#include "smtpd/server/auth_session.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "lib/core/log.hpp"
#include "smtpd/server/sasl.hpp"

namespace tegami::smtpd {

namespace {

// Always on the submission listeners (msa, smtps: RFC 6409 wants AUTH there); on the MTA
// listener only when smtpd_auth_enable says so; never on the MSP's local socket.
bool enabled(const SessionState& st) {
    if (st.role == Role::local) return false;
    return st.role != Role::mta || st.config->smtpd_auth_enable;
}

bool allowed(const SessionState& st) {
    return auth_allowed(st.tls, st.config->smtpd_auth_allow_plaintext_loopback, st.client.addr);
}

}  // namespace

AuthSession::~AuthSession() {
    if (id_) client_.cancel(id_);
}

std::vector<std::string> AuthSession::mechanisms(const SessionState& st) const {
    if (!enabled(st) || !allowed(st)) return {};
    // SCRAM-SHA-256-PLUS only with tls-exporter bytes (a TLS 1.3 session).
    return auth_mechanism_names(st.config->auth_mechanisms, st.config->auth_backend == "dovecot",
                                st.tls && !st.channel_binding.empty());
}

std::optional<Reply> AuthSession::auth(SessionState& st, std::string_view arg) {
    if (!enabled(st)) return make_reply(503, "5.5.1", "Error: authentication not enabled");
    if (!allowed(st))
        return make_reply(538, "5.7.11",
                          "Encryption required for requested authentication "
                          "mechanism");
    auto cmd = parse_auth(arg);
    if (!cmd) return cmd.error();
    auto offered = mechanisms(st);
    if (std::find(offered.begin(), offered.end(), cmd->mechanism) == offered.end()) {
        OPENSSL_cleanse(cmd->initial.data(), cmd->initial.size());
        return make_reply(504, "5.5.4", "Unrecognized authentication type");
    }
    ipc::AuthStartMsg m;
    m.mechanism = cmd->mechanism;
    m.has_initial = cmd->has_initial ? 1 : 0;
    m.initial = std::move(cmd->initial);
    m.client_addr = st.client.addr;
    m.local_addr = st.client.local_addr;
    m.local_port = st.client.local_port;
    if (st.tls) {
        m.flags |= ipc::kAuthTls;
        m.channel_binding = st.channel_binding;  // RFC 9266: auth checks SCRAM's c=
    }
    mechanism_ = cmd->mechanism;
    if (id_) client_.cancel(id_);
    id_ = client_.start(std::move(m), &waiter_);
    st.phase = Phase::waiting;
    return std::nullopt;
}

std::optional<Reply> AuthSession::line(SessionState& st, std::string_view text) {
    auto l = parse_sasl_line(text);
    if (!l || l->cancel) {
        if (id_) client_.cancel(id_);
        id_ = 0;
        st.phase = Phase::command;
        if (!l) return l.error();
        return make_reply(501, "5.7.0", "Authentication cancelled");
    }
    if (!id_) {
        st.phase = Phase::command;
        return make_reply(501, "5.5.4", "Error: no SASL exchange in progress");
    }
    client_.step(id_, std::move(l->data), &waiter_);
    st.phase = Phase::waiting;
    return std::nullopt;
}

void AuthSession::on_reply(Session& session, const ipc::AuthReplyMsg& r) {
    if (r.request_id != id_) return;
    if (r.status == ipc::kAuthContinue) {
        session.auth_challenge(r.challenge);
        return;
    }
    id_ = 0;
    const ClientInfo& ci = session.state().client;
    if (r.status == ipc::kAuthOk)
        log_info("client=%s[%s], sasl_method=%s, sasl_username=%s", ci.name.c_str(),
                 ci.addr.c_str(), mechanism_.c_str(), r.login.c_str());
    else
        log_warning("client=%s[%s], sasl_method=%s: authentication failed (%s)", ci.name.c_str(),
                    ci.addr.c_str(), mechanism_.c_str(), r.text.c_str());
    session.auth_done(auth_final_reply(r.status, r.text), r.login);
}

}  // namespace tegami::smtpd
