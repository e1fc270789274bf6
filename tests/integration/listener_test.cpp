// listener_test.cpp - listener roles on the real suite: the MSA listener (msa_listen)
// beside the MTA, its per-verb gate before AUTH, per-listener settings ("msa.KEY"), and
// relay control staying on the MTA, and a client that never reads its replies. Bad
// inputs first.
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace tegami_it;

namespace {

int start_with_msa(std::vector<std::string> extra = {}) {
    int msa = free_port();
    extra.push_back("msa_listen=127.0.0.1:" + std::to_string(msa));
    Sandbox& s = sandbox();
    bool ok = s.start(extra);
    if (!ok) s.dump_log();
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    return msa;
}

void expect_reply(const Reply& r, int code, const char* enhanced, const char* what) {
    IT_EXPECT(r.code == code && r.enhanced() == enhanced, "%s: want %d %s, got %d \"%s\"", what,
              code, enhanced, r.code, r.text().c_str());
}

}  // namespace

TestSuite(listener, .fini = stop_sandbox, .timeout = 60);

Test(listener, msa_answers_530_before_auth) {
    int msa = start_with_msa();
    SmtpClient c;
    Reply ehlo;
    IT_ASSERT(smtp_hello(c, msa, &ehlo), "greeting/EHLO on the MSA:\n%s", c.transcript.c_str());
    for (const auto& l : ehlo.lines)
        IT_EXPECT(l != "STARTTLS" && l.rfind("AUTH", 0) != 0, "offered without TLS/AUTH: %s",
                  l.c_str());
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0", "MAIL before AUTH");
    expect_reply(c.cmd("RCPT TO:<" + mail_user() + "@localhost>"), 530, "5.7.0", "RCPT");
    expect_reply(c.cmd("DATA"), 530, "5.7.0", "DATA");
    expect_reply(c.cmd("VRFY root"), 530, "5.7.0", "VRFY");
    expect_reply(c.cmd("STARTTLS"), 454, "4.7.0", "STARTTLS without a certificate");
    // AUTH is the MSA's, but only under TLS (RFC 4954 4: 538 5.7.11 in clear).
    expect_reply(c.cmd("AUTH PLAIN"), 538, "5.7.11", "AUTH without TLS");
    expect_reply(c.cmd("NOOP"), 250, "2.0.0", "NOOP");
    expect_reply(c.cmd("RSET"), 250, "2.0.0", "RSET");
    expect_reply(c.cmd("QUIT"), 221, "2.0.0", "QUIT");
    IT_EXPECT(sandbox().log().find("(msa)") != std::string::npos, "role not logged");
}

Test(listener, per_listener_setting_applies_to_that_listener_only) {
    int msa = start_with_msa({"msa.smtpd_error_limit=2"});
    SmtpClient m;
    IT_ASSERT(smtp_hello(m, msa), "EHLO on the MSA");
    expect_reply(m.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0", "first error");
    expect_reply(m.cmd("MAIL FROM:<a@example.org>"), 530, "5.7.0", "second error");
    expect_reply(m.reply(), 421, "4.7.0", "msa.smtpd_error_limit=2 closes after 2");
    IT_EXPECT(m.closed_by_peer(), "MSA session still open");

    SmtpClient t;
    IT_ASSERT(smtp_hello(t, sandbox().port), "EHLO on the MTA");
    for (int i = 0; i < 3; ++i)
        expect_reply(t.cmd("RCPT TO:<x@localhost>"), 503, "5.5.1", "MTA error");
    expect_reply(t.cmd("NOOP"), 250, "2.0.0", "the MTA keeps the default limit");
}

Test(listener, mta_still_refuses_relay_in_the_rcpt_stage) {
    start_with_msa();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, sandbox().port), "EHLO");
    expect_reply(c.cmd("MAIL FROM:<a@example.org>"), 250, "2.1.0", "MAIL");
    expect_reply(c.cmd("RCPT TO:<victim@example.net>"), 550, "5.7.1", "relay attempt");
    expect_reply(c.cmd("RCPT TO:<" + mail_user() + "@localhost>"), 250, "2.1.5", "local rcpt");
}

