// submission_load.cpp - the load generator of tests/bench/submission.sh (build/tests/
// submission-load): SESSIONS client threads in parallel, each making connections that
// go connect, EHLO, STARTTLS (OpenSSL), EHLO, AUTH PLAIN, then PER messages (MAIL, RCPT,
// DATA) and QUIT, until MESSAGES messages were sent in all; with --resume each thread
// offers the TLS session (ticket) of its previous connection, as a mail client that
// keeps its session cache does. Replaces the Python tool for the load (it was the limit
// at about 1,000 msg/s); the same load goes to Tegami and to Postfix.
//
//   submission-load [--resume] [--steps] PORT LOGIN PASSWORD RCPT MESSAGES SESSIONS SIZE [PER]
//
// Prints "ACCEPTED SECONDS [RESUMED]" on stdout (messages answered 250 after DATA, wall
// time, connections that resumed a TLS session); each failure once per kind on stderr.
// --steps also prints on stderr, per step of the dialogue, the mean wait in microseconds
// from the client's request to the server's whole reply ("step connect+220 412"), so a
// latency breakdown needs no strace (run it with one session for unloaded figures).
// Exit 0 when every message was accepted, 1 otherwise, 64 for bad arguments. Trusts the
// server for nothing but its replies; the certificate is not verified (a bench on
// loopback with a throw-away certificate). Every wait is bounded (30 s per reply).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/sasl/base64.hpp"

namespace {

using tegami::SslCtxPtr;
using tegami::SslPtr;
using tegami::UniqueFd;

struct Options {
    bool resume = false;
    int port = 0;
    std::string login, password, rcpt, sender, body;
    long messages = 0, sessions = 0, size = 0, per = 1;
};

// The dialogue's steps, for --steps: the summed wait and the count of each.
enum Step {
    s_greet,
    s_ehlo,
    s_starttls,
    s_handshake,
    s_ehlo_tls,
    s_auth,
    s_mail,
    s_rcpt,
    s_data,
    s_body,
    s_quit,
    s_count
};
const char* const kStepNames[s_count] = {"connect+220", "EHLO",     "STARTTLS", "handshake",
                                         "EHLO-tls",    "AUTH",     "MAIL",     "RCPT",
                                         "DATA",        "body+250", "QUIT"};
bool g_steps = false;
std::atomic<long> step_ns[s_count], step_n[s_count];

// Times one step from construction to done().
class StepTimer {
  public:
    explicit StepTimer(Step s) : step_(s), t0_(std::chrono::steady_clock::now()) {}
    void done() {
        if (!g_steps) return;
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - t0_)
                      .count();
        step_ns[step_].fetch_add(static_cast<long>(ns), std::memory_order_relaxed);
        step_n[step_].fetch_add(1, std::memory_order_relaxed);
    }

  private:
    Step step_;
    std::chrono::steady_clock::time_point t0_;
};

// cmd() with its wait counted as step s.
template <typename F>
int timed(Step s, F&& f) {
    StepTimer t(s);
    int r = f();
    t.done();
    return r;
}

std::mutex err_mu;
std::set<std::string> errors_seen;

void complain(const std::string& what) {
    std::lock_guard<std::mutex> g(err_mu);
    if (errors_seen.insert(what.substr(0, 80)).second)
        std::fprintf(stderr, "submission-load: %s\n", what.c_str());
}

struct SslSessionFree {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionFree>;

// Each thread's cache: the newest session the server gave it (TLS 1.3 sends tickets
// after the handshake, on resumed connections too; OpenSSL hands each to this callback).
thread_local SslSessionPtr thread_session;

int on_new_session(SSL*, SSL_SESSION* s) {
    thread_session.reset(s);
    return 1;  // we keep the reference
}

// One SMTP connection: plain until STARTTLS, then through ssl.
class Conn {
  public:
    explicit Conn(UniqueFd fd) : fd_(std::move(fd)) {}

