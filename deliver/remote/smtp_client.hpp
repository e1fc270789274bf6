// smtp_client.hpp - the SMTP client protocol as a state machine with no I/O (RFC 5321,
// 3207 STARTTLS, 2920 PIPELINING, 1870 SIZE, 6152 8BITMIME, 6531 SMTPUTF8, 3461 DSN,
// 4954 AUTH), and its LMTP variant (RFC 2033: LHLO, no HELO fallback, and after the end
// of data one reply per accepted recipient, in RCPT order). The connection driver
// (deliver/remote/session.cpp) feeds it the bytes it reads and writes out what output() holds; the
// client says through event() when the driver must act: start TLS, a message is done (results
// ready, the connection can take the next one), or the session is over. Scripted-I/O unit tests
// drive it the same way. What the client writes is an OutBuf: its own command text and,
// for a body of clean CRLF lines, views into the stored body itself, so a message body is
// never copied in user space on its way to the socket (the driver writes them with one
// sendmsg per batch).
//
// Trusts nothing from the server: a malformed or overlong reply line, a reply with no
// command waiting for it, or a reply code out of place ends the session as a temporary
// failure. Invariants: every command written ends in CRLF and holds no CR or LF of its
// own (addresses and parameters are checked before use); the body goes out through
// append_body (lib/mail/dot_stuff.hpp: never a bare LF); each recipient of a message gets exactly
// one outcome; AUTH is sent only when TLS is active.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::remote {

// DSN NOTIFY bits (RFC 3461 4.1), the values of lib/ipc/messages.hpp's DeliverRcpt.
constexpr uint32_t kNotifyNever = 1u << 0;
constexpr uint32_t kNotifySuccess = 1u << 1;
constexpr uint32_t kNotifyFailure = 1u << 2;
constexpr uint32_t kNotifyDelay = 1u << 3;

// Bytes to write, in order: owned text, and views the writer keeps valid until written
// (the message body: MessageSpec::body outlives its transaction).
class OutBuf {
  public:
    void text(std::string_view s);
    void ref(std::string_view s);
    // body is a view of a read-only shared file mapping whose views are written in body
    // order (every octet before a written view's end is written or was copied): the pages
    // of body up to what has been written are given back, every kReleaseBatch octets and
    // when the buffer empties. Cleared by own() and clear().
    void release_region(std::string_view body);
    bool empty() const { return bytes_ == 0; }
    size_t size() const { return bytes_; }
    std::string flat() const;  // all of it, as one string (tests, TLS staging)
    void clear();
    void append(OutBuf&& o);  // moves o's pieces to the end; o is left empty
    // Fills up to max iovecs with what is still to write; returns how many.
    size_t gather(iovec* v, size_t max) const;
    // Copies up to max bytes of what is still to write to out (TLS records).
    void copy_front(std::string& out, size_t max) const;
    void consume(size_t n);  // n bytes were written
    // Copies the referenced bytes in: nothing points outside the buffer any more.
    void own();
    static constexpr size_t kReleaseBatch = 256 * 1024;

  private:
    void written(std::string_view s, bool all);  // a view s was written (all: nothing left)
    // Gives back the region's pages up to written_to_ once a batch is due (all: now).
    void release_written(bool all);
    struct Piece {
        std::string text;
        std::string_view ref;
        bool is_ref = false;
        std::string_view view() const { return is_ref ? ref : std::string_view(text); }
    };
    std::deque<Piece> pieces_;
    size_t off_ = 0;  // into pieces_.front()
    size_t bytes_ = 0;
    std::string_view region_;           // release_region()
    const char* released_ = nullptr;    // region_'s pages are given back up to here
    const char* written_to_ = nullptr;  // the end of the last view of region_ written
};

struct RcptSpec {
    std::string address;
    std::string orcpt;    // "type;address" decoded ("rfc822;user@example.org") or empty
    uint32_t notify = 0;  // 0: not given
};

struct MessageSpec {
    std::string sender;  // empty for <>
    std::vector<RcptSpec> rcpts;
    bool eight_bit = false;  // BODY=8BITMIME
    bool smtputf8 = false;
    std::string envid;      // DSN ENVID, empty when not given
    std::string ret;        // "FULL", "HDRS" or empty
    std::string_view body;  // the stored body (CRLF lines); must outlive the transaction
    // body is a view of a read-only shared file mapping: the pages already sent are given
    // back as the send goes on (a later read faults them in again from the file). Never
    // for a body in anonymous memory, whose pages MADV_DONTNEED would zero.
    bool body_mapped = false;
};

// The result for one recipient, or for a whole session: class 2 (sent), 4 (try again
// later) or 5 (failed), the enhanced status code and a text for logs and bounces.
struct Outcome {
    int status = 4;
    std::string dsn;
    std::string text;
    bool peer_dsn = false;  // status 2 from a peer that offered DSN (it got NOTIFY/ORCPT)
};

struct ClientSettings {
    std::string helo_name;      // our name in EHLO/HELO
    std::string peer;           // "mx.example.org[192.0.2.1]:25", for texts
    bool tls_possible = false;  // a client TLS context exists: send STARTTLS when offered
    bool tls_required = false;  // no TLS: a temporary failure (4.7.4/4.7.5)
    bool tls_active = false;    // implicit TLS (port 465): already encrypted
    std::string auth_user, auth_password;
    std::vector<std::string> auth_mechanisms;  // ours, in preference order ("PLAIN", "LOGIN")
    bool lmtp = false;                         // RFC 2033 instead of SMTP
    unsigned reply_timeout = 0;  // caps every reply wait (seconds); 0: RFC 5321's times
};

