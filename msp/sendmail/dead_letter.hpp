// dead_letter.hpp - sendmail's last resort for a message it could neither hand on nor
// mail back: the file dead.letter in the submitter's home directory (from the passwd
// entry, never $HOME: the environment is cleared), an mbox entry appended in mode 0600,
// as sendmail 8.17 does with the default ErrorMode=print (observed: "/home/u/dead.letter...
// Saved message in /home/u/dead.letter" on standard output, exit status unchanged).
//
// Called by the submission child (submit.cpp) only, after the MSP group was given up:
// the file is written with the caller's own uid and nothing else. Trusts nothing in the
// message; the path is the passwd home + "/dead.letter", opened O_NOFOLLOW.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/core/result.hpp"

namespace tegami::msp {

// One mbox entry: "From <sender> <asctime>\n", "Return-Path: <sender>\n", the message
// (normalized, CRLF lines) with LF line ends and body lines starting "From " escaped as
// ">From ", then an empty line. sender "" is shown as MAILER-DAEMON.
std::string dead_letter_entry(std::string_view sender, uint64_t when, std::string_view message);

// Appends the entry to <home of uid>/dead.letter (created 0600, locked while written,
// fsync'd). Returns the path, or the reason it could not be saved.
Result<std::string> save_dead_letter(uid_t uid, std::string_view sender, std::string_view message);

}  // namespace tegami::msp
