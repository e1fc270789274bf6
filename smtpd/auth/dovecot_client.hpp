// dovecot_client.hpp - the client side of Dovecot's authentication protocol (version
// 1.2, the "auth-client" socket), used by tegami-auth when auth_backend = dovecot: one
// Unix-socket connection in tegami-auth's event loop, nonblocking, carrying every SASL
// exchange of every smtpd session at once (each has its own numeric id). Called by
// auth_server.cpp only; the line parser and formatter are pure and unit-tested.
//
// The protocol, as Dovecot documents it: on connect the server sends VERSION, MECH
// (one per mechanism), SPID, CUID, COOKIE and DONE; the client sends "VERSION\t1\t2" and
// "CPID\t<pid>". Then "AUTH\t<id>\t<mech>\tservice=smtp\t[secured]\trip=..\t[resp=b64]"
// starts an exchange; the server answers "CONT\t<id>\t<b64>" (the client replies with
// "CONT\t<id>\t<b64>"), "OK\t<id>\tuser=<name>[\tresp=<b64>]" or
// "FAIL\t<id>\t[reason=..]\t[temp]\t[user=..]"; "CANCEL\t<id>" abandons one. Values are
// tab-escaped (\001 followed by 1, t, r or n).
//
// Trusts Dovecot (a local daemon the administrator configured) for the verdict and the
// login name in user=; trusts nothing else it sends: a line that does not parse or over
// kMaxDovecotLine, a malformed answer or a handshake without VERSION 1 closes the
// connection (an answer for an id no longer in flight is dropped: a CANCEL may cross it).
// Invariants: results are delivered from the event loop, never from inside start()/step(); a lost
// connection or a timeout ends every exchange in flight with `temp` (Dovecot forgot them), and the
// next start() connects anew; no response, password or challenge is logged.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/core/c_ptr.hpp"
#include "smtpd/auth/mechanisms.hpp"

namespace tegami::auth {

constexpr size_t kMaxDovecotLine = 65536;

// ---- the pure protocol pieces (tests call these)

// One line from the server (without its LF), split at tabs, each field unescaped.
struct DovecotLine {
    std::string verb;
    std::vector<std::string> args;
};
std::optional<DovecotLine> parse_dovecot_line(std::string_view line);
// Dovecot's tab escaping: \001 -> \0011, \t -> \001t, \r -> \001r, \n -> \001n.
std::string dovecot_escape(std::string_view v);
std::optional<std::string> dovecot_unescape(std::string_view v);

// What an OK/FAIL/CONT line for one exchange means for the SASL conversation. An OK
// with resp= (SCRAM's server-final) is a challenge first: `final_ok` then holds the login
// to report once the client acknowledged it with an empty response.
struct DovecotAnswer {
    StepResult result;
    std::optional<std::string> final_ok;
};
// nullopt: the line is not a well-formed answer (bad base64, no user= on OK, ...).
std::optional<DovecotAnswer> interpret_answer(const DovecotLine& l);

struct DovecotRequest {
    std::string mechanism;
    std::optional<std::string> initial;  // raw bytes
    std::string client_addr;
    std::string local_addr;   // lip=: the address the client connected to (passdb's local_ip)
    uint32_t local_port = 0;  // lport=, 0: not sent
    bool secured = false;
};
// "AUTH\t7\tPLAIN\tservice=smtp\tsecured\tno-penalty\tlip=192.0.2.25\trip=192.0.2.1
//  \tlport=587\tresp=AGFsaWNlAHg=\n" (one line)
std::string format_auth(uint32_t id, const DovecotRequest& r);

// ---- the connection

class DovecotClient {
  public:
    using Done = std::function<void(StepResult)>;
    DovecotClient(event_base* base, std::string socket_path, time_t timeout);
    ~DovecotClient();
    DovecotClient(const DovecotClient&) = delete;
    DovecotClient& operator=(const DovecotClient&) = delete;

    // Starts an exchange; every answer (a challenge, then the final one) goes to done,
    // from the event loop. Returns the id for step() and cancel().
    uint32_t start(DovecotRequest r, Done done);
    // The client's next response for exchange id (after a cont answer).
    void step(uint32_t id, std::string response);
    // Forgets id (no further answer is delivered); harmless for an id already done.
    void cancel(uint32_t id);
    void configure(std::string socket_path, time_t timeout);
    bool connected() const { return state_ == State::ready; }
    size_t in_flight() const { return requests_.size(); }

  private:
    enum class State { closed, handshake, ready };
    struct Request {
        DovecotRequest req;
        Done done;
        bool sent = false;                   // AUTH went out on this connection
        std::optional<std::string> pending;  // a CONT queued before the handshake ended
        std::optional<std::string> final_ok;
        bool finished = false;  // the final answer is queued for delivery
        bool waiting = false;   // for Dovecot's answer, until deadline
        time_t deadline = 0;
    };

    static void on_read_cb(bufferevent*, void* arg) noexcept;
    static void on_event_cb(bufferevent*, short what, void* arg) noexcept;
    static void on_timer_cb(evutil_socket_t, short, void* arg) noexcept;
    static void on_deliver_cb(evutil_socket_t, short, void* arg) noexcept;
    void connect();
    void on_read();
    void on_line(std::string_view line);
    void handshake_line(const DovecotLine& l);
    void answer_line(const DovecotLine& l);
    void send_auth(uint32_t id, Request& r);
    void write(const std::string& s);
    void disconnect(const std::string& why);
    void deliver(uint32_t id, StepResult r, bool last);  // queued, from the loop
    void run_deliveries();
    void arm_timer();
    void check_deadlines();

    event_base* base_;
    std::string path_;
    time_t timeout_;
    State state_ = State::closed;
    BuffereventPtr bev_;
    EventPtr timer_;
    EventPtr deliver_ev_;
    time_t handshake_deadline_ = 0;
    bool got_version_ = false;
    std::vector<std::string> mechs_;
    std::unordered_map<uint32_t, Request> requests_;
    struct Delivery {
        uint32_t id;
        StepResult result;
    };
    std::vector<Delivery> deliveries_;
    uint32_t next_id_ = 1;
};

}  // namespace tegami::auth