// What the server announced in its EHLO reply.
struct Extensions {
    bool esmtp = false;
    bool pipelining = false;
    bool starttls = false;
    bool eight_bit = false;
    bool smtputf8 = false;
    bool dsn = false;
    bool size = false;
    uint64_t size_limit = 0;  // 0: no limit announced
    std::vector<std::string> auth;
};

// Pure helpers, exposed for tests.
// One reply line "ddd[ -]text": false when malformed.
bool parse_reply_line(std::string_view line, int& code, bool& last, std::string_view& text);
// RFC 3461 4 xtext.
std::string xtext_encode(std::string_view s);
// The EHLO keywords this client uses, from the reply lines after the first.
Extensions parse_ehlo(const std::vector<std::string>& lines);
// False when s is unfit for a command line (CR, LF, NUL, other controls, or over 512).
bool safe_for_command(std::string_view s);
// Whether a message that arrived with SMTPUTF8 is internationalized (RFC 6530): a non-ASCII
// octet in the sender, ENVID, a recipient, or the header section of the body. Not a UTF-8
// ORCPT: it goes out as RFC 6533 utf-8-addr-xtext, which needs no SMTPUTF8.
// Only such a message is refused to a peer without SMTPUTF8 (RFC 6531 3.5) and sent with
// the SMTPUTF8 parameter (3.4: not when the client knows it is not needed); one that
// arrived without SMTPUTF8 never is. Non-ASCII in the body after the header is 8BITMIME's.
bool needs_smtputf8(const MessageSpec& m);

class SmtpClient {
  public:
    enum class Event {
        none,          // keep reading (and writing output())
        start_tls,     // write output(), then handshake, then call tls_done()
        message_done,  // take_results(); then send_message() or quit()
        idle,          // ready for send_message() or quit()
        closed,        // session over: session_outcome() says why (status 2 after QUIT)
    };

    explicit SmtpClient(ClientSettings s);

    // The first message, sent as soon as the session is ready (call before feeding).
    void send_message(MessageSpec m);
    void quit();
    // Bytes read from the server.
    void feed(std::string_view data);
    void tls_done(bool ok, std::string_view why = {});
    // The connection closed or timed out: the session fails with the step's context.
    void connection_lost(std::string_view why);

    Event event() const { return event_; }
    OutBuf& output() { return out_; }
    std::vector<Outcome> take_results();
    const Outcome& session_outcome() const { return session_; }
    const Extensions& extensions() const { return ext_; }
    bool tls_active() const { return s_.tls_active; }
    // MAIL commands written so far (the session times each transaction's start by it).
    uint64_t mails() const { return mails_; }
    // Seconds to wait for the next reply (RFC 5321 4.5.3.2), 0 when no reply is due.
    unsigned timeout() const;
    // True when a reused connection may take another message.
    bool reusable() const { return event_ == Event::idle || event_ == Event::message_done; }

  private:
    enum class Cmd {
        greeting,
        ehlo,
        helo,
        starttls,
        auth,
        auth_user,
        auth_pass,
        mail,
        rcpt,
        data,
        dot,
        rset,
        quit
    };
    struct Pending {
        Cmd cmd;
        size_t rcpt = 0;
    };

    void on_reply(int code, const std::vector<std::string>& lines);
    void after_hello();
    void session_ready();
    void begin_message();
    void send_rcpt(size_t i);
    void send_data_or_finish();
    void finish_message();
    void write(std::string_view line);
    void append_body();  // the DATA form of msg_.body, by reference when it is clean
    void expect(Cmd c, size_t rcpt = 0) { pending_.push_back(Pending{c, rcpt}); }
    void fail(int status, std::string dsn, std::string text);
    void fail_reply(int code, const std::vector<std::string>& lines, const char* context);
    const char* context(Cmd c) const;  // the command's name in texts ("LHLO" for LMTP)
    void set_all(const Outcome& o, bool only_accepted);
    Outcome reply_outcome(int code, const std::vector<std::string>& lines,
                          const char* context) const;
    std::string mail_command() const;
    std::string rcpt_command(const RcptSpec& r) const;
    bool start_auth();

    ClientSettings s_;
    Extensions ext_;
    Event event_ = Event::none;
    uint64_t mails_ = 0;
    std::string in_;
    OutBuf out_;
    std::deque<Pending> pending_;
    std::vector<std::string> reply_lines_;
    int reply_code_ = 0;
    bool ready_ = false;  // greeted, EHLO/TLS/AUTH done
    bool quitting_ = false;
    bool tls_refused_ = false;  // STARTTLS answered with an error: go on in the clear
    bool have_message_ = false;
    MessageSpec msg_;
    std::vector<Outcome> results_;
    std::vector<bool> accepted_;
    bool mail_ok_ = false;
    bool data_sent_ = false;
    size_t dot_replies_ = 0;  // LMTP: end-of-data replies still due
    Outcome session_;
};

}  // namespace tegami::remote
