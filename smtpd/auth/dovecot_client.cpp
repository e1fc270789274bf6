// dovecot_client.cpp - see dovecot_client.hpp.
#include "smtpd/auth/dovecot_client.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "lib/core/log.hpp"
#include "lib/sasl/base64.hpp"

namespace tegami::auth {

namespace {

StepResult temp(std::string reason) {
    StepResult r;
    r.status = StepStatus::temp;
    r.reason = std::move(reason);
    return r;
}

// A value from Dovecot as it may appear in a log line.
std::string printable(std::string_view v) {
    std::string out;
    for (char c : v.substr(0, 200))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

bool parse_id(std::string_view s, uint32_t& id) {
    if (s.empty() || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v == 0 || v > UINT32_MAX) return false;
    id = static_cast<uint32_t>(v);
    return true;
}

}  // namespace

std::string dovecot_escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\001':
                out += "\0011";
                break;
            case '\t':
                out += "\001t";
                break;
            case '\r':
                out += "\001r";
                break;
            case '\n':
                out += "\001n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::optional<std::string> dovecot_unescape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '\001') {
            out += v[i];
            continue;
        }
        if (++i == v.size()) return std::nullopt;
        switch (v[i]) {
            case '1':
                out += '\001';
                break;
            case 't':
                out += '\t';
                break;
            case 'r':
                out += '\r';
                break;
            case 'n':
                out += '\n';
                break;
            default:
                return std::nullopt;
        }
    }
    return out;
}

std::optional<DovecotLine> parse_dovecot_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.size() > kMaxDovecotLine) return std::nullopt;
    DovecotLine out;
    size_t start = 0;
    bool first = true;
    for (;;) {
        size_t tab = line.find('\t', start);
        std::string_view f = line.substr(start, tab == std::string_view::npos ? tab : tab - start);
        auto u = dovecot_unescape(f);
        if (!u) return std::nullopt;
        if (first) {
            if (u->empty()) return std::nullopt;
            for (char c : *u)
                if (c < 'A' || c > 'Z') return std::nullopt;
            out.verb = std::move(*u);
            first = false;
        } else {
            out.args.push_back(std::move(*u));
        }
        if (tab == std::string_view::npos) break;
        start = tab + 1;
    }
    return out;
}

std::optional<DovecotAnswer> interpret_answer(const DovecotLine& l) {
    DovecotAnswer a;
    if (l.args.empty()) return std::nullopt;
    if (l.verb == "CONT") {
        if (l.args.size() != 2) return std::nullopt;
        auto c = sasl::base64_decode(l.args[1]);
        if (!c) return std::nullopt;
        a.result.status = StepStatus::cont;
        a.result.challenge = std::move(*c);
        return a;
    }
    std::optional<std::string> user, resp, reason, code;
    bool is_temp = false;
    bool refused = false;  // OK with nologin or proxy: verified, but no access here
    for (size_t i = 1; i < l.args.size(); ++i) {
        std::string_view f = l.args[i];
        if (f.rfind("user=", 0) == 0)
            user = std::string(f.substr(5));
        else if (f.rfind("resp=", 0) == 0)
            resp = std::string(f.substr(5));
        else if (f.rfind("reason=", 0) == 0)
            reason = std::string(f.substr(7));
        else if (f.rfind("code=", 0) == 0)
            code = std::string(f.substr(5));
        else if (f == "temp")
            is_temp = true;
        else if (f == "nologin" || f.rfind("nologin=", 0) == 0 || f == "proxy" ||
                 f.rfind("proxy=", 0) == 0)
            refused = true;
    }
    // Dovecot 2.3 says a temporary failure with code=temp_fail; older ones with "temp".
    if (code == "temp_fail") is_temp = true;
    if (l.verb == "OK" && refused) {
        // Dovecot's protocol: OK only says the credentials were right; nologin (an
        // account refused, or referred elsewhere with host=) and proxy must be refused
        // exactly as a FAIL.
        a.result.status = StepStatus::fail;
        a.result.reason = "Dovecot: " + (reason ? printable(*reason)
                                                : std::string("login not allowed (nologin)"));
        return a;
    }
    if (l.verb == "OK") {
        if (!user || user->empty()) return std::nullopt;
        for (unsigned char c : *user)
            if (c < 0x21 || c == 0x7f) return std::nullopt;  // a login a log line can carry
        if (resp && !resp->empty()) {
            auto c = sasl::base64_decode(*resp);
            if (!c) return std::nullopt;
            a.result.status = StepStatus::cont;
            a.result.challenge = std::move(*c);
            a.final_ok = std::move(*user);
            return a;
        }
        a.result.status = StepStatus::ok;
        a.result.login = std::move(*user);
        return a;
    }
    if (l.verb == "FAIL") {
        a.result.status = is_temp ? StepStatus::temp : StepStatus::fail;
        std::string why = reason    ? printable(*reason)
                          : is_temp ? std::string("temporary failure")
                          : code    ? printable(*code)  // authz_fail, user_disabled, ...
                                    : std::string("authentication failed");
        a.result.reason = "Dovecot: " + why;
        return a;
    }
    return std::nullopt;
}

