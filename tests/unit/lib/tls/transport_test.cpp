// transport_test.cpp - lib/tls against a real OpenSSL client over a nonblocking
// socketpair, in one thread (so every step must return instead of blocking): context
// loading errors first (missing file, mismatched key, unequal lists), then a handshake
// that reports need_read until the client speaks, data both ways, a close_notify, a
// plaintext client, TLS 1.1 refused, ticket key rotation, and a row of connections each
// offering the newest ticket (every one after the first resumes, TLS 1.3 and 1.2).
// Certificates come from the openssl command.
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

#include "lib/tls/context.hpp"
#include "lib/tls/transport.hpp"

using namespace tegami;
using namespace tegami::tls;

namespace {

std::string g_dir;

void make_certs() {
    char tmpl[] = "/tmp/tegami-tls-unit.XXXXXX";
    cr_assert(mkdtemp(tmpl));
    g_dir = tmpl;
    std::string cmd =
        "cd " + g_dir +
        " && openssl req -x509 -nodes -days 2 -subj /CN=localhost -newkey rsa:2048 -keyout "
        "rsa.key -out rsa.pem >/dev/null 2>&1 && openssl req -x509 -nodes -days 2 -subj "
        "/CN=localhost -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout ec.key -out "
        "ec.pem >/dev/null 2>&1";
    cr_assert_eq(std::system(cmd.c_str()), 0, "openssl req failed");
}

void remove_certs() {
    if (!g_dir.empty()) (void)std::system(("rm -rf " + g_dir).c_str());
}

Config tls_config(const std::vector<std::string>& certs, const std::vector<std::string>& keys) {
    Config c = default_config();
    for (auto& f : certs)
        c.tls_cert_file.push_back(g_dir + "/" + f);
    for (auto& f : keys)
        c.tls_key_file.push_back(g_dir + "/" + f);
    return c;
}

struct Pair {
    UniqueFd server_fd, client_fd;
    SslCtxPtr cctx;
    SslPtr client;
    explicit Pair(int min_version = 0, int max_version = 0, SSL_CTX* shared = nullptr) {
        int sv[2];
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        server_fd.reset(sv[0]);
        client_fd.reset(sv[1]);
        cctx.reset(shared ? (SSL_CTX_up_ref(shared), shared) : SSL_CTX_new(TLS_client_method()));
        if (min_version) SSL_CTX_set_min_proto_version(cctx.get(), min_version);
        if (max_version) SSL_CTX_set_max_proto_version(cctx.get(), max_version);
        SSL_CTX_set_security_level(cctx.get(), 0);
        client.reset(SSL_new(cctx.get()));
        SSL_set_fd(client.get(), client_fd.get());
        SSL_set_connect_state(client.get());
    }
};

// Steps client and server alternately; returns the server's states in order.
std::vector<IoState> handshake(Pair& p, TlsTransport& s) {
    std::vector<IoState> seen;
    for (int i = 0; i < 50; ++i) {
        SSL_do_handshake(p.client.get());
        ERR_clear_error();
        IoResult r = s.handshake();
        seen.push_back(r.state);
        if (r.state == IoState::done || r.state == IoState::error) break;
    }
    return seen;
}

}  // namespace

TestSuite(tls, .init = make_certs, .fini = remove_certs);

Test(tls, context_load_errors_name_the_file) {
    struct Case {
        std::vector<std::string> certs, keys;
        const char* expect;
    } cases[] = {
        {{}, {}, "no tls_cert_file"},
        {{"rsa.pem"}, {}, "as many files"},
        {{"missing.pem"}, {"rsa.key"}, "missing.pem: "},
        {{"rsa.pem"}, {"missing.key"}, "missing.key: "},
        {{"rsa.pem"}, {"ec.key"}, "ec.key: does not match"},
        {{"rsa.key"}, {"rsa.key"}, "rsa.key: "},
    };
    for (const auto& c : cases) {
        auto r = Context::load(tls_config(c.certs, c.keys));
        cr_assert_not(r.ok(), "accepted: %s", c.expect);
        cr_expect(r.error().message.find(c.expect) != std::string::npos, "want \"%s\" in \"%s\"",
                  c.expect, r.error().message.c_str());
    }
}

