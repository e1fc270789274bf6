// session_stream_test.cpp - scripted tests of the streamed DATA path of
// smtpd/server/session.cpp (send_chunk, chunk_done, end_transaction) through a fake
// SessionHost that takes chunks of a small size. Bad inputs first: a chunk the queue
// refuses, a lost stream, a body over the size limit, smuggling across chunks, a client
// that goes away mid-body; then the reassembled content for every split of the input,
// dot-stuffing across chunk boundaries, bodies of 0 octets and exactly at the limit.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "smtpd/server/policy.hpp"
#include "smtpd/server/session.hpp"

using namespace tegami;
using namespace tegami::smtpd;

namespace {

struct StreamHost : SessionHost {
    size_t chunk = 16;
    std::string out;
    std::vector<ipc::SubmitMsg> submitted;
    std::vector<std::string> chunks;  // index i-1 holds chunk i
    std::vector<std::string> aborted;
    size_t unanswered = 0;
    size_t max_unanswered = 0;
    bool order_ok = true;  // chunk indexes came 1, 2, 3, ...
    std::vector<std::string> eod_headers;
    PolicyChain chain;

    void write(std::string_view b) override { out.append(b); }
    LocalKind classify_local(std::string_view l) override {
        return l == "alice" ? LocalKind::user : LocalKind::unknown;
    }
    std::string new_queue_id() override { return "0123456789ABCDEF"; }
    std::string date() override { return "Thu, 1 Jan 1970 00:00:00 +0000"; }
    void submit(ipc::SubmitMsg m) override { submitted.push_back(std::move(m)); }
    size_t body_chunk_size() const override { return chunk; }
    void send_chunk(const std::string&, uint32_t index, std::string data) override {
        if (index != chunks.size() + 1) order_ok = false;
        chunks.push_back(std::move(data));
        max_unanswered = std::max(max_unanswered, ++unanswered);
    }
    void abort_body(const std::string& qid) override { aborted.push_back(qid); }
    PolicyVerdict policy(const SessionState& st, const VerbSpec& v, const CommandArgs& a) override {
        if (v.stage == PolicyStage::end_of_data && !eod_headers.empty()) {
            PolicyVerdict pv;
            pv.headers = eod_headers;
            return pv;
        }
        return chain.run(st, v, a);
    }
    std::string take() { return std::exchange(out, std::string()); }
    // The message as the queue would store it: head, then chunks in order.
    std::string body() const {
        std::string b = submitted.empty() ? std::string() : submitted.back().body;
        for (const auto& c : chunks)
            b += c;
        return b;
    }
    // The content: what follows the (folded) Received header that opens the body.
    std::string content() const {
        std::string b = body();
        size_t at = 0;
        for (;;) {
            size_t nl = b.find("\r\n", at);
            if (nl == std::string::npos) return b;
            at = nl + 2;
            if (at >= b.size() || (b[at] != ' ' && b[at] != '\t')) break;
        }
        return b.substr(at);
    }
};

std::shared_ptr<const Config> config(uint64_t size_limit = 10000) {
    Config c = default_config();
    c.hostname = "mx.test";
    c.local_domains = {"mx.test"};
    c.smtpd_banner = "mx.test ESMTP Tegami";
    c.message_size_limit = size_limit;
    return std::make_shared<const Config>(c);
}

struct Fixture {
    StreamHost host;
    Session s;
    bool answer = true;  // answer each chunk as the queue would, with status
    uint32_t status = ipc::kStatusOk;
    size_t submits_answered = 0;
    explicit Fixture(size_t chunk = 16, uint64_t size_limit = 10000)
        : s((host.chunk = chunk, host), config(size_limit), ClientInfo{"127.0.0.1", "localhost"}) {
        s.start();
        host.take();
    }
    void answer_chunks() {
        while (host.unanswered > 0) {
            --host.unanswered;
            s.chunk_done(status, status == ipc::kStatusOk ? "" : "4.3.0 queue write failed");
        }
    }
    // Feeds everything the session will take, answering chunks between feeds (never
    // from inside send_chunk, as the real queue client does); returns the replies.
    std::string run(std::string_view in) {
        size_t used = 0;
        while (used < in.size()) {
            size_t n = s.feed(in.substr(used));
            used += n;
            if (s.waiting() && answer && host.unanswered > 0) {
                answer_chunks();
                continue;
            }
            if (s.waiting() && host.submitted.size() > submits_answered) {
                ++submits_answered;  // the queue's answer, after the chunk answers
                answer_chunks();
                s.submit_done(ipc::kStatusOk, "");
                continue;
            }
            if (n == 0) break;
        }
        if (s.waiting() && host.submitted.size() > submits_answered) {
            ++submits_answered;
            answer_chunks();
            s.submit_done(ipc::kStatusOk, "");
        }
        return host.take();
    }
    void open_data() {
        run("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@mx.test>\r\n");
        cr_assert_eq(run("DATA\r\n"), std::string("354 End data with <CR><LF>.<CR><LF>\r\n"));
    }
};

// The wire form of content (CRLF lines): dot-stuffed, with the terminator.
std::string stuffed(const std::string& content) {
    std::string w;
    bool line_start = true;
    for (char c : content) {
        if (line_start && c == '.') w += '.';
        w += c;
        line_start = c == '\n';
    }
    return w + ".\r\n";
}

}  // namespace