std::string format_auth(uint32_t id, const DovecotRequest& r) {
    std::string s =
        "AUTH\t" + std::to_string(id) + "\t" + dovecot_escape(r.mechanism) + "\tservice=smtp";
    if (r.secured) s += "\tsecured";
    // tegami-auth delays failures and keeps its own penalty box per client address;
    // Dovecot's penalty on top would compound the delays past auth_dovecot_timeout.
    s += "\tno-penalty";
    if (!r.local_addr.empty()) s += "\tlip=" + dovecot_escape(r.local_addr);
    if (!r.client_addr.empty()) s += "\trip=" + dovecot_escape(r.client_addr);
    if (r.local_port != 0) s += "\tlport=" + std::to_string(r.local_port);
    // resp= must be the last parameter; "resp=" alone is an empty initial response.
    if (r.initial) s += "\tresp=" + sasl::base64_encode(*r.initial);
    s += '\n';
    return s;
}

// ---- the connection

DovecotClient::DovecotClient(event_base* base, std::string socket_path, time_t timeout)
    : base_(base), path_(std::move(socket_path)), timeout_(timeout) {
    timer_.reset(event_new(base_, -1, EV_PERSIST, on_timer_cb, this));
    deliver_ev_.reset(event_new(base_, -1, 0, on_deliver_cb, this));
}

DovecotClient::~DovecotClient() = default;

void DovecotClient::configure(std::string socket_path, time_t timeout) {
    timeout_ = timeout;
    if (socket_path != path_) {
        path_ = std::move(socket_path);
        if (state_ != State::closed) disconnect("auth_dovecot_socket changed");
    }
}

uint32_t DovecotClient::start(DovecotRequest r, Done done) {
    uint32_t id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    Request& q = requests_[id];
    q.req = std::move(r);
    q.done = std::move(done);
    q.deadline = std::time(nullptr) + timeout_;
    q.waiting = true;
    arm_timer();
    if (state_ == State::closed) connect();  // may fail: deliver() then ends id
    if (state_ == State::ready) {
        auto it = requests_.find(id);  // q is not used again: connect() may have ended it
        if (it != requests_.end()) send_auth(id, it->second);
    }
    return id;
}

void DovecotClient::step(uint32_t id, std::string response) {
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second.finished) return;
    Request& q = it->second;
    q.deadline = std::time(nullptr) + timeout_;
    if (q.final_ok) {
        // SCRAM: the client acknowledged server-final; the verdict was Dovecot's OK.
        StepResult r;
        if (response.empty()) {
            r.status = StepStatus::ok;
            r.login = *q.final_ok;
        } else {
            r.status = StepStatus::malformed;
            r.reason = "data after the server's final message";
        }
        OPENSSL_cleanse(response.data(), response.size());
        deliver(id, std::move(r), true);
        return;
    }
    if (!q.sent) {
        // Cannot happen (a CONT answer needs a sent AUTH), but never send a CONT unasked.
        OPENSSL_cleanse(response.data(), response.size());
        deliver(id, temp("Dovecot: response before the exchange started"), true);
        return;
    }
    q.waiting = true;
    arm_timer();
    std::string line = "CONT\t" + std::to_string(id) + "\t" + sasl::base64_encode(response) + "\n";
    OPENSSL_cleanse(response.data(), response.size());
    write(line);
    OPENSSL_cleanse(line.data(), line.size());
}

