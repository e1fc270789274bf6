// received.hpp - the Received header smtpd prepends to each message (RFC 5321 4.4,
// RFC 5322 3.6.7) and RFC 5322 dates. Pure functions, called by the smtpd session at
// DATA. The HELO name and the recipient come from the client: the caller passes
// only parsed values (a HELO word of printable ASCII, a parsed path); control
// characters are replaced anyway so the header stays one header.
//
//   Received: from HELO (NAME [ADDR])
//   \tby HOSTNAME (Tegami) with ESMTP id QID
//   \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)     [under TLS only]
//   \t(authenticated as LOGIN)                          [smtpd_received_login only]
//   \tfor <rcpt>; Tue, 3 Jun 2025 12:00:00 +0200
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace tegami {

struct ReceivedInfo {
    std::string_view helo;
    std::string_view client_name;  // "localhost" / "unknown"
    std::string_view client_addr;  // "127.0.0.1", "::1"
    std::string_view hostname;
    std::string_view protocol;  // "SMTP", "ESMTP", "ESMTPS", "ESMTPSA", "UTF8SMTPS" ...
                                // (RFC 3848, RFC 6531)
    std::string_view tls;       // "TLSv1.3 TLS_AES_256_GCM_SHA384", or empty
    std::string_view queue_id;
    std::string_view login;      // the AUTH login, only when smtpd_received_login is set
    std::string_view recipient;  // empty unless the message has exactly one
    std::string_view date;       // rfc5322_date()
};

std::string received_header(const ReceivedInfo& info);
// For a message submitted on this host through the sendmail command (smtpd's local
// listener), as sendmail's MSP writes it; submitter is the user name from the peer's
// uid ("alice", or "uid 1234" when it has no passwd entry), never the client's words:
//   Received: (from alice@localhost)
//   \tby HOSTNAME (Tegami) id QID
//   \tfor <rcpt>; DATE
std::string received_local_header(const ReceivedInfo& info, std::string_view submitter);

// "Tue, 3 Jun 2025 12:00:00 +0200" for a broken-down local time and its offset east
// of UTC in seconds.
std::string rfc5322_date(const std::tm& tm, long gmtoff);
// The current local time in that form.
std::string rfc5322_date_now();

}  // namespace tegami