Test(listener, smtps_without_a_certificate_is_not_bound) {
    int p465 = free_port();
    Sandbox& s = sandbox();
    bool ok = s.start({"smtps_listen=127.0.0.1:" + std::to_string(p465)});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    SmtpClient c;
    IT_EXPECT(!c.connect(p465, 1000), "a plaintext smtps listener was bound");
    IT_EXPECT(s.log().find("smtps_listen ignored: no tls_cert_file") != std::string::npos,
              "no warning in the log");
}

// A client that pipelines commands and never reads a reply: smtpd stops reading once its
// output backlog is full, and the write timeout (smtpd_timeout) ends the session.
Test(listener, client_that_never_reads_is_closed_by_the_write_timeout) {
    Sandbox& s = sandbox();
    // NOOPs are the flood here; the junk-command limit would end the session first.
    bool ok = s.start({"smtpd_timeout=2", "smtpd_junk_command_limit=0"});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(s.port));
    cr_assert_eq(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string burst;
    for (int i = 0; i < 4096; ++i)
        burst += "NOOP\r\n";
    // Send until the server stops taking input (its backlog is full) or 20 MB went out.
    size_t sent = 0;
    int stalled_ms = 0;
    while (sent < (20u << 20) && stalled_ms < 1000) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 100) != 1) {
            stalled_ms += 100;
            continue;
        }
        ssize_t n = ::send(fd, burst.data(), burst.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
    IT_EXPECT(stalled_ms >= 1000, "smtpd kept reading %zu bytes from a client that never reads",
              sent);
    bool logged = wait_until(
        [&] { return s.log().find("timeout writing to client") != std::string::npos; }, 10000);
    IT_EXPECT(logged, "no write timeout in the log after %zu bytes", sent);
    // Closed: draining what is left ends in EOF (or a reset).
    char buf[65536];
    ssize_t n = 1;
    for (int i = 0; i < 10000 && n > 0; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        n = ::recv(fd, buf, sizeof buf, 0);
    }
    IT_EXPECT(n <= 0, "the session is still open");
    ::close(fd);
}

// A client that sends a byte at a time and never ends its line (slowloris) holds its
// session no longer than smtpd_timeout from the line's first byte: the timeout is not
// restarted by each byte. The same in DATA with a body line that never ends
// (smtpd_data_timeout). Then 421 4.4.2 and the connection is closed.
Test(listener, client_sending_a_byte_a_second_is_timed_out_per_line) {
    Sandbox& s = sandbox();
    bool ok = s.start({"smtpd_timeout=2", "smtpd_data_timeout=2"});
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
    for (bool in_data : {false, true}) {
        SmtpClient c;
        IT_ASSERT(smtp_hello(c, s.port), "EHLO");
        if (in_data) {
            expect_reply(c.cmd("MAIL FROM:<a@localhost>"), 250, "2.1.0", "MAIL");
            expect_reply(c.cmd("RCPT TO:<postmaster@localhost>"), 250, "2.1.5", "RCPT");
            IT_ASSERT(c.cmd("DATA").code == 354, "DATA");
        }
        auto t0 = std::chrono::steady_clock::now();
        std::string trickle = in_data ? "Subject: slow slow slow slow" : "NOOP NOOP NOOP NOOP";
        bool refused = false;
        for (char ch : trickle) {
            if (!c.send(std::string(1, ch))) {
                refused = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
            if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(6)) break;
        }
        Reply r = c.reply(3000);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        IT_EXPECT(r.code == 421 && r.enhanced() == "4.4.2", "%s: got %d %s after %.1f s",
                  in_data ? "DATA" : "command", r.code, r.text().c_str(), secs);
        IT_EXPECT(secs < 5.0, "%s: held %.1f s (refused send: %d)", in_data ? "DATA" : "command",
                  secs, refused);
        IT_EXPECT(c.closed_by_peer(), "connection still open after 421");
    }
}