void DovecotClient::cancel(uint32_t id) {
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    bool tell = it->second.sent && !it->second.finished && state_ == State::ready;
    requests_.erase(it);
    if (tell) write("CANCEL\t" + std::to_string(id) + "\n");
}

void DovecotClient::connect() {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path_.empty() || path_.size() >= sizeof(sun.sun_path)) {
        disconnect("auth_dovecot_socket is empty or too long");
        return;
    }
    std::memcpy(sun.sun_path, path_.data(), path_.size());
    bev_.reset(bufferevent_socket_new(base_, -1, BEV_OPT_CLOSE_ON_FREE));
    if (!bev_) {
        disconnect("no memory for the Dovecot connection");
        return;
    }
    bufferevent_setcb(bev_.get(), on_read_cb, nullptr, on_event_cb, this);
    bufferevent_setwatermark(bev_.get(), EV_READ, 0, kMaxDovecotLine * 4);
    state_ = State::handshake;
    got_version_ = false;
    mechs_.clear();
    handshake_deadline_ = std::time(nullptr) + timeout_;
    arm_timer();
    if (bufferevent_socket_connect(bev_.get(), reinterpret_cast<sockaddr*>(&sun),
                                   static_cast<int>(sizeof(sun))) != 0) {
        disconnect("cannot connect to " + path_ + ": " + std::strerror(errno));
        return;
    }
    bufferevent_enable(bev_.get(), EV_READ);
    write("VERSION\t1\t2\nCPID\t" + std::to_string(getpid()) + "\n");
}

void DovecotClient::write(const std::string& s) {
    if (bev_) bufferevent_write(bev_.get(), s.data(), s.size());
}

void DovecotClient::on_read_cb(bufferevent*, void* arg) noexcept {
    try {
        static_cast<DovecotClient*>(arg)->on_read();
    } catch (const std::exception& e) {
        log_error("Dovecot auth connection: %s", e.what());
    }
}

void DovecotClient::on_event_cb(bufferevent*, short what, void* arg) noexcept {
    auto* c = static_cast<DovecotClient*>(arg);
    try {
        if (what & BEV_EVENT_CONNECTED) return;
        if (what & BEV_EVENT_EOF)
            c->disconnect("Dovecot closed the connection");
        else
            c->disconnect(std::string("connection to ") + c->path_ + ": " +
                          std::strerror(EVUTIL_SOCKET_ERROR()));
    } catch (const std::exception& e) {
        log_error("Dovecot auth connection: %s", e.what());
    }
}

void DovecotClient::on_read() {
    while (bev_) {
        evbuffer* in = bufferevent_get_input(bev_.get());
        size_t n = 0;
        char* line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
        if (!line) {
            if (evbuffer_get_length(in) > kMaxDovecotLine)
                disconnect("Dovecot sent a line over " + std::to_string(kMaxDovecotLine) +
                           " bytes");
            return;
        }
        std::string copy(line, n);
        std::free(line);
        on_line(copy);
        OPENSSL_cleanse(copy.data(), copy.size());
    }
}

void DovecotClient::on_line(std::string_view text) {
    auto l = parse_dovecot_line(text);
    if (!l) {
        disconnect("Dovecot sent a malformed line");
        return;
    }
    if (state_ == State::handshake)
        handshake_line(*l);
    else
        answer_line(*l);
}

void DovecotClient::handshake_line(const DovecotLine& l) {
    if (l.verb == "VERSION") {
        if (l.args.empty() || l.args[0] != "1") {
            disconnect("Dovecot speaks auth protocol version " +
                       printable(l.args.empty() ? "?" : l.args[0]) + ", not 1");
            return;
        }
        got_version_ = true;
    } else if (l.verb == "MECH") {
        if (!l.args.empty()) mechs_.push_back(l.args[0]);
    } else if (l.verb == "DONE") {
        if (!got_version_) {
            disconnect("Dovecot ended its handshake without VERSION");
            return;
        }
        state_ = State::ready;
        std::string list;
        for (const auto& m : mechs_)
            list += (list.empty() ? "" : " ") + printable(m);
        log_info("connected to Dovecot's auth socket %s (mechanisms: %s)", path_.c_str(),
                 list.c_str());
        std::vector<uint32_t> ids;
        for (auto& [id, q] : requests_)
            if (!q.sent && !q.finished) ids.push_back(id);
        std::sort(ids.begin(), ids.end());
        for (uint32_t id : ids)
            send_auth(id, requests_.at(id));
    }
    // SPID, CUID, COOKIE and lines a later version adds: not needed by a client.
}

