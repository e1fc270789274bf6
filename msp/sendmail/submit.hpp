// submit.hpp - the sendmail modes that talk to smtpd over the local (MSP) socket:
// submission from standard input (-bm, -t), the client-queue runner (-Ac -q), SMTP on
// standard input/output (-bs) and address verification (-bv). Called by main.cpp with
// the caller's identity; each returns the process exit status (sysexits).
#pragma once

#include "lib/conf/config.hpp"
#include "msp/sendmail/caller.hpp"
#include "msp/sendmail/options.hpp"

namespace tegami::msp {

int submit_message(const Options& o, const Config& cfg, Caller& caller);
int run_client_queue(const Options& o, const Config& cfg, Caller& caller);
int smtp_on_stdio(const Options& o, const Config& cfg, Caller& caller);
int verify_addresses(const Options& o, const Config& cfg, Caller& caller);

// The envelope sender: -f/-r as given ("<>" for the null sender, brackets removed,
// qualified with the hostname when it has no domain), else login@hostname.
std::string envelope_sender(const Options& o, const Config& cfg, const Caller& c);
// A recipient as sendmail qualifies it: "user" -> "user@hostname"; "<a@b>" -> "a@b".
std::string qualify(std::string_view addr, const std::string& hostname);

}  // namespace tegami::msp
