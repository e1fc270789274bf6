// smtp_relay_test.cpp - tests for msp/sendmail/smtp_relay.cpp: how many replies a
// sendmail -bs caller is still owed. Uncountable dialogues first.
#include <criterion/criterion.h>

#include "msp/sendmail/smtp_relay.hpp"

using namespace tegami::msp;

Test(reply_counter, uncountable_dialogues_do_not_wait) {
    ReplyCounter bdat;
    bdat.client_sent("EHLO x\r\nBDAT 5 LAST\r\nhello");
    cr_expect(bdat.answered());
    ReplyCounter tls;
    tls.client_sent("STARTTLS\r\n");
    cr_expect(tls.answered());
    ReplyCounter huge;
    huge.client_sent(std::string(70000, 'x'));
    cr_expect(huge.answered());
}

Test(reply_counter, a_piped_dialogue_is_owed_every_reply) {
    ReplyCounter c;
    cr_expect(!c.answered());  // the greeting
    c.client_sent("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: s\r\n\r\n");
    c.client_sent("QUIT\r\n.\r\nQUIT\r\n");  // "QUIT" inside the data is data
    c.server_sent("220 hi\r\n250-x\r\n250-PIPELINING\r\n250 SIZE\r\n250 ok\r\n25");
    cr_expect(!c.answered());
    c.server_sent("0 ok\r\n354 go\r\n");
    cr_expect(!c.answered());
    c.server_sent("250 queued\r\n");
    cr_expect(!c.answered());  // QUIT's reply is still owed
    c.server_sent("221 bye\r\n");
    cr_expect(c.answered());
}

Test(reply_counter, a_refused_data_ends_the_wait_early_not_late) {
    ReplyCounter c;
    c.client_sent("HELO x\nMAIL FROM:<a@b>\nRCPT TO:<bad>\ndata\nbody line\n.\n");
    c.server_sent("220 hi\r\n250 x\r\n250 ok\r\n550 no\r\n554 no valid recipients\r\n");
    c.server_sent("500 what\r\n");
    cr_expect(c.answered());
}
