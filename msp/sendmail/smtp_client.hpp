// smtp_client.hpp - the small blocking SMTP client sendmail speaks to smtpd over the
// local (MSP) Unix socket: one message per transaction, dot-stuffing on the way out,
// each reply read with a timeout. Used by the submission path, the client-queue runner
// and -bv. A short-lived command: blocking I/O with poll() timeouts is all it needs.
//
// Trusts smtpd's replies only as far as their syntax: a malformed or oversized reply
// is a temporary failure (the client-queue file stays).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/core/result.hpp"
#include "msp/sendmail/queue_file.hpp"

namespace tegami::msp {

struct SmtpReply {
    int code = 0;      // 0: no reply (connection lost, timeout, garbage)
    std::string text;  // lines joined with "\n", codes removed
    bool positive() const { return code >= 200 && code < 400; }
    bool permanent() const { return code >= 500; }
};

class SmtpClient {
  public:
    // fd: a connected stream socket (not owned). verbose: echo the dialogue to stdout
    // as sendmail -v does (">>> " for what we send).
    SmtpClient(int fd, bool verbose, int timeout_seconds = 300)
        : fd_(fd), verbose_(verbose), timeout_(timeout_seconds) {}

    SmtpReply read_reply();
    bool send_line(std::string_view line);  // adds CRLF
    // Sends a normalized message dot-stuffed, then ".".
    bool send_data(std::string_view message);
    SmtpReply command(std::string_view line);
    const std::vector<std::string>& ehlo_keywords() const { return ehlo_; }
    bool has_extension(std::string_view kw) const;
    // Greeting + EHLO; false (with the reply in r) when the server is not usable.
    bool open(std::string_view helo, SmtpReply& r);

  private:
    bool write_all(std::string_view s);
    int fd_;
    bool verbose_;
    int timeout_;
    std::string in_;
    std::vector<std::string> ehlo_;
};

// The outcome of one message sent through an open client.
// Every recipient ends in one of three places: taken (smtpd answered 250 after the
// data of its transaction), refused for good, or deferred (a 4xx for its RCPT, or for
// the MAIL, DATA or end of data of its transaction, or a lost connection).
struct SendOutcome {
    bool accepted = false;   // some recipient was taken: durably queued by smtpd
    bool temporary = false;  // some recipient is deferred: it must be tried again later
    // Recipients refused for good, with smtpd's reply ("550 5.1.1 <x>: ...").
    std::vector<std::pair<std::string, SmtpReply>> refused;
    std::vector<std::string> deferred;  // in the message's order
    SmtpReply failure;                  // the last reply that kept a recipient from being taken
};

// RFC 5321 4.5.3.1.8: a server takes at least 100 recipients per transaction; more go
// in further transactions.
constexpr size_t kRecipientsPerTransaction = 100;

// MAIL, RCPT for each recipient, DATA and the message; RSET after a failure; one
// transaction per kRecipientsPerTransaction recipients. DSN parameters are sent only
// when smtpd announces DSN. A 4xx for one RCPT defers that recipient only (the others
// are sent, as sendmail's MSP does); a failure of MAIL, DATA or the end of data
// applies to every recipient of that transaction not refused already; after a lost
// connection every recipient left is deferred.
SendOutcome send_message(SmtpClient& c, const QueuedMessage& m);

// sysexits code for a refusal (sendmail's mapping): 5.1.0/5.1.1/5.1.6 -> EX_NOUSER,
// 5.1.2 -> EX_NOHOST, 5.1.3/5.1.7/5.6.0 -> EX_DATAERR, other 5xx -> EX_UNAVAILABLE;
// a 4xx or no reply -> EX_TEMPFAIL.
int exit_for_reply(const SmtpReply& r);

}  // namespace tegami::msp
