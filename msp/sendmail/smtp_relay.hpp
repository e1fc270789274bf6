// smtp_relay.hpp - bookkeeping for sendmail -bs (submit.cpp's smtp_on_stdio), which
// relays its caller's SMTP dialogue to smtpd: how many replies the caller is still
// owed. A caller that pipes a whole dialogue in and closes its end must still see every
// reply, as sendmail answers each command before it reads the next; smtpd is told of the
// end of input (a half close, after which it may drop what it has not answered) only
// once every reply is in. Pure: fed the bytes that went each way, no I/O.
//
// Counting rule: the greeting, and each line sent outside a message's data, is owed one
// final reply (a multi-line reply counts once); "DATA" is owed its 354, and the data
// then runs to the line ".", owed the end-of-data reply. A DATA that smtpd refuses
// only makes the count come out low, which ends the wait early, never late. Lines that
// cannot be counted this way (BDAT's octets, STARTTLS) turn counting off: answered()
// is then true at once, as before.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tegami::msp {

class ReplyCounter {
  public:
    void client_sent(std::string_view bytes);  // as sent to smtpd (CRLF lines)
    void server_sent(std::string_view bytes);  // as received from smtpd
    // Every reply owed so far has arrived (or counting is off).
    bool answered() const { return !counting_ || received_ >= owed_; }

  private:
    void client_line(std::string_view line);
    bool counting_ = true;
    bool in_data_ = false;
    uint64_t owed_ = 1;  // the greeting
    uint64_t received_ = 0;
    std::string client_part_, server_part_;  // incomplete last lines
};

}  // namespace tegami::msp
