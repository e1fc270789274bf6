// message_format.hpp - the bytes local delivery writes for one message: the mbox From_
// line, the Return-Path and Delivered-To headers, and the body converted from the
// queue's CRLF lines to the LF lines of Unix mailboxes (with mboxrd ">From " quoting for
// mbox). Pure functions over strings, and MessagePieces, which makes the same bytes a
// piece at a time for the mbox, Maildir and program writers (mbox.cpp, maildir.cpp,
// delivery.cpp) so that no writer holds a whole message.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::local {

// One message as delivered to one local user.
struct MailMessage {
    std::string_view sender;     // envelope sender; empty for the null reverse path
    std::string_view recipient;  // for Delivered-To: the address this copy is for
    std::string_view body;       // as queued: header and body, CRLF lines
    std::string_view queue_id;   // for the mailbox journal; may be empty
    // body is the view of a UniqueMapping (a shared mapping of the queue's body file or
    // memfd): a writer may drop the pages it has read (UniqueMapping::drop_pages).
    bool mapped = false;
};

// "From <sender or MAILER-DAEMON> <asctime-style local date>\n" (white space and control
// characters in the sender become '_' so the line stays one field).
std::string from_line(std::string_view sender, time_t when);

// "Return-Path: <sender>\nDelivered-To: recipient\n" (control characters become '?').
std::string delivery_headers(std::string_view sender, std::string_view recipient);

// Appends body with CRLF turned into LF; with mboxrd, every line matching ^>*"From "
// gets one more '>'. A non-empty body that does not end in a newline gets one.
void append_body(std::string& out, std::string_view body, bool mboxrd);

// The same conversion a piece at a time: appends whole lines of body, converted, until
// out holds at least limit octets or body is used up, and removes them from body. A
// line is never split (the quoting needs whole lines), so out may pass limit by one line.
void append_body_part(std::string& out, std::string_view& body, bool mboxrd, size_t limit);

// The size of what append_body appends for body, without making it.
size_t converted_body_size(std::string_view body, bool mboxrd);

// What loop detection needs from the message header (the lines before the first empty
// line): the number of Received fields and every Delivered-To value (lower-cased,
// trimmed, continuation lines joined). Pure; header names without regard to case.
struct HeaderFacts {
    size_t received = 0;
    std::vector<std::string> delivered_to;
    // The scan met the empty line that ends the header section (a scan of a prefix of a
    // message gives the facts of the whole message when it did).
    bool ended = false;
    bool delivered_to_has(std::string_view addr) const;
};
HeaderFacts scan_headers(std::string_view message);

// A whole mbox entry: From_ line, headers, quoted body, one blank line.
std::string mbox_entry(const MailMessage& m, time_t when);
// mbox_entry(m, when).size(), without making it.
size_t mbox_entry_size(const MailMessage& m, time_t when);
// A whole Maildir file: headers and the body, no From_ line, no quoting. Also what a
// program target reads on its standard input.
std::string maildir_file(const MailMessage& m);

// How many octets a writer makes before it writes them out.
constexpr size_t kWritePiece = 256 * 1024;

// One message's mbox entry (mbox_entry) or Maildir file (maildir_file), made a piece at a
// time: the same octets in the same order, whatever the limits asked for. A mapped body
// (MailMessage::mapped) gives back the pages already converted. Keeps a view of m's
// strings: they must outlive it.
class MessagePieces {
  public:
    enum class Form { mbox, maildir };
    MessagePieces(const MailMessage& m, Form form, time_t when = 0);
    // Appends the next octets of the message to out, until out holds at least limit
    // octets or the message is done; at least one line of the body a call. Lines are not
    // split (the mbox quoting needs whole lines): a piece may pass limit by one line.
    void append(std::string& out, size_t limit);
    bool done() const { return done_; }

  private:
    std::string head_;       // From_ line (mbox) and the delivery headers; emptied once appended
    std::string_view body_;  // what is left of the body
    bool mapped_;
    bool mbox_;
    bool done_ = false;
};

}  // namespace tegami::local
