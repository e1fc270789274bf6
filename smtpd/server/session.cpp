// session.cpp - see session.hpp. The line and data loop around the verb table.
#include "smtpd/server/session.hpp"

#include <openssl/crypto.h>

#include <algorithm>

#include "lib/core/log.hpp"
#include "smtpd/server/sasl.hpp"

namespace tegami::smtpd {

Session::Session(SessionHost& host, std::shared_ptr<const Config> config, ClientInfo client,
                 Role role)
    : host_(host) {
    st_.config = std::move(config);
    st_.client = std::move(client);
    st_.role = role;
    st_.tls_available = !st_.config->tls_cert_file.empty();
}

// The connect stage decides the greeting: 220, or 554 and close (RFC 5321 3.1).
void Session::start() {
    const VerbSpec& spec = connect_spec();
    PolicyVerdict v = host_.policy(st_, spec, {});
    if (v.step == PolicyStep::suspend) {
        pending_ = &spec;
        st_.phase = Phase::waiting;
        return;
    }
    greet(v);
}

void Session::greet(const PolicyVerdict& v) {
    if (v.step == PolicyStep::reject) {
        send(v.reply.code ? v.reply : make_reply(554, "5.7.1", "Access denied"));
        st_.phase = Phase::closing;
        return;
    }
    host_.write(format_reply(make_reply(220, "", st_.config->smtpd_banner)));
}

void Session::set_tls(std::string info) {
    st_.tls = true;
    st_.tls_info = std::move(info);
}

void Session::tls_started(std::string info) {
    if (st_.phase != Phase::starttls) return;
    set_tls(std::move(info));
    st_.greeting = Greeting::none;  // RFC 3207 4.2: back to the state after the greeting
    st_.helo.clear();
    st_.tx.reset();
    st_.auth_login.clear();
    st_.may_relay = false;
    st_.channel_binding.clear();
    st_.phase = Phase::command;
}

void Session::auth_challenge(std::string_view challenge) {
    if (st_.phase != Phase::waiting) return;
    host_.write(challenge_reply(challenge));
    st_.phase = Phase::sasl;
}

void Session::auth_done(const Reply& r, std::string login) {
    if (st_.phase != Phase::waiting && st_.phase != Phase::sasl) return;
    st_.phase = Phase::command;
    if (r.code == 235) {
        st_.auth_login = std::move(login);
        st_.may_relay = true;  // an authenticated client may send to any domain
    }
    finish(verb_spec(Verb::auth), r);
    if (r.code == 421) st_.phase = Phase::closing;  // the penalty box: this session ends
}

void Session::out(std::string_view bytes) {
    if (delaying_)
        held_.append(bytes);
    else
        host_.write(bytes);
}

void Session::send(const Reply& r) {
    if (r.text.find('\n') == std::string::npos) {
        out(format_reply(r));
        return;
    }
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl; (nl = r.text.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.emplace_back(r.text, start, nl - start);
    lines.emplace_back(r.text, start);
    out(format_multiline(r.code, r.enhanced, lines));
}

size_t Session::feed(std::string_view in) {
    size_t used = 0;
    while (used < in.size()) {
        if (st_.phase == Phase::command) {
            data_refused_ = false;
            used += feed_line(in.substr(used));
            if (data_refused_ && used < in.size()) {
                sync_error();
                break;
            }
        } else if (st_.phase == Phase::data)
            used += feed_data(in.substr(used));
        else if (st_.phase == Phase::sasl)
            used += feed_sasl(in.substr(used));
        else
            break;
    }
    data_refused_ = false;
    return used;
}

void Session::release_line() {
    line_.clear();
    if (line_.capacity() > 64) line_.shrink_to_fit();  // an idle session holds no buffer
}

namespace {
// RFC 4954 4: an AUTH command with an initial response may be as long as a SASL line
// (12288 octets of base64 and the command); past that it is 500 5.5.6.
bool auth_command(std::string_view start) {
    return start.size() >= 5 && (start[0] | 0x20) == 'a' && (start[1] | 0x20) == 'u' &&
           (start[2] | 0x20) == 't' && (start[3] | 0x20) == 'h' && start[4] == ' ';
}
size_t line_limit(std::string_view start) {
    return auth_command(start) ? kMaxSaslLine + 64 : kMaxCommandLine;
}
}  // namespace

size_t Session::feed_line(std::string_view in) {
    size_t lf = in.find('\n');
    std::string_view start = line_.empty() ? in : std::string_view(line_);
    if (lf == std::string_view::npos) {
        if (!discarding_ && line_.size() + in.size() > line_limit(start)) {
            discarding_ = true;
            discarding_auth_ = auth_command(start);
            release_line();
        }
        if (!discarding_) line_.append(in);
        return in.size();
    }
    std::string_view piece = in.substr(0, lf + 1);
    if (discarding_ || line_.size() + piece.size() > line_limit(start)) {
        bool auth = discarding_ ? discarding_auth_ : auth_command(start);
        discarding_ = false;
        release_line();
        protocol_error(auth ? make_reply(500, "5.5.6", "Error: authentication line too long")
                            : make_reply(500, "5.5.2", "Error: line too long"));
        return piece.size();
    }
    if (line_.empty()) {
        handle_line(piece);
    } else {
        line_.append(piece);
        handle_line(line_);
    }
    release_line();
    return piece.size();
}

// Content goes into tx.data after the head until it reaches the chunk size; from then on
// (streaming) into tx.chunk, sent as each fills. The reader is never fed more than the
// room left, so neither buffer outgrows the chunk size by more than the one CR it may
// have held back (unstuffing only shrinks).
size_t Session::feed_data(std::string_view in) {
    Transaction& tx = *st_.tx;
    const size_t limit = host_.body_chunk_size();
    size_t used = 0;
    while (used < in.size()) {
        bool streaming = tx.chunks_sent > 0;
        std::string& out = streaming ? tx.chunk : tx.data;
        size_t content = out.size() - (streaming ? 0 : tx.received_len);
        if (limit && content >= limit) {
            if (!send_chunk()) {
                tx.chunk_wait = true;  // resumed by chunk_done()
                st_.phase = Phase::waiting;
                return used;
            }
            continue;
        }
        std::string_view slice = in.substr(used);
        if (limit && slice.size() > limit - content) slice = slice.substr(0, limit - content);
        auto step = tx.reader.feed(slice, out);
        used += step.consumed;
        if (!tx.reader.storing() || tx.stream_failed) {
            // The message will be refused: nothing of its content is kept.
            if (streaming) {
                tx.chunk = std::string();
            } else if (tx.data.size() > tx.received_len) {
                tx.data.resize(tx.received_len);
                tx.data.shrink_to_fit();
            }
        }
        if (step.done) {
            st_.phase = Phase::command;
            dispatch(end_of_data_spec(), {});
            return used;
        }
    }
    return used;
}

// Sends the full buffer as the next chunk, unless one is still unanswered. The first
// chunk takes the content out of tx.data, which keeps only the head from then on.
bool Session::send_chunk() {
    Transaction& tx = *st_.tx;
    if (tx.chunks_unanswered > 0) return false;
    std::string piece;
    if (tx.chunks_sent == 0) {
        piece.assign(tx.data, tx.received_len);
        tx.data.resize(tx.received_len);
        tx.data.shrink_to_fit();
    } else {
        piece = std::move(tx.chunk);
    }
    // A CR held back by the reader comes out with its LF, one octet past the room it was
    // given: that octet starts the next chunk, so every chunk is at most the chunk size.
    const size_t limit = host_.body_chunk_size();
    tx.chunk = std::string();
    tx.chunk.reserve(limit + 1);
    if (piece.size() > limit) {
        tx.chunk.assign(piece, limit);
        piece.resize(limit);
    }
    ++tx.chunks_sent;
    ++tx.chunks_unanswered;
    host_.send_chunk(tx.queue_id, tx.chunks_sent, std::move(piece));
    return true;
}

void Session::chunk_done(uint32_t status, std::string_view text) {
    if (!st_.tx || st_.tx->chunks_sent == 0) return;
    Transaction& tx = *st_.tx;
    if (tx.chunks_unanswered) --tx.chunks_unanswered;
    if (status != ipc::kStatusOk && !tx.stream_failed) {
        tx.stream_failed = true;
        tx.stream_error =
            text.empty() ? std::string("4.3.0 queue write failed") : std::string(text);
        tx.chunk = std::string();
    }
    if (tx.chunk_wait && st_.phase == Phase::waiting) {
        tx.chunk_wait = false;
        st_.phase = Phase::data;
    }
}

// Ends the transaction; a streamed body the queue never got a SubmitMsg for is aborted
// (the queue removes its chunks).
void Session::end_transaction() {
    if (st_.tx && st_.tx->chunks_sent > 0 && !st_.tx->submitted) host_.abort_body(st_.tx->queue_id);
    st_.tx.reset();
}

void Session::discard_transaction() {
    end_transaction();
}

// A SASL continuation line (RFC 4954 4): at most kMaxCommandLine here too; the hook
// answers (334 for the next step, or the final reply that ends Phase::sasl).
size_t Session::feed_sasl(std::string_view in) {
    // RFC 4954 4: a server must take SASL lines of 12288 octets; a longer one is read to
    // its LF without being kept, ends the exchange (the hook forgets it) and gets 500.
    size_t lf = in.find('\n');
    std::string_view piece = lf == std::string_view::npos ? in : in.substr(0, lf + 1);
    if (!discarding_ && line_.size() + piece.size() > kMaxSaslLine + 2) {
        discarding_ = true;
        release_line();
    }
    if (!discarding_) line_.append(piece);
    if (lf == std::string_view::npos) return in.size();
    if (discarding_) {
        discarding_ = false;
        release_line();
        (void)host_.auth_line(st_, "*");
        st_.phase = Phase::command;
        protocol_error(make_reply(500, "5.5.6", "Error: authentication line too long"));
        return piece.size();
    }
    std::string l = std::move(line_);
    release_line();
    l.pop_back();
    if (!l.empty() && l.back() == '\r') l.pop_back();
    auto r = host_.auth_line(st_, l);
    OPENSSL_cleanse(l.data(), l.size());
    if (r) {
        if (st_.phase != Phase::sasl)
            finish(verb_spec(Verb::auth), *r);
        else
            send(*r);
    }
    return piece.size();
}

void Session::handle_line(std::string_view line) {
    line.remove_suffix(1);  // LF
    if (line.empty() || line.back() != '\r' ||
        line.substr(0, line.size() - 1).find('\r') != std::string_view::npos) {
        protocol_error(make_reply(500, "5.5.2", "Error: bare CR or LF in command"));
        return;
    }
    line.remove_suffix(1);
    CommandLine cl = split_command(line);
    dispatch(verb_spec(cl.verb), cl.arg);
}

void Session::dispatch(const VerbSpec& spec, std::string_view arg) {
    if (spec.command) ++st_.counters[static_cast<size_t>(spec.verb)].total;
    // Junk commands (NOOP, RSET, VRFY, HELP) past smtpd_junk_command_limit end the
    // session: they cost the server work and move no mail.
    uint64_t junk_limit = st_.config->smtpd_junk_command_limit;
    if (junk_limit &&
        (spec.verb == Verb::noop || spec.verb == Verb::rset || spec.verb == Verb::vrfy ||
         spec.verb == Verb::help) &&
        spec.command && ++st_.junk_commands > junk_limit) {
        send(make_reply(421, "4.7.0", st_.config->hostname + " Error: too many junk commands"));
        st_.phase = Phase::closing;
        return;
    }
    if (spec.command) {
        if (auto refusal = gate(st_, spec.verb)) {
            finish(spec, *refusal);
            return;
        }
    }
    CommandArgs args;
    if (auto refusal = spec.check(st_, arg, args)) {
        finish(spec, *refusal);
        return;
    }
    if (spec.stage == PolicyStage::none) {
        proceed(spec, args);
        return;
    }
    PolicyVerdict v = host_.policy(st_, spec, args);
    if (v.step == PolicyStep::suspend) {
        pending_ = &spec;
        pending_args_ = std::move(args);
        st_.phase = Phase::waiting;
        return;
    }
    if (v.step == PolicyStep::reject) {
        finish(spec, v.reply);
        return;
    }
    add_headers(spec, v);
    proceed(spec, args);
    keep_quota(spec, v);
}

// MAIL, RCPT: the sending limits the policy found (and its hold) go with the transaction.
void Session::keep_quota(const VerbSpec& spec, const PolicyVerdict& v) {
    if ((spec.stage == PolicyStage::mail || spec.stage == PolicyStage::rcpt) && v.quota && st_.tx)
        st_.tx->quota = v.quota;
}

// End of data: a policy's headers go right after the Received header.
void Session::add_headers(const VerbSpec& spec, const PolicyVerdict& v) {
    if (spec.stage != PolicyStage::end_of_data || v.headers.empty() || !st_.tx) return;
    std::string extra;
    for (const auto& h : v.headers)
        extra += h + "\r\n";
    st_.tx->data.insert(st_.tx->received_len, extra);
}

void Session::proceed(const VerbSpec& spec, CommandArgs& args) {
    if (auto r = spec.proceed(st_, host_, args)) finish(spec, *r);
}

void Session::policy_done(const PolicyVerdict& v) {
    if (st_.phase != Phase::waiting || !pending_) return;
    const VerbSpec& spec = *pending_;
    CommandArgs args = std::move(pending_args_);
    pending_ = nullptr;
    pending_args_ = std::monostate{};
    st_.phase = Phase::command;
    if (&spec == &connect_spec()) {
        greet(v);
        return;
    }
    if (v.step == PolicyStep::reject) {
        finish(spec, v.reply);
    } else {
        add_headers(spec, v);
        proceed(spec, args);
        keep_quota(spec, v);
    }
}

void Session::submit_done(uint32_t status, std::string_view text) {
    if (st_.phase != Phase::waiting || pending_ || !st_.tx) return;
    st_.phase = Phase::command;
    // Counted only now, once the queue holds the message durably.
    const Transaction& tx = *st_.tx;
    if (status == ipc::kStatusOk && tx.quota && tx.quota->hold)
        tx.quota->hold->commit(tx.limited_rcpts);
    finish(end_of_data_spec(), submit_reply(status, text, st_.tx->queue_id));
}

// How long the reply to `spec` is held back: the error sleep once a session made more
// than smtpd_soft_error_limit errors, the harvest tarpit once it named more than
// smtpd_unknown_recipient_tarpit unknown recipients (both counted with this reply).
uint64_t Session::reply_delay(const VerbSpec& spec, bool error) const {
    const Config& c = *st_.config;
    if (st_.client.limits_exempt || st_.client.local) return 0;
    uint64_t d = 0;
    if (error && c.smtpd_soft_error_limit && st_.errors > c.smtpd_soft_error_limit)
        d = c.smtpd_error_sleep_time;
    if (spec.verb == Verb::rcpt && spec.command && c.smtpd_unknown_recipient_tarpit &&
        st_.unknown_rcpts > c.smtpd_unknown_recipient_tarpit)
        d = std::max<uint64_t>(d, c.smtpd_tarpit_delay);
    return d;
}

void Session::delay_done() {
    if (!delaying_) return;
    delaying_ = false;
    std::string held = std::move(held_);
    held_ = std::string();
    host_.write(held);
    if (st_.phase != Phase::waiting) return;
    st_.phase = Phase::command;
    if (st_.draining && !st_.tx) shutdown();
}

// Sends the reply to a command (or to the end of data) and does the bookkeeping.
void Session::finish(const VerbSpec& spec, const Reply& r) {
    bool error = false;
    if (spec.command && spec.verb == Verb::data && !r.positive()) data_refused_ = true;
    if (spec.command) {
        // 452 for too many recipients is no error: the client sends the rest in a new
        // transaction (RFC 5321 4.5.3.1.10), and a pipelined batch must not cost it the
        // transaction whose first recipients were accepted. Likewise a recipient over
        // the sender's limit (451 4.7.1). A local submitter's refused recipients are its
        // user's typos, not abuse: the sendmail command offers every address it was
        // given (-t lists can be long).
        bool too_many =
            (r.code == 452 || (r.code == 451 && r.enhanced == "4.7.1")) && spec.verb == Verb::rcpt;
        bool local_rcpt = st_.client.local && spec.verb == Verb::rcpt;
        error = r.code >= 400 && !too_many && !local_rcpt;
        if (spec.verb == Verb::rcpt && r.code == 550 && r.enhanced == "5.1.1") ++st_.unknown_rcpts;
        if (error) ++st_.errors;
    }
    // Held back only between commands: a reply that ends a suspension or the session is
    // never delayed (the session's phase is not this function's to take then).
    uint64_t delay = st_.phase == Phase::command ? reply_delay(spec, error) : 0;
    if (delay) delaying_ = true;
    send(r);
    if (spec.command) {
        if (r.positive() && r.code != 354) ++st_.counters[static_cast<size_t>(spec.verb)].ok;
    } else {
        if (r.positive()) ++st_.counters[static_cast<size_t>(Verb::data)].ok;
        end_transaction();  // the end-of-data reply ends the transaction, whatever it was
    }
    uint64_t limit = st_.config->smtpd_error_limit;
    uint64_t unknown_limit = st_.config->smtpd_unknown_recipient_limit;
    if (st_.phase != Phase::closing && limit && st_.errors >= limit) {
        send(make_reply(421, "4.7.0", st_.config->hostname + " Error: too many errors"));
        st_.phase = Phase::closing;
    } else if (st_.phase != Phase::closing && unknown_limit && !st_.client.limits_exempt &&
               !st_.client.local && st_.unknown_rcpts >= unknown_limit) {
        log_warning("too many unknown recipients from %s[%s]: closing", st_.client.name.c_str(),
                    st_.client.addr.c_str());
        send(
            make_reply(421, "4.7.0", st_.config->hostname + " Error: too many unknown recipients"));
        st_.phase = Phase::closing;
    }
    if (st_.phase == Phase::closing) {
        if (delaying_) delay_done();  // a closing session is not held: it ends now
        return;
    }
    if (delaying_) {
        st_.phase = Phase::waiting;
        host_.delay(delay);
        return;
    }
    if (st_.draining && st_.phase == Phase::command && !st_.tx) shutdown();
}

void Session::protocol_error(const Reply& r) {
    ++st_.counters[static_cast<size_t>(Verb::unknown)].total;
    finish(verb_spec(Verb::unknown), r);  // counted as an unknown command and an error
}

// More input came right behind a DATA that was refused: the client sent its body without
// waiting for the reply (RFC 2920 3.1 lets the body follow only a 354). None of it may be
// taken for commands (a "MAIL FROM" line in it would start a transaction of its own), and
// nothing tells where it ends but its own dot: the session ends here, as Postfix's
// smtpd_forbid_unauth_pipelining and Exim's smtp_enforce_sync do.
void Session::sync_error() {
    if (st_.phase == Phase::closing) return;
    log_info("improper command pipelining after DATA from %s[%s]", st_.client.name.c_str(),
             st_.client.addr.c_str());
    send(make_reply(421, "4.5.0", st_.config->hostname + " Error: SMTP protocol synchronization"));
    st_.phase = Phase::closing;
    if (delaying_) delay_done();  // the refusal held back goes out now, then the 421
}

void Session::timeout() {
    if (st_.phase == Phase::closing) return;
    log_info("timeout after %s from %s[%s]", in_data() ? "DATA" : "command",
             st_.client.name.c_str(), st_.client.addr.c_str());
    send(make_reply(421, "4.4.2", st_.config->hostname + " Error: timeout exceeded"));
    st_.phase = Phase::closing;
}

void Session::shutdown() {
    if (st_.phase == Phase::closing) return;
    send(make_reply(421, "4.3.2", st_.config->hostname + " Service shutting down"));
    st_.phase = Phase::closing;
}

void Session::drain() {
    st_.draining = true;
    if (st_.phase == Phase::command && !st_.tx) shutdown();
}

std::string Session::summary() const {
    std::string out;
    uint32_t ok = 0, total = 0;
    for (size_t i = 0; i < kVerbCount; ++i) {
        const VerbCounter& c = st_.counters[i];
        if (c.total == 0) continue;
        ok += c.ok;
        total += c.total;
        out += verb_name(static_cast<Verb>(i));
        out += '=' + std::to_string(c.ok);
        if (c.ok != c.total) out += '/' + std::to_string(c.total);
        out += ' ';
    }
    out += "commands=" + std::to_string(ok);
    if (ok != total) out += '/' + std::to_string(total);
    return out;
}

}  // namespace tegami::smtpd