Test(tls, plaintext_client_fails_the_handshake_with_a_reason) {
    auto ctx = Context::load(tls_config({"rsa.pem"}, {"rsa.key"}));
    cr_assert(ctx.ok(), "%s", ctx.ok() ? "" : ctx.error().message.c_str());
    Pair p;
    auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
    cr_assert(s);
    const char junk[] = "EHLO client.example.org\r\n";
    cr_assert_eq(::send(p.client_fd.get(), junk, sizeof junk - 1, 0), (ssize_t)(sizeof junk - 1));
    IoResult r = s->handshake();
    cr_expect_eq(r.state, IoState::error);
    cr_expect_neq(s->reason(r), std::string(), "no reason for the log");
    cr_expect_eq(s->security(), std::string());
}

Test(tls, tls_1_1_is_refused) {
    auto ctx = Context::load(tls_config({"rsa.pem"}, {"rsa.key"}));
    cr_assert(ctx.ok());
    Pair p(TLS1_1_VERSION, TLS1_1_VERSION);
    auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
    auto seen = handshake(p, *s);
    cr_expect_eq(seen.back(), IoState::error);
}

Test(tls, nonblocking_handshake_data_and_close) {
    auto ctx = Context::load(tls_config({"rsa.pem", "ec.pem"}, {"rsa.key", "ec.key"}));
    cr_assert(ctx.ok(), "%s", ctx.ok() ? "" : ctx.error().message.c_str());
    Pair p;
    auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
    cr_assert(s);
    IoResult first = s->handshake();
    cr_expect_eq(first.state, IoState::need_read, "no ClientHello yet: wait, never block");
    auto seen = handshake(p, *s);
    cr_assert_eq(seen.back(), IoState::done);
    cr_expect(s->security().rfind("TLSv1.3 ", 0) == 0, "%s", s->security().c_str());
    // Until the client finishes, its side may still need a step.
    SSL_do_handshake(p.client.get());

    char buf[64];
    IoResult none = s->read(buf, sizeof buf);
    cr_expect_eq(none.state, IoState::need_read);
    IoResult w = s->write("220 hi\r\n", 8);
    cr_expect_eq(w.state, IoState::done);
    cr_expect_eq(w.bytes, 8u);
    size_t n = 0;
    int got = 0;
    for (int i = 0; i < 10 && !got; ++i)
        got = SSL_read_ex(p.client.get(), buf, sizeof buf, &n);
    cr_expect_eq(std::string(buf, n), "220 hi\r\n");
    SSL_write_ex(p.client.get(), "QUIT\r\n", 6, &n);
    IoResult r;
    for (int i = 0; i < 10; ++i) {
        r = s->read(buf, sizeof buf);
        if (r.state == IoState::done) break;
    }
    cr_expect_eq(r.state, IoState::done);
    cr_expect_eq(std::string(buf, r.bytes), "QUIT\r\n");
    SSL_shutdown(p.client.get());
    for (int i = 0; i < 10; ++i) {
        r = s->read(buf, sizeof buf);
        if (r.state != IoState::need_read) break;
    }
    cr_expect_eq(r.state, IoState::closed, "close_notify is a clean close");
}

