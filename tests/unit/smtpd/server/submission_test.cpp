// submission_test.cpp - tests for smtpd/server/submission.cpp: finding a header field
// (bad and tricky messages first), the Message-ID form, and which sessions get the
// missing Message-ID and Date (RFC 6409 8.2, 8.3).
#include <criterion/criterion.h>

#include <string>

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
