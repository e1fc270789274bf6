// queue_file_test.cpp - tests for msp/sendmail/queue_file.cpp: the client-queue file
// round trip and every malformed file (the file is group-writable: trust nothing).
#include <criterion/criterion.h>

#include <string>

#include "msp/sendmail/queue_file.hpp"

using namespace tegami;
using namespace tegami::msp;

namespace {

std::string encode(const QueuedMessage& m) {
    return encode_queue_file_head(m) + m.message + "\n";
}

QueuedMessage sample() {
    QueuedMessage m;
    m.sender = "alice@h";
    m.flags = kQueueFile8Bit;
    m.notify = "success,failure";
    m.ret = "hdrs";
    m.envid = "e1";
    m.recipients = {"bob@x", "carol@y"};
    m.message = std::string("Subject: x\r\n\r\nnul \0 and 8bit \xff\r\n", 31);
    return m;
}

}  // namespace

Test(queue_file, malformed_files_are_refused) {
    std::string good = encode(sample());
    const char* cases[] = {
        "",
        "TEGAMI-MSP 2\n",
        "TEGAMI-MSP 1\n",
        "TEGAMI-MSP 1\n7:alice@h\n",
        "TEGAMI-MSP 1\n0:\n1:0\n0:\n0:\n0:\n1:0\n2:ab\n",        // no recipients
        "TEGAMI-MSP 1\n0:\n1:0\n0:\n0:\n0:\n1:1\n0:\n2:ab\n",    // empty recipient
        "TEGAMI-MSP 1\n0:\n1:x\n0:\n0:\n0:\n1:1\n1:a\n2:ab\n",   // bad flags
        "TEGAMI-MSP 1\n0:\n1:0\n0:\n0:\n0:\n1:1\n1:a\n99:ab\n",  // truncated
        "TEGAMI-MSP 1\n0:\n1:0\n0:\n0:\n0:\n1:1\n1:a\n2:ab\nX",  // trailing
        "TEGAMI-MSP 1\n99999999999:\n",                          // overlong length
    };
    for (const char* c : cases)
        cr_expect(!decode_queue_file(c), "accepted: %s", c);
    for (size_t cut = 0; cut < good.size(); ++cut)
        cr_expect(!decode_queue_file(std::string_view(good).substr(0, cut)), "cut at %zu", cut);
}

Test(queue_file, round_trip) {
    QueuedMessage m = sample();
    auto d = decode_queue_file(encode(m));
    cr_assert(d, "%s", d ? "" : d.error().message.c_str());
    cr_expect_eq(d->sender, m.sender);
    cr_expect_eq(d->flags, m.flags);
    cr_expect_eq(d->notify, m.notify);
    cr_expect_eq(d->ret, m.ret);
    cr_expect_eq(d->envid, m.envid);
    cr_expect_eq(d->recipients, m.recipients);
    cr_expect_eq(d->message, m.message);
    QueuedMessage null_sender;
    null_sender.recipients = {"x@y"};
    auto d2 = decode_queue_file(encode(null_sender));
    cr_assert(d2);
    cr_expect_eq(d2->sender, "");
}

Test(queue_file, names) {
    std::string n = new_queue_file_name();
    cr_expect(is_queue_file_name(n));
    cr_expect_neq(n, new_queue_file_name());
    cr_expect(!is_queue_file_name("bf" + n.substr(2)));
    cr_expect(!is_queue_file_name("qf"));
    cr_expect(!is_queue_file_name("qf../../x"));
}