void DovecotClient::send_auth(uint32_t id, Request& q) {
    if (std::find(mechs_.begin(), mechs_.end(), q.req.mechanism) == mechs_.end()) {
        StepResult r;
        r.status = StepStatus::nomech;
        r.reason = "Dovecot does not offer " + q.req.mechanism;
        deliver(id, std::move(r), true);
        return;
    }
    q.sent = true;
    std::string line = format_auth(id, q.req);
    if (q.req.initial) {
        std::string& initial = *q.req.initial;
        OPENSSL_cleanse(initial.data(), initial.size());
    }
    q.req.initial.reset();
    write(line);
    OPENSSL_cleanse(line.data(), line.size());
}

void DovecotClient::answer_line(const DovecotLine& l) {
    if (l.verb != "CONT" && l.verb != "OK" && l.verb != "FAIL") return;  // e.g. a later notice
    uint32_t id = 0;
    if (l.args.empty() || !parse_id(l.args[0], id)) {
        disconnect("Dovecot sent " + l.verb + " without a request id");
        return;
    }
    auto a = interpret_answer(l);
    if (!a) {
        disconnect("Dovecot sent a malformed " + l.verb + " line");
        return;
    }
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second.finished) return;  // cancelled meanwhile
    it->second.waiting = false;                                // the client's turn (or the end)
    if (a->final_ok) it->second.final_ok = std::move(a->final_ok);
    bool last = a->result.status != StepStatus::cont;
    deliver(id, std::move(a->result), last);
}

void DovecotClient::disconnect(const std::string& why) {
    bool was = state_ != State::closed || bev_;
    bev_.reset();
    state_ = State::closed;
    if (was || !requests_.empty())
        log_error("Dovecot auth socket %s: %s", path_.c_str(), why.c_str());
    // Dovecot forgot every exchange of this connection (and the unsent ones cannot go out).
    for (auto& [id, q] : requests_)
        if (!q.finished && !q.final_ok) deliver(id, temp("Dovecot unreachable: " + why), true);
}

void DovecotClient::deliver(uint32_t id, StepResult r, bool last) {
    if (last) requests_.at(id).finished = true;
    deliveries_.push_back(Delivery{id, std::move(r)});
    event_active(deliver_ev_.get(), EV_TIMEOUT, 0);
}

void DovecotClient::on_deliver_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<DovecotClient*>(arg)->run_deliveries();
    } catch (const std::exception& e) {
        log_error("Dovecot auth: delivering an answer: %s", e.what());
    }
}

void DovecotClient::run_deliveries() {
    std::vector<Delivery> batch;
    batch.swap(deliveries_);
    for (auto& d : batch) {
        auto it = requests_.find(d.id);
        if (it == requests_.end()) continue;  // cancelled
        Done done = it->second.done;
        if (it->second.finished) requests_.erase(it);
        done(std::move(d.result));
    }
}

void DovecotClient::arm_timer() {
    if (!event_pending(timer_.get(), EV_TIMEOUT, nullptr)) {
        timeval second{1, 0};
        event_add(timer_.get(), &second);
    }
}

void DovecotClient::on_timer_cb(evutil_socket_t, short, void* arg) noexcept {
    try {
        static_cast<DovecotClient*>(arg)->check_deadlines();
    } catch (const std::exception& e) {
        log_error("Dovecot auth: timer: %s", e.what());
    }
}

void DovecotClient::check_deadlines() {
    time_t now = std::time(nullptr);
    if (state_ == State::handshake && handshake_deadline_ <= now) {
        disconnect("no handshake within auth_dovecot_timeout");
    } else {
        bool late = false;
        for (auto& [id, q] : requests_)
            late = late || (!q.finished && q.waiting && q.deadline <= now);
        // A late answer means Dovecot (or the connection) is stuck: start afresh. A client
        // slow to answer a challenge is smtpd's timeout and tegami-auth's idle sweep.
        if (late) disconnect("no answer within auth_dovecot_timeout");
    }
    bool waiting = state_ == State::handshake;
    for (auto& [id, q] : requests_)
        waiting = waiting || (q.waiting && !q.finished);
    if (!waiting) event_del(timer_.get());
}

}  // namespace tegami::auth
