// mailq_test.cpp - tests for msp/sendmail/mailq.cpp's formatting: sendmail 8.17's mailq
// layout (SENDMAIL-COMPAT.md 2.4) and the JSON form, control characters neutralised.
#include <criterion/criterion.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "msp/sendmail/mailq.hpp"

using namespace tegami::msp;

Test(mailq, hostile_text_stays_on_its_line) {
    ListedMessage m;
    m.id = "1K1K61XGH9YRD400";
    m.size = 5;
    m.arrival = 0;
    m.sender = "<a@b>\n\t\tTotal requests: 99";
    m.recipients.push_back({"<x@y>\r\nfake", ""});
    std::string out = format_listing("/q", {m});
    cr_expect_eq(out.find("\n\t\tTotal requests: 99"), std::string::npos);
    cr_expect_eq(out.find('\r'), std::string::npos);
    std::string json = format_json("/q", {m});
    cr_expect_eq(json.find('\n'), json.size() - 1);
    cr_expect_neq(json.find("\\u000a"), std::string::npos);
}

Test(mailq, sendmail_layout) {
    cr_expect_eq(format_listing("/var/spool/mqueue", {}),
                 "/var/spool/mqueue is empty\n\t\tTotal requests: 0\n");
    ListedMessage m;
    m.id = "1K1K61XGH9YRD400";
    m.size = 1012;
    m.arrival = 1700000000;
    m.mark = '*';
    m.sender = "<lat@client.example>";
    m.reason = "Deferred: 4.2.0 mailbox full";
    m.recipients.push_back({"<lat2@dest.example>", "deferred"});
    ListedMessage h;
    h.id = "1K1K61XJN38RD401";
    h.hidden = true;
    std::string out = format_listing("/var/spool/mqueue", {m, h});
    std::string head =
        "\t\t/var/spool/mqueue (2 requests)\n"
        "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n"
        "1K1K61XGH9YRD400*    1012 ";
    cr_expect_eq(out.substr(0, head.size()), head);
    cr_expect_neq(out.find(" <lat@client.example>\n                 (Deferred: 4.2.0 mailbox "
                           "full)\n\t\t\t\t\t <lat2@dest.example>\n"),
                  std::string::npos);
    cr_expect_neq(out.find("1K1K61XJN38RD401 (permission denied)\n"), std::string::npos);
    cr_expect_eq(out.substr(out.size() - 20), "\t\tTotal requests: 2\n");
    std::string one = format_listing("/q", {m});
    cr_expect_neq(one.find("(1 request)"), std::string::npos);
}

Test(mailq, host_status_per_destination_of_deferred_recipients) {
    cr_expect_eq(format_host_status({}), "");  // nothing deferred: no output
    std::vector<ListedMessage> ms(2);
    ms[0].recipients = {{"<a@Far.Example>", "deferred", 1300, "4.4.1 Connection refused"},
                        {"<b@near.example>", "pending", 0, ""},
                        {"<c@far.example>", "deferred", 1100, "4.4.1 timed out"}};
    ms[1].recipients = {{"<d@near.example>", "deferred", 900, "4.2.0 try later\r\nX"}};
    auto hs = host_statuses(ms, 1000);
    cr_assert_eq(hs.size(), 2u);
    cr_expect_eq(hs[0].host, "far.example");
    cr_expect_eq(hs[0].recipients, 2u);
    cr_expect_eq(hs[0].next_try_in, 100u);
    cr_expect_eq(hs[0].result, "4.4.1 Connection refused");
    cr_expect_eq(hs[1].host, "near.example");
    cr_expect_eq(hs[1].next_try_in, 0u);
    std::string out = format_host_status(hs);
    cr_expect(out.find("Hostname") != std::string::npos);
    cr_expect(out.find(" far.example                                 00:01:40 4.4.1 Connection "
                       "refused (2 recipients)\n") != std::string::npos,
              "%s", out.c_str());
    cr_expect(out.find("now 4.2.0 try later??X (1 recipient)\n") != std::string::npos, "%s",
              out.c_str());
}

Test(mailq, the_date_is_ctimes_with_a_space_padded_day) {
    // sendmail prints the first 16 characters of ctime(3): "Fri Dec  4 12:00".
    setenv("TZ", "UTC", 1);
    tzset();
    ListedMessage m;
    m.id = "1K1K61XGH9YRD400";
    m.size = 5;
    m.arrival = 1796400000;  // Fri, 4 Dec 2026 16:00:00 UTC
    m.sender = "a@b";
    std::string out = format_listing("/q", {m});
    cr_expect_neq(out.find("1K1K61XGH9YRD400        5 Fri Dec  4 16:00 a@b\n"), std::string::npos,
                  "%s", out.c_str());
}