Test(session_stream, a_refused_chunk_reads_the_rest_then_answers_451) {
    Fixture f;
    f.status = ipc::kStatusTemp;
    f.open_data();
    std::string got =
        f.run(stuffed(std::string(5, 'a') + "\r\n" + std::string(100, 'b') + "\r\n") + "NOOP\r\n");
    cr_expect_eq(got, std::string("451 4.3.0 queue write failed\r\n250 2.0.0 Ok\r\n"));
    cr_expect(f.host.submitted.empty());
    cr_expect_eq(f.host.chunks.size(), 1u, "nothing more is sent after a refusal");
    cr_expect_eq(f.host.aborted.size(), 1u);
    cr_expect(!f.s.state().tx);
}

Test(session_stream, a_lost_stream_mid_body_answers_451) {
    Fixture f;
    f.answer = false;
    f.open_data();
    f.run(std::string(40, 'x'));  // the first chunk goes, the second fills: waiting
    cr_expect(f.s.waiting());
    f.host.unanswered = 0;
    f.s.chunk_done(ipc::kStatusTemp, "4.3.0 Queue unavailable, try again later");
    cr_expect(!f.s.waiting());
    std::string got = f.run(std::string(100, 'x') + "\r\n.\r\n");
    cr_expect_eq(got, std::string("451 4.3.0 Queue unavailable, try again later\r\n"));
    cr_expect(f.host.submitted.empty());
    cr_expect_eq(f.host.aborted.size(), 1u);
}

Test(session_stream, over_the_size_limit_after_chunks_is_552_and_nothing_queued) {
    Fixture f(16, 100);
    f.open_data();
    std::string got = f.run(stuffed(std::string(60, 'z') + "\r\n" + std::string(60, 'z') + "\r\n"));
    cr_expect_eq(got, std::string("552 5.3.4 Message size exceeds fixed limit\r\n"));
    cr_expect(f.host.submitted.empty());
    cr_expect_eq(f.host.aborted.size(), 1u, "the chunks already sent are aborted");
    cr_expect_eq(f.host.aborted[0], std::string("0123456789ABCDEF"));
    // Reading went on without keeping content: at most the chunks sent before the flag.
    size_t sent = 0;
    for (const auto& c : f.host.chunks)
        sent += c.size();
    cr_expect_leq(sent, 101u);
}

Test(session_stream, bare_line_ends_across_chunks_are_refused) {
    const char* cases[] = {
        "aaaaaaaaaaaaaaa\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n",
        "aaaaaaaaaaaaaaaa\r.\r\nbbbbbbbbbbbbbbbbbbbb\r\n.\r\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n.\nbbbbbbbbbbbbbbbbbbb\r\n.\r\n",
    };
    for (const char* in : cases) {
        Fixture f;
        f.open_data();
        std::string got = f.run(in);
        cr_expect_eq(got, std::string("550 5.6.0 Message contains bare CR or LF\r\n"), "%s", in);
        cr_expect(f.host.submitted.empty(), "%s", in);
        cr_expect_eq(f.host.aborted.size(), f.host.chunks.empty() ? 0u : 1u, "%s", in);
    }
}

