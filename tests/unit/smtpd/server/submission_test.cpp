// submission_test.cpp - tests for smtpd/server/submission.cpp: finding a header field
// (bad and tricky messages first), the Message-ID form, and which sessions get the
// missing Message-ID and Date (RFC 6409 8.2, 8.3).
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "smtpd/server/submission.hpp"

using namespace tegami;
using namespace tegami::smtpd;

Test(submission, header_present_only_in_the_header_section) {
    struct Case {
        const char* msg;
        bool date;
    } cases[] = {
        {"", false},
        {"\r\nDate: in the body\r\n", false},            // no header section at all
        {"Subject: x\r\n\r\nDate: body\r\n", false},     // after the empty line
        {"Subject: x\r\n Date: folded\r\n\r\n", false},  // a continuation line
        {"Dated: no\r\n\r\n", false},
        {"Date\r\n\r\n", false},
        {"X-Date: no\r\n\r\n", false},
        {"Subject: x\r\nDATE: Thu, 1 Jan 1970 00:00:00 +0000\r\n\r\nb\r\n", true},
        {"date :obsolete form\r\n\r\n", true},
        {"Date: last line, no body", true},
    };
    for (const auto& c : cases)
        cr_expect_eq(header_present(c.msg, "Date"), c.date, "\"%s\"", c.msg);
    cr_expect(header_present("Message-Id: <a@b>\r\n\r\n", "Message-ID"));
}

Test(submission, message_id_form) {
    cr_expect_eq(make_message_id("4ABCDEF", 1764640000, "mx.test"), "<4ABCDEF.1764640000@mx.test>");
}

namespace {
SessionState session(Role role, std::string login, bool local, const std::string& data) {
    SessionState st;
    Config c = default_config();
    c.hostname = "mx.test";
    st.config = std::make_shared<const Config>(c);
    st.role = role;
    st.auth_login = std::move(login);
    st.client.local = local;
    st.tx = std::make_unique<Transaction>();
    st.tx->queue_id = "QID1";
    st.tx->data = "Received: from x\r\n" + data;
    st.tx->received_len = 18;
    return st;
}
}  // namespace

Test(submission, which_sessions_get_the_headers) {
    SubmissionHeaders h;
    const char* bare = "Subject: hi\r\n\r\nbody\r\n";
    auto relayed = h.check(PolicyStage::end_of_data, session(Role::mta, "", false, bare), {});
    cr_expect(relayed.headers.empty(), "mail from another server is not changed");
    auto other_stage = h.check(PolicyStage::rcpt, session(Role::msa, "a", false, bare), {});
    cr_expect(other_stage.headers.empty());
    struct Who {
        Role role;
        const char* login;
        bool local;
    } who[] = {{Role::msa, "alice", false},
               {Role::smtps, "alice", false},
               {Role::local, "", true},
               {Role::mta, "alice", false}};
    for (const auto& w : who) {
        SessionState st = session(w.role, w.login, w.local, bare);
        auto v = h.check(PolicyStage::end_of_data, st, {});
        cr_assert_eq(v.headers.size(), 2u, "role %s", role_name(st.role));
        cr_expect(v.headers[0].rfind("Message-ID: <QID1.", 0) == 0, "%s", v.headers[0].c_str());
        cr_expect(v.headers[0].find("@mx.test>") != std::string::npos);
        cr_expect(v.headers[1].rfind("Date: ", 0) == 0, "%s", v.headers[1].c_str());
    }
    auto has_date = h.check(PolicyStage::end_of_data,
                            session(Role::msa, "a", false, "Date: x\r\n\r\nb\r\n"), {});
    cr_assert_eq(has_date.headers.size(), 1u);
    cr_expect(has_date.headers[0].rfind("Message-ID:", 0) == 0);
    auto has_both =
        h.check(PolicyStage::end_of_data,
                session(Role::msa, "a", false, "Date: x\r\nMessage-Id: <y@z>\r\n\r\n"), {});
    cr_expect(has_both.headers.empty(), "nothing added when both are there");
}

Test(submission, address_list_parses_rfc5322_lists) {
    struct {
        const char* value;
        std::vector<std::string> want;
    } cases[] = {
        // bad and tricky first
        {"", {}},
        {"undisclosed-recipients:;", {}},
        {"\"a@b, c@d\" <real@x.test>", {"real@x.test"}},
        {"real@x.test (Fake <f@y.test>, g@z.test)", {"real@x.test"}},
        {"Name \"q\\\"<x@y>\" <n@x.test>", {"n@x.test"}},
        {"not an address", {}},
        {"a@x.test", {"a@x.test"}},
        {"Alice <alice@x.test>", {"alice@x.test"}},
        {"A <a@x.test>, b@y.test, Team: c@z.test, d@z.test;",
         {"a@x.test", "b@y.test", "c@z.test", "d@z.test"}},
    };
    for (const auto& c : cases)
        cr_expect(address_list(c.value) == c.want, "value %s", c.value);
}

Test(submission, header_value_unfolds_the_first_field) {
    const char* msg =
        "Subject: x\r\nFrom: Alice\r\n <alice@x.test>\r\nFrom: second@x\r\n\r\n"
        "From: body@x\r\n";
    auto v = header_value(msg, "from");
    cr_assert(v.has_value());
    cr_expect_eq(*v, std::string("Alice <alice@x.test>"));
    cr_expect(!header_value("Subject: x\r\n\r\nFrom: body@x\r\n", "From").has_value());
}

Test(submission, sender_added_when_from_is_not_the_authenticated_sender) {
    SubmissionHeaders h;
    struct {
        const char* login;
        const char* envelope;
        const char* headers;
        bool want_sender;
    } cases[] = {
        {"alice", "alice@x.test", "From: Boss <boss@x.test>\r\n", true},
        {"alice", "alice@x.test", "From: alice@x.test, bob@x.test\r\n", true},  // several
        {"alice", "alice@x.test", "From: Alice <ALICE@x.test>\r\n", false},
        {"alice", "alice@x.test", "From: boss@x.test\r\nSender: s@x.test\r\n", false},  // kept
        {"alice", "alice@x.test", "Subject: no From\r\n", false},
        {"alice", "", "From: boss@x.test\r\n", false},         // null sender: nothing to name
        {"", "alice@x.test", "From: boss@x.test\r\n", false},  // not authenticated (MSP)
    };
    for (const auto& c : cases) {
        std::string data = std::string(c.headers) + "Date: x\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n";
        SessionState st = session(Role::msa, c.login, !*c.login, data);
        st.tx->sender = c.envelope;
        auto v = h.check(PolicyStage::end_of_data, st, {});
        bool got = !v.headers.empty() && v.headers.back().rfind("Sender: ", 0) == 0;
        cr_expect_eq(got, c.want_sender, "%s / %s", c.envelope, c.headers);
        if (got) cr_expect_eq(v.headers.back(), "Sender: <" + std::string(c.envelope) + ">");
    }
    Config off = default_config();
    off.smtpd_sender_header = false;
    SessionState st = session(Role::msa, "alice", false, "From: boss@x.test\r\n\r\nb\r\n");
    st.config = std::make_shared<const Config>(off);
    st.tx->sender = "alice@x.test";
    auto v = h.check(PolicyStage::end_of_data, st, {});
    for (const auto& hdr : v.headers)
        cr_expect(hdr.rfind("Sender", 0) != 0, "smtpd_sender_header = no adds none");
}