    bool send(const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            long n;
            if (ssl_) {
                n = SSL_write(ssl_.get(), s.data() + off, static_cast<int>(s.size() - off));
                if (n <= 0) return false;
            } else {
                n = ::send(fd_.get(), s.data() + off, s.size() - off, MSG_NOSIGNAL);
                if (n <= 0) return false;
            }
            off += static_cast<size_t>(n);
        }
        return true;
    }

    // The code of the next (possibly multi-line) reply; -1 on a closed connection.
    int reply(std::string* text = nullptr) {
        for (;;) {
            size_t nl;
            while ((nl = buf_.find("\r\n")) != std::string::npos) {
                std::string line = buf_.substr(0, nl);
                buf_.erase(0, nl + 2);
                if (text) *text += line + "\n";
                if (line.size() < 4 || line[3] != '-')
                    return line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : -1;
            }
            char tmp[8192];
            long n = ssl_ ? SSL_read(ssl_.get(), tmp, sizeof tmp)
                          : ::recv(fd_.get(), tmp, sizeof tmp, 0);
            if (n <= 0) return -1;
            buf_.append(tmp, static_cast<size_t>(n));
        }
    }

    int cmd(const std::string& line, std::string* text = nullptr) {
        if (!send(line + "\r\n")) return -1;
        return reply(text);
    }

    bool starttls(SSL_CTX* ctx, SSL_SESSION* offer, bool& resumed) {
        if (!buf_.empty()) return false;  // the server must not pipeline past 220
        ssl_.reset(SSL_new(ctx));
        if (!ssl_) return false;
        SSL_set_fd(ssl_.get(), fd_.get());
        SSL_set_tlsext_host_name(ssl_.get(), "localhost");
        if (offer) SSL_set_session(ssl_.get(), offer);
        if (SSL_connect(ssl_.get()) != 1) return false;
        resumed = SSL_session_reused(ssl_.get()) == 1;
        return true;
    }

    void close_tls() {
        if (ssl_) SSL_shutdown(ssl_.get());
    }

  private:
    UniqueFd fd_;
    SslPtr ssl_;
    std::string buf_;
};

UniqueFd dial(int port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fd;
    timeval tv{30, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return UniqueFd();
    return fd;
}

// One connection carrying up to `count` messages; returns how many were accepted.
long one_connection(const Options& o, SSL_CTX* ctx, const SslSessionPtr& cache, long count,
                    std::atomic<long>& resumed_total) {
    StepTimer greet(s_greet);
    UniqueFd fd = dial(o.port);
    if (!fd.valid()) {
        complain(std::string("connect: ") + std::strerror(errno));
        return 0;
    }
    Conn c(std::move(fd));
    std::string text;
    if (c.reply() != 220) return complain("no 220 greeting"), 0;
    greet.done();
    if (timed(s_ehlo, [&] { return c.cmd("EHLO bench.client"); }) != 250)
        return complain("EHLO refused"), 0;
    if (timed(s_starttls, [&] { return c.cmd("STARTTLS", &text); }) != 220)
        return complain("STARTTLS refused: " + text), 0;
    bool resumed = false;
    StepTimer hs(s_handshake);
    if (!c.starttls(ctx, o.resume ? cache.get() : nullptr, resumed))
        return complain("TLS handshake failed"), 0;
    hs.done();
    if (resumed) resumed_total.fetch_add(1, std::memory_order_relaxed);
    if (timed(s_ehlo_tls, [&] { return c.cmd("EHLO bench.client"); }) != 250)
        return complain("EHLO after STARTTLS refused"), 0;
    std::string creds = std::string(1, '\0') + o.login + '\0' + o.password;
    text.clear();
    if (timed(s_auth, [&] {
            return c.cmd("AUTH PLAIN " + tegami::sasl::base64_encode(creds), &text);
        }) != 235)
        return complain("AUTH PLAIN refused: " + text), 0;
    long ok = 0;
    for (long i = 0; i < count; ++i) {
        text.clear();
        if (timed(s_mail, [&] { return c.cmd("MAIL FROM:<" + o.sender + ">", &text); }) != 250) {
            complain("MAIL refused: " + text);
            break;
        }
        text.clear();
        if (timed(s_rcpt, [&] { return c.cmd("RCPT TO:<" + o.rcpt + ">", &text); }) != 250) {
            complain("RCPT refused: " + text);
            c.cmd("RSET");
            break;
        }
        if (timed(s_data, [&] { return c.cmd("DATA"); }) != 354) {
            complain("DATA refused");
            break;
        }
        text.clear();
        if (timed(s_body, [&] { return c.send(o.body) ? c.reply(&text) : -1; }) != 250) {
            complain("message refused after DATA: " + text);
            break;
        }
        ++ok;
    }
    timed(s_quit, [&] { return c.cmd("QUIT"); });
    c.close_tls();
    return ok;
}

bool number(const char* s, long& out, long min) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno || !end || *end || v < min) return false;
    out = v;
    return true;
}

