// queue_fill.cpp - the bulk loader for tests/bench/deferred.sh: writes MESSAGES messages of
// RCPTS recipients each, every recipient deferred once with its next try a day away, into
// the Berkeley DB queue store in DIR (created if missing), through the store's own put()
// (one transaction per message, so the due index is kept as in real use), then flushes
// and closes. The queue must not be running on DIR. Prints "filled N messages, M
// recipients in S s". Exit 64 on bad arguments, 74 when the store fails.
//
// Usage: queue-fill DIR MESSAGES RCPTS [BODY_BYTES] [DOMAIN]
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "lib/core/queue_id.hpp"
#include "queue/store.hpp"

using namespace tegami;
using namespace tegami::queue;

namespace {

bool number(const char* s, unsigned long long lo, unsigned long long hi, unsigned long long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && out >= lo && out <= hi;
}

int usage() {
    std::fprintf(stderr,
                 "usage: queue-fill DIR MESSAGES RCPTS [BODY_BYTES] [DOMAIN]\n"
                 "  MESSAGES 1..10000000, RCPTS 1..1000, BODY_BYTES 0..1048576 (default "
                 "1024)\n");
    return 64;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long long messages = 0, rcpts = 0, body_bytes = 1024;
    if (argc < 4 || argc > 6 || !number(argv[2], 1, 10000000, messages) ||
        !number(argv[3], 1, 1000, rcpts) ||
        (argc > 4 && !number(argv[4], 0, 1024 * 1024, body_bytes)))
        return usage();
    std::string domain = argc > 5 ? argv[5] : "deferred.test";
    auto t0 = std::chrono::steady_clock::now();
    auto store = open_bdb_store(argv[1], 64u * 1024u * 1024u);
    if (!store) {
        std::fprintf(stderr, "queue-fill: %s\n", store.error().message.c_str());
        return 74;
    }
    std::string body = "Subject: deferred\r\n\r\n";
    while (body.size() + 2 < body_bytes)
        body += body.size() % 64 == 62 ? "\r\n" : "x";
    body += "\r\n";
    uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    Envelope e;
    e.sender = "bulk@localhost";
    e.arrival = now;
    e.client_addr = "127.0.0.1";
    e.client_name = "localhost";
    e.helo = "localhost";
    e.protocol = "ESMTP";
    for (unsigned long long r = 0; r < rcpts; ++r) {
        Recipient rc;
        rc.address = "user" + std::to_string(r) + "@" + domain;
        rc.state = RcptState::deferred;
        rc.attempts = 1;
        rc.next_try = now + 86400;
        rc.dsn = "4.4.1";
        rc.text = "connect to " + domain + ": connection refused";
        e.recipients.push_back(rc);
    }
    for (unsigned long long i = 0; i < messages; ++i) {
        e.queue_id = new_queue_id();
        // Spread the retries over the day, as a real deferred queue has them.
        for (auto& rc : e.recipients)
            rc.next_try = now + 3600 + (i * 7919) % 82800;
        std::string err;
        if (store.value()->put(e, body, err) != PutStatus::ok) {
            std::fprintf(stderr, "queue-fill: put %s: %s\n", e.queue_id.c_str(), err.c_str());
            return 74;
        }
        if (i % 10000 == 9999) (void)store.value()->flush();
        if (i % 100000 == 99999) (void)store.value()->checkpoint();
    }
    if (auto r = store.value()->close(); !r) {
        std::fprintf(stderr, "queue-fill: close: %s\n", r.error().message.c_str());
        return 74;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("filled %llu messages, %llu recipients in %.1f s\n", messages, messages * rcpts, s);
    return 0;
}