Test(tls, ticket_keys_rotate_and_the_previous_one_still_resumes) {
    auto ctx = Context::load(tls_config({"rsa.pem"}, {"rsa.key"}));
    cr_assert(ctx.ok());
    SSL_SESSION* sess = nullptr;
    SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* cc = client_ctx.get();
    {
        Pair p(TLS1_2_VERSION, TLS1_2_VERSION, cc);
        auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
        cr_assert_eq(handshake(p, *s).back(), IoState::done);
        SSL_do_handshake(p.client.get());
        sess = SSL_get1_session(p.client.get());
        cr_assert(sess);
        cr_expect(SSL_is_init_finished(p.client.get()), "client finished");
        cr_expect(SSL_SESSION_has_ticket(sess), "client has a ticket");
        SSL_shutdown(p.client.get());  // an unclosed session is marked not resumable
    }
    {
        Pair p(TLS1_2_VERSION, TLS1_2_VERSION, cc);
        SSL_set_session(p.client.get(), sess);
        auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
        cr_assert_eq(handshake(p, *s).back(), IoState::done);
        SSL_do_handshake(p.client.get());
        cr_expect(SSL_session_reused(p.client.get()), "a ticket of the current key resumes");
        SSL_shutdown(p.client.get());
    }
    ctx.value()->rotate_ticket_keys();
    {
        Pair p(TLS1_2_VERSION, TLS1_2_VERSION, cc);
        SSL_set_session(p.client.get(), sess);
        auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
        cr_assert_eq(handshake(p, *s).back(), IoState::done);
        SSL_do_handshake(p.client.get());
        cr_expect(SSL_session_reused(p.client.get()), "a ticket of the previous key resumes");
        SSL_shutdown(p.client.get());
    }
    ctx.value()->rotate_ticket_keys();
    ctx.value()->rotate_ticket_keys();
    {
        Pair p(TLS1_2_VERSION, TLS1_2_VERSION, cc);
        SSL_set_session(p.client.get(), sess);
        auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
        cr_assert_eq(handshake(p, *s).back(), IoState::done);
        SSL_do_handshake(p.client.get());
        cr_expect_not(SSL_session_reused(p.client.get()), "a ticket two keys old does not");
    }
    SSL_SESSION_free(sess);
}

namespace {

// The client's cache in the chain test: the newest session (ticket) the server gave.
SSL_SESSION* g_newest = nullptr;
int g_tickets = 0;

int keep_newest(SSL*, SSL_SESSION* s) {
    if (g_newest) SSL_SESSION_free(g_newest);
    g_newest = s;
    ++g_tickets;
    return 1;  // the reference is ours
}

// Connections in a row, each offering the newest ticket received so far (as a mail
// client with a one-entry session cache): every one after the first must resume.
void resume_chain(int version) {
    auto ctx = Context::load(tls_config({"ec.pem"}, {"ec.key"}));
    cr_assert(ctx.ok());
    SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* cc = client_ctx.get();
    SSL_CTX_set_session_cache_mode(cc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    if (version == TLS1_3_VERSION) SSL_CTX_sess_set_new_cb(cc, keep_newest);
    g_newest = nullptr;
    g_tickets = 0;
    for (int i = 0; i < 4; ++i) {
        Pair p(version, version, cc);
        if (g_newest) SSL_set_session(p.client.get(), g_newest);
        auto s = TlsTransport::accept(ctx.value(), std::move(p.server_fd));
        cr_assert_eq(handshake(p, *s).back(), IoState::done);
        SSL_do_handshake(p.client.get());
        // TLS 1.3 tickets follow the handshake: the client reads them with the first reply.
        cr_assert_eq(s->write("220 hi\r\n", 8).state, IoState::done);
        char buf[64];
        size_t n = 0;
        for (int j = 0; j < 10 && SSL_read_ex(p.client.get(), buf, sizeof buf, &n) != 1; ++j)
            ;
        cr_expect_eq(std::string(buf, n), "220 hi\r\n");
        if (i == 0)
            cr_expect_not(SSL_session_reused(p.client.get()), "the first is a full handshake");
        else
            cr_expect(SSL_session_reused(p.client.get()), "connection %d (%s) did not resume", i,
                      SSL_get_version(p.client.get()));
        if (version == TLS1_3_VERSION)
            cr_expect_eq(g_tickets, i + 1, "connection %d: one fresh ticket each", i);
        // OpenSSL's TLS 1.2 client calls no new-session callback on a resumption: the
        // renewed ticket is in the connection's session.
        if (version == TLS1_2_VERSION) keep_newest(nullptr, SSL_get1_session(p.client.get()));
        SSL_shutdown(p.client.get());
    }
    if (g_newest) SSL_SESSION_free(g_newest);
    g_newest = nullptr;
}

}  // namespace

Test(tls, every_resumption_gets_a_fresh_ticket_tls13) {
    resume_chain(TLS1_3_VERSION);
}

Test(tls, every_resumption_gets_a_fresh_ticket_tls12) {
    resume_chain(TLS1_2_VERSION);
}
