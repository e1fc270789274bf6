// auth_session.hpp - one SMTP session's side of AUTH (RFC 4954): what is offered, the
// AUTH command and its continuation lines relayed to tegami-auth through the shared
// AuthClient, and the answers turned into 334/235/535/... replies on the Session. Owned
// by the Connection, which is the AuthWaiter and hands each answer to on_reply().
//
// Trusts nothing from the client; relays decoded SASL bytes and never logs them.
// Invariants: AUTH is offered only when smtpd_auth_enable is set, and then only under
// TLS or, with smtpd_auth_allow_plaintext_loopback, to a loopback client (538 5.7.11
// otherwise); at most one exchange is in flight; "*" and a dying session cancel it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/server/auth_client.hpp"
#include "smtpd/server/session.hpp"

namespace tegami::smtpd {

class AuthSession {
  public:
    AuthSession(AuthClient& client, AuthWaiter& waiter) : client_(client), waiter_(waiter) {}
    ~AuthSession();
    AuthSession(const AuthSession&) = delete;
    AuthSession& operator=(const AuthSession&) = delete;

    std::vector<std::string> mechanisms(const SessionState& st) const;
    std::optional<Reply> auth(SessionState& st, std::string_view arg);
    std::optional<Reply> line(SessionState& st, std::string_view line);
    void on_reply(Session& session, const ipc::AuthReplyMsg& r);

  private:
    AuthClient& client_;
    AuthWaiter& waiter_;
    uint64_t id_ = 0;
    std::string mechanism_;
};

}  // namespace tegami::smtpd