int usage() {
    std::fprintf(stderr,
                 "usage: submission-load [--resume] [--steps] PORT LOGIN PASSWORD RCPT "
                 "MESSAGES SESSIONS SIZE [PER]\n");
    return 64;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    int a = 1;
    for (; a < argc && std::strncmp(argv[a], "--", 2) == 0; ++a) {
        if (std::strcmp(argv[a], "--resume") == 0)
            o.resume = true;
        else if (std::strcmp(argv[a], "--steps") == 0)
            g_steps = true;
        else
            return usage();
    }
    if (argc - a != 7 && argc - a != 8) return usage();
    long port = 0;
    if (!number(argv[a], port, 1) || port > 65535) return usage();
    o.port = static_cast<int>(port);
    o.login = argv[a + 1];
    o.password = argv[a + 2];
    o.rcpt = argv[a + 3];
    if (!number(argv[a + 4], o.messages, 1) || !number(argv[a + 5], o.sessions, 1) ||
        !number(argv[a + 6], o.size, 1) || (argc - a == 8 && !number(argv[a + 7], o.per, 1)) ||
        o.sessions > 1024)
        return usage();
    if (o.login.empty() || o.password.empty() || o.rcpt.empty()) return usage();
    o.sender = o.login.find('@') == std::string::npos ? o.login + "@localhost" : o.login;
    o.body =
        "From: <" + o.sender + ">\r\nTo: <" + o.rcpt + ">\r\nSubject: submission bench\r\n\r\n";
    for (long n = 0; n < std::max(1L, o.size / 78); ++n)
        o.body += std::string(76, 'x') + "\r\n";
    o.body += ".\r\n";

    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return std::fprintf(stderr, "submission-load: no TLS context\n"), 70;
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    // Whole socket buffers per read, not a record header then its body: half the client's
    // read calls, so the load takes less of the CPU the servers are measured on.
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    // Session tickets are kept per thread (the cache above), not in the context.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    if (o.resume) SSL_CTX_sess_set_new_cb(ctx.get(), on_new_session);

    std::atomic<long> accepted{0}, resumed{0};
    std::vector<std::thread> threads;
    auto t0 = std::chrono::steady_clock::now();
    for (long s = 0; s < o.sessions; ++s) {
        long share = o.messages / o.sessions + (s < o.messages % o.sessions ? 1 : 0);
        threads.emplace_back([&o, &ctx, &accepted, &resumed, share] {
            long left = share;
            int failures = 0;
            while (left > 0 && failures < 10) {
                long n = std::min(left, o.per);
                long ok = one_connection(o, ctx.get(), thread_session, n, resumed);
                accepted.fetch_add(ok, std::memory_order_relaxed);
                left -= n;
                if (ok < n) ++failures;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%ld %.3f %ld\n", accepted.load(), secs, resumed.load());
    for (int i = 0; g_steps && i < s_count; ++i)
        if (long n = step_n[i].load())
            std::fprintf(stderr, "step %s %ld\n", kStepNames[i], step_ns[i].load() / n / 1000);
    return accepted.load() == o.messages ? 0 : 1;
}