Test(session_stream, a_client_gone_mid_body_aborts_the_stream) {
    Fixture f;
    f.open_data();
    f.run(std::string(50, 'q'));
    cr_expect_gt(f.host.chunks.size(), 0u);
    f.s.discard_transaction();
    cr_expect_eq(f.host.aborted.size(), 1u);
    cr_expect(f.host.submitted.empty());
    cr_expect(!f.s.state().tx);
    // Without chunks there is nothing to abort.
    Fixture g(1024);
    g.open_data();
    g.run(std::string(50, 'q'));
    g.s.discard_transaction();
    cr_expect(g.host.aborted.empty());
}

Test(session_stream, streamed_bodies_reassemble_for_every_split_point) {
    // Lines of many lengths, leading dots (stuffed on the wire) falling on every offset
    // relative to the chunk size, and an empty line.
    std::string content;
    for (int i = 0; i < 12; ++i)
        content += std::string(static_cast<size_t>(i % 3), '.') +
                   std::string(static_cast<size_t>(i * 3), 'm') + "\r\n";
    content += "\r\n..end\r\n";
    std::string wire = stuffed(content);
    for (size_t chunk : {4u, 7u, 16u}) {
        for (size_t cut = 0; cut <= wire.size(); ++cut) {
            Fixture f(chunk);
            f.open_data();
            std::string got = f.run(wire.substr(0, cut));
            got += f.run(wire.substr(cut));
            cr_assert_eq(got.substr(0, 3), std::string("250"), "chunk %zu cut %zu: %s", chunk, cut,
                         got.c_str());
            cr_assert_eq(f.host.submitted.size(), 1u);
            const auto& m = f.host.submitted[0];
            bool streamed = (m.flags & ipc::kFlagStreamedBody) != 0;
            cr_assert_eq(streamed, !f.host.chunks.empty());
            cr_assert(f.host.order_ok);
            cr_assert_leq(f.host.max_unanswered, 1u + 1u);  // one waiting, plus the last
            for (const auto& c : f.host.chunks)
                cr_assert_leq(c.size(), chunk, "chunk %zu cut %zu", chunk, cut);
            cr_assert_eq(f.host.content(), content, "chunk %zu cut %zu", chunk, cut);
        }
    }
}

Test(session_stream, one_chunk_unanswered_holds_reading) {
    Fixture f(8);
    f.answer = false;
    f.open_data();
    f.run(std::string(100, 'w'));
    cr_expect(f.s.waiting(), "chunk 1 unanswered and chunk 2 full: the session waits");
    cr_expect_eq(f.host.chunks.size(), 1u);
    cr_expect_eq(f.s.state().tx->chunk.size(), 8u);
    f.answer_chunks();
    cr_expect(!f.s.waiting());
}

Test(session_stream, empty_and_limit_sized_bodies) {
    {
        Fixture f;
        f.open_data();
        cr_expect_eq(f.run(".\r\n").substr(0, 4), std::string("250 "));
        cr_expect(f.host.chunks.empty());
        cr_expect_eq(f.host.content(), std::string());
        cr_expect_eq(f.host.submitted[0].flags & ipc::kFlagStreamedBody, 0u);
    }
    {
        // Exactly at message_size_limit (100 octets of content): accepted, streamed.
        Fixture f(16, 100);
        f.open_data();
        std::string content = std::string(98, 'e') + "\r\n";
        cr_expect_eq(f.run(stuffed(content)).substr(0, 4), std::string("250 "));
        cr_expect_eq(f.host.content(), content);
        cr_expect(f.host.submitted[0].flags & ipc::kFlagStreamedBody);
    }
    {
        // Content exactly one chunk: goes whole (the chunk is cut only when more comes).
        Fixture f(16);
        f.open_data();
        std::string content = std::string(14, 'e') + "\r\n";
        cr_expect_eq(f.run(stuffed(content)).substr(0, 4), std::string("250 "));
        cr_expect_eq(f.host.content(), content);
    }
}

Test(session_stream, end_of_data_headers_go_into_the_head) {
    Fixture f;
    f.host.eod_headers = {"X-Checked: yes"};
    f.open_data();
    std::string content = std::string(40, 'h') + "\r\n";
    cr_expect_eq(f.run(stuffed(content)).substr(0, 4), std::string("250 "));
    const std::string& head = f.host.submitted[0].body;
    cr_expect(head.find("X-Checked: yes\r\n") != std::string::npos);
    cr_expect_eq(head.find("Received:"), 0u);
    cr_expect_eq(f.host.content(), "X-Checked: yes\r\n" + content);
}
