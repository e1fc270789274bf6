// verbs.cpp - see verbs.hpp. One check and one proceed function per verb; the table at
// the bottom binds them. Trusts only parsed arguments (lib/mail parsers) and the
// session's own state.
#include "smtpd/server/verbs.hpp"

#include <pwd.h>

#include "lib/core/log.hpp"
#include "lib/mail/received.hpp"
#include "lib/map/virtual.hpp"

namespace tegami::smtpd {

namespace {

using Check = std::optional<Reply>;

Reply ok_reply(const char* enhanced, const char* text) {
    return make_reply(250, enhanced, text);
}

// "alice" for a uid in the passwd database, else "uid 1234" (sendmail's "Unknown UID").
std::string submitter_name(long uid) {
    if (uid < 0) return "uid unknown";
    passwd pw{};
    passwd* res = nullptr;
    char buf[4096];
    if (getpwuid_r(static_cast<uid_t>(uid), &pw, buf, sizeof buf, &res) == 0 && res)
        return pw.pw_name;
    return "uid " + std::to_string(uid);
}

// ---- HELO / EHLO
Check check_helo(const SessionState&, std::string_view arg, CommandArgs& out) {
    auto r = parse_helo(arg, false);
    if (!r) return r.error();
    out = std::move(r).value();
    return std::nullopt;
}

Check check_ehlo(const SessionState&, std::string_view arg, CommandArgs& out) {
    auto r = parse_helo(arg, true);
    if (!r) return r.error();
    out = std::move(r).value();
    return std::nullopt;
}

void greet(SessionState& st, CommandArgs& args, Greeting g) {
    st.greeting = g;
    st.helo = std::move(std::get<std::string>(args));
    st.tx.reset();  // EHLO/HELO reset any transaction (RFC 5321 4.1.4)
}

std::optional<Reply> proceed_helo(SessionState& st, SessionHost&, CommandArgs& args) {
    greet(st, args, Greeting::helo);
    return make_reply(250, "", st.config->hostname);
}

std::optional<Reply> proceed_ehlo(SessionState& st, SessionHost& host, CommandArgs& args) {
    greet(st, args, Greeting::ehlo);
    return make_reply(250, "", st.config->hostname + ehlo_keywords(st, host));
}

// ---- the EHLO keyword table
struct EhloKeyword {
    const char* name;
    // The keyword line, or nothing when not offered to this session now.
    std::optional<std::string> (*line)(const SessionState& st, SessionHost& host);
};

std::optional<std::string> always(const char* kw) {
    return std::string(kw);
}

const EhloKeyword kEhloKeywords[] = {
    {"PIPELINING", [](const SessionState&, SessionHost&) { return always("PIPELINING"); }},
    {"SIZE",
     [](const SessionState& st, SessionHost&) -> std::optional<std::string> {
         uint64_t n = st.config->message_size_limit;
         return n ? "SIZE " + std::to_string(n) : std::string("SIZE");
     }},
    {"8BITMIME", [](const SessionState&, SessionHost&) { return always("8BITMIME"); }},
    {"ENHANCEDSTATUSCODES",
     [](const SessionState&, SessionHost&) { return always("ENHANCEDSTATUSCODES"); }},
    {"DSN", [](const SessionState&, SessionHost&) { return always("DSN"); }},
    {"SMTPUTF8", [](const SessionState&, SessionHost&) { return always("SMTPUTF8"); }},
    {"STARTTLS",
     [](const SessionState& st, SessionHost&) -> std::optional<std::string> {
         if (!st.tls_available || st.tls) return std::nullopt;
         return std::string("STARTTLS");
     }},
    {"AUTH",
     [](const SessionState& st, SessionHost& host) -> std::optional<std::string> {
         if (!st.auth_login.empty()) return std::nullopt;
         auto mechs = host.auth_mechanisms(st);
         if (mechs.empty()) return std::nullopt;
         std::string l = "AUTH";
         for (const auto& m : mechs)
             l += " " + m;
         return l;
     }},
};

// ---- MAIL
// On the MSP's local socket (sendmail -bs) an unqualified path, "<root>", is a user of this
// host, as sendmail takes it: "@hostname" is added before the path is parsed. Only a bare
// local part is qualified (no '@', no source route, no quoting); "<>" and "<Postmaster>"
// in RCPT stay as they are; other listeners see the argument unchanged (RFC 5321 4.1.2
// wants a domain there).
std::string qualified_path(const SessionState& st, std::string_view arg, bool rcpt) {
    std::string a(arg);
    if (st.role != Role::local) return a;
    size_t lt = a.find('<');
    size_t gt = lt == std::string::npos ? lt : a.find('>', lt);
    if (gt == std::string::npos || gt == lt + 1) return a;
    std::string_view inner = std::string_view(a).substr(lt + 1, gt - lt - 1);
    if (inner.find_first_of("@:\" \\,") != std::string_view::npos) return a;
    if (rcpt && iequals(inner, "postmaster")) return a;
    a.insert(gt, "@" + st.config->hostname);
    return a;
}

Check check_mail(const SessionState& st, std::string_view arg, CommandArgs& out) {
    if (st.greeting == Greeting::none)
        return make_reply(503, "5.5.1", "Error: send HELO/EHLO first");
    if (st.tx) return make_reply(503, "5.5.1", "Error: nested MAIL command");
    auto m = parse_mail(qualified_path(st, arg, false));
    if (!m) return m.error();
    if (m->params.any && st.greeting != Greeting::ehlo)
        return make_reply(555, "5.5.4", "Error: ESMTP parameters need EHLO");
    uint64_t limit = st.config->message_size_limit;
    if (limit && m->params.has_size && m->params.size > limit)
        return make_reply(552, "5.3.4", "Message size exceeds fixed limit");
    out = std::move(m).value();
    return std::nullopt;
}

std::optional<Reply> proceed_mail(SessionState& st, SessionHost& host, CommandArgs& args) {
    auto& m = std::get<MailCommand>(args);
    auto tx = std::make_unique<Transaction>();
    tx->queue_id = host.new_queue_id();
    tx->sender = m.sender.str();
    tx->smtputf8 = m.params.smtputf8;
    tx->body = m.params.body;
    tx->size_hint = m.params.has_size ? m.params.size : 0;
    tx->ret = m.params.ret;
    tx->envid = std::move(m.params.envid);
    if (st.client.local)
        log_info("%s: client=local uid=%ld", tx->queue_id.c_str(), st.client.uid);
    else
        log_info("%s: client=%s[%s]", tx->queue_id.c_str(), st.client.name.c_str(),
                 st.client.addr.c_str());
    st.tx = std::move(tx);
    return ok_reply("2.1.0", "Ok");
}

// ---- RCPT
Check check_rcpt(const SessionState& st, std::string_view arg, CommandArgs& out) {
    if (!st.tx) return make_reply(503, "5.5.1", "Error: need MAIL command");
    auto r = parse_rcpt(qualified_path(st, arg, true), st.tx->smtputf8);
    if (!r) return r.error();
    if (r->any && st.greeting != Greeting::ehlo)
        return make_reply(555, "5.5.4", "Error: ESMTP parameters need EHLO");
    uint64_t limit = st.config->smtpd_recipient_limit;
    // Every accepted RCPT counts, repeats included, so that RCPT commands per transaction
    // are bounded even when they name one recipient over and over.
    if (limit && st.tx->rcpt_commands >= limit)
        return make_reply(452, "4.5.3", "Error: too many recipients");
    // Whether a recipient of another domain may be relayed is the RCPT policy stage's
    // decision (smtpd/server/policy.cpp), not this pure check's.
    out = std::move(r).value();
    return std::nullopt;
}

// Adds an accepted recipient with its DSN parameters, once: a repeat (same_case: compare
// exactly, else ignoring case) keeps the first one's parameters.
Reply add_recipient(Transaction& tx, std::string rcpt, RcptCommand& c, bool same_case) {
    ++tx.rcpt_commands;  // counted even when it is kept only once
    for (const auto& have : tx.recipients)
        if (same_case ? have == rcpt : iequals(have, rcpt))
            return ok_reply("2.1.5", "Ok (duplicate recipient)");
    tx.recipients.push_back(std::move(rcpt));
    tx.orcpts.push_back(c.rcpt.original);
    tx.notify.push_back(c.notify);
    tx.dsn_orcpts.push_back(std::move(c.orcpt));
    return ok_reply("2.1.5", "Ok");
}

std::optional<Reply> proceed_rcpt(SessionState& st, SessionHost& host, CommandArgs& args) {
    RcptCommand& cmd = std::get<RcptCommand>(args);
    const Mailbox& mb = cmd.rcpt;
    std::string addr = mb.str();
    if (!mb.domain.empty() && is_virtual_domain(*st.config, mb.domain) &&
        !is_local_domain(*st.config, mb.domain)) {
        if (auto refusal = host.check_virtual(mb)) return refusal;
        return add_recipient(*st.tx, canonical_address(mb), cmd, false);
    }
    if (!mb.domain.empty() && !is_local_domain(*st.config, mb.domain)) {
        // Only reached when the RCPT policy stage allowed relaying to this recipient.
        return add_recipient(*st.tx, canonical_address(mb), cmd, true);
    }
    switch (host.classify_local(unquote_local(mb.local))) {
        case LocalKind::alias:
        case LocalKind::user: {
            // Parsed once, here: every later process sees the canonical form.
            // <Postmaster> alone is qualified with this host (RFC 5321 4.5.1).
            std::string rcpt = canonical_address(mb);
            if (mb.domain.empty()) rcpt += "@" + st.config->hostname;
            // A recipient named twice (local parts here ignore case) is kept once.
            return add_recipient(*st.tx, std::move(rcpt), cmd, false);
        }
        case LocalKind::root_user:
            return make_reply(550, "5.1.1",
                              "<" + addr + ">: mail for uid 0 is not delivered here; alias it");
        case LocalKind::unknown:
            break;
    }
    return make_reply(550, "5.1.1",
                      "<" + addr +
                          ">: Recipient address rejected: User unknown in local "
                          "recipient table");
}

// ---- DATA and the end of data
Check check_data(const SessionState& st, std::string_view arg, CommandArgs&) {
    if (!st.tx) return make_reply(503, "5.5.1", "Error: need MAIL command");
    if (st.tx->recipients.empty()) return make_reply(554, "5.5.1", "Error: no valid recipients");
    if (!arg.empty()) return make_reply(501, "5.5.4", "Syntax: DATA");
    return std::nullopt;
}

// RFC 3848 and RFC 6531 7.7: ESMTP plus S (under TLS) and A (authenticated).
std::string protocol_name(const SessionState& st) {
    std::string p = st.tx && st.tx->smtputf8        ? "UTF8SMTP"
                    : st.greeting == Greeting::ehlo ? "ESMTP"
                                                    : "SMTP";
    if (st.tls) p += 'S';
    if (!st.auth_login.empty()) p += 'A';
    return p;
}

std::optional<Reply> proceed_data(SessionState& st, SessionHost& host, CommandArgs&) {
    Transaction& tx = *st.tx;
    std::string date = host.date();
    ReceivedInfo ri;
    ri.helo = st.helo;
    ri.client_name = st.client.name;
    ri.client_addr = st.client.addr;
    ri.hostname = st.config->hostname;
    std::string protocol = protocol_name(st);
    ri.protocol = protocol;
    ri.tls = st.tls_info;
    ri.queue_id = tx.queue_id;
    if (st.config->smtpd_received_login) ri.login = st.auth_login;
    if (tx.recipients.size() == 1) ri.recipient = tx.recipients.front();
    ri.date = date;
    tx.data = st.client.local ? received_local_header(ri, submitter_name(st.client.uid))
                              : received_header(ri);
    tx.received_len = tx.data.size();
    uint64_t limit = st.config->message_size_limit;
    uint64_t hint = limit && tx.size_hint > limit ? limit : tx.size_hint;
    if (size_t chunk = host.body_chunk_size(); chunk && hint > chunk) hint = chunk;
    if (hint > 0 && hint <= (64u << 20)) tx.data.reserve(tx.data.size() + hint);
    tx.reader = DataReader(limit);
    st.phase = Phase::data;
    return make_reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

Check check_end_of_data(const SessionState& st, std::string_view, CommandArgs&) {
    const DataReader& r = st.tx->reader;
    if (r.bare_cr_lf()) return make_reply(550, "5.6.0", "Message contains bare CR or LF");
    if (r.long_line())
        return make_reply(550, "5.6.0", "Message contains lines longer than 1000 octets");
    if (r.too_big()) return make_reply(552, "5.3.4", "Message size exceeds fixed limit");
    if (st.tx->stream_failed)
        return submit_reply(ipc::kStatusTemp, st.tx->stream_error, st.tx->queue_id);
    return std::nullopt;
}

std::optional<Reply> proceed_end_of_data(SessionState& st, SessionHost& host, CommandArgs&) {
    Transaction& tx = *st.tx;
    if (tx.quota) tx.limited_rcpts = counted_recipients(*st.config, tx.recipients);
    ipc::SubmitMsg m;
    m.queue_id = tx.queue_id;
    m.sender = tx.sender;
    m.recipients = std::move(tx.recipients);
    m.orcpts = std::move(tx.orcpts);
    m.envid = std::move(tx.envid);
    m.notify = std::move(tx.notify);
    m.dsn_orcpts = std::move(tx.dsn_orcpts);
    if (tx.ret == DsnRet::full) m.flags |= ipc::kFlagRetFull;
    if (tx.ret == DsnRet::hdrs) m.flags |= ipc::kFlagRetHdrs;
    m.client_addr = st.client.addr;
    m.client_name = st.client.name;
    m.helo = st.helo;
    m.protocol = protocol_name(st);
    if (tx.body == BodyType::eight_bit_mime) m.flags |= ipc::kFlag8BitMime;
    if (tx.smtputf8) m.flags |= ipc::kFlagSmtputf8;
    if (tx.chunks_sent > 0) {
        // Streamed: the rest of the content goes as the last chunk (the queue stores it
        // before it reads the SubmitMsg behind it), the head with the envelope.
        if (!tx.chunk.empty()) host.send_chunk(tx.queue_id, ++tx.chunks_sent, std::move(tx.chunk));
        tx.chunk = std::string();
        m.flags |= ipc::kFlagStreamedBody;
    }
    tx.submitted = true;
    m.body = std::move(tx.data);
    st.phase = Phase::waiting;
    host.submit(std::move(m));
    return std::nullopt;  // Session::submit_done answers
}

// ---- the rest
Check check_none(const SessionState&, std::string_view, CommandArgs&) {
    return std::nullopt;
}

Check check_vrfy(const SessionState&, std::string_view arg, CommandArgs&) {
    if (arg.empty()) return make_reply(501, "5.5.4", "Syntax: VRFY address");
    return std::nullopt;
}

Check check_expn(const SessionState&, std::string_view, CommandArgs&) {
    return make_reply(502, "5.5.1", "Error: EXPN is disabled");
}

// XUID <uid>: only on the local listener, only from a trusted peer, between
// transactions.
Check check_xuid(const SessionState& st, std::string_view arg, CommandArgs& out) {
    if (!st.client.local) return make_reply(500, "5.5.2", "Error: command not recognized");
    if (!st.client.trusted) return make_reply(550, "5.7.1", "Error: XUID is for the queue runner");
    if (st.tx) return make_reply(503, "5.5.1", "Error: XUID inside a transaction");
    if (arg.empty() || arg.size() > 10 || arg.find_first_not_of("0123456789") != arg.npos)
        return make_reply(501, "5.5.4", "Syntax: XUID uid");
    out = std::string(arg);
    return std::nullopt;
}

std::optional<Reply> proceed_xuid(SessionState& st, SessionHost&, CommandArgs& args) {
    st.client.uid = std::stol(std::get<std::string>(args));
    return ok_reply("2.0.0", "Ok");
}

// RFC 5321 4.1.1.5: "RSET" CRLF, no argument (Postfix answers the same).
Check check_rset(const SessionState&, std::string_view arg, CommandArgs&) {
    if (!arg.empty()) return make_reply(501, "5.5.4", "Syntax: RSET");
    return std::nullopt;
}

Check check_unknown(const SessionState&, std::string_view, CommandArgs&) {
    return make_reply(500, "5.5.2", "Error: command not recognized");
}

std::optional<Reply> proceed_rset(SessionState& st, SessionHost&, CommandArgs&) {
    st.tx.reset();
    return ok_reply("2.0.0", "Ok");
}

std::optional<Reply> proceed_noop(SessionState&, SessionHost&, CommandArgs&) {
    return ok_reply("2.0.0", "Ok");
}

std::optional<Reply> proceed_quit(SessionState& st, SessionHost&, CommandArgs&) {
    st.phase = Phase::closing;
    return make_reply(221, "2.0.0", "Bye");
}

// ---- STARTTLS (RFC 3207) and AUTH (RFC 4954, the hook in SessionHost)
Check check_starttls(const SessionState& st, std::string_view arg, CommandArgs&) {
    if (!arg.empty()) return make_reply(501, "5.5.4", "Syntax: STARTTLS");
    if (st.tls) return make_reply(503, "5.5.1", "Error: TLS already active");
    if (!st.tls_available)
        return make_reply(454, "4.7.0", "TLS not available due to local problem");
    if (st.tx) return make_reply(503, "5.5.1", "Error: MAIL transaction in progress");
    return std::nullopt;
}

std::optional<Reply> proceed_starttls(SessionState& st, SessionHost& host, CommandArgs&) {
    st.phase = Phase::starttls;  // nothing more is read in plaintext
    host.start_tls();
    return make_reply(220, "2.0.0", "Ready to start TLS");
}

Check check_auth(const SessionState& st, std::string_view arg, CommandArgs& out) {
    if (st.greeting != Greeting::ehlo) return make_reply(503, "5.5.1", "Error: send EHLO first");
    if (!st.auth_login.empty()) return make_reply(503, "5.5.1", "Error: already authenticated");
    if (st.tx) return make_reply(503, "5.5.1", "Error: MAIL transaction in progress");
    if (arg.empty()) return make_reply(501, "5.5.4", "Syntax: AUTH mechanism");
    out = std::string(arg);
    return std::nullopt;
}

std::optional<Reply> proceed_auth(SessionState& st, SessionHost& host, CommandArgs& args) {
    return host.auth(st, std::get<std::string>(args));
}

std::optional<Reply> proceed_help(SessionState&, SessionHost&, CommandArgs&) {
    return make_reply(214, "2.0.0",
                      "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\n"
                      "See RFC 5321");
}

std::optional<Reply> proceed_vrfy(SessionState&, SessionHost&, CommandArgs&) {
    return make_reply(252, "2.1.5", "Send mail; delivery will be attempted");
}

std::optional<Reply> proceed_never(SessionState&, SessionHost&, CommandArgs&) {
    return make_reply(500, "5.5.2", "Error: command not recognized");
}

using PS = PolicyStage;
const VerbSpec kTable[] = {
    {"helo", Verb::helo, true, PS::helo, check_helo, proceed_helo},
    {"ehlo", Verb::ehlo, true, PS::helo, check_ehlo, proceed_ehlo},
    {"mail", Verb::mail, true, PS::mail, check_mail, proceed_mail},
    {"rcpt", Verb::rcpt, true, PS::rcpt, check_rcpt, proceed_rcpt},
    {"data", Verb::data, true, PS::data, check_data, proceed_data},
    {"rset", Verb::rset, true, PS::none, check_rset, proceed_rset},
    {"noop", Verb::noop, true, PS::none, check_none, proceed_noop},
    {"quit", Verb::quit, true, PS::none, check_none, proceed_quit},
    {"help", Verb::help, true, PS::none, check_none, proceed_help},
    {"vrfy", Verb::vrfy, true, PS::none, check_vrfy, proceed_vrfy},
    {"expn", Verb::expn, true, PS::none, check_expn, proceed_never},
    {"starttls", Verb::starttls, true, PS::none, check_starttls, proceed_starttls},
    {"auth", Verb::auth, true, PS::none, check_auth, proceed_auth},
    {"xuid", Verb::xuid, true, PS::none, check_xuid, proceed_xuid},
    {"unknown", Verb::unknown, true, PS::none, check_unknown, proceed_never},
};

const VerbSpec kEndOfData = {
    ".", Verb::unknown, false, PS::end_of_data, check_end_of_data, proceed_end_of_data};
const VerbSpec kConnect = {"connect", Verb::unknown, false, PS::connect, check_none, nullptr};

// Verbs answered before AUTH on the submission listeners (RFC 6409 4.3 leaves the rest
// to need authentication).
constexpr Verb kBeforeAuth[] = {Verb::ehlo, Verb::helo, Verb::starttls, Verb::auth,
                                Verb::noop, Verb::rset, Verb::quit,     Verb::help};

}  // namespace

const VerbSpec& verb_spec(Verb v) {
    for (const auto& s : kTable)
        if (s.verb == v) return s;
    return kTable[sizeof kTable / sizeof kTable[0] - 1];
}

const VerbSpec& end_of_data_spec() {
    return kEndOfData;
}

const VerbSpec& connect_spec() {
    return kConnect;
}

std::optional<Reply> gate(const SessionState& st, Verb v) {
    if (st.role != Role::msa && st.role != Role::smtps) return std::nullopt;
    if (!st.auth_login.empty() || v == Verb::unknown) return std::nullopt;
    for (Verb ok : kBeforeAuth)
        if (v == ok) return std::nullopt;
    return make_reply(530, "5.7.0", "Authentication required");
}

std::string ehlo_keywords(const SessionState& st, SessionHost& host) {
    std::string out;
    for (const auto& k : kEhloKeywords)
        if (auto l = k.line(st, host)) out += "\n" + *l;
    return out;
}

const char* role_name(Role r) {
    switch (r) {
        case Role::mta:
            return "mta";
        case Role::msa:
            return "msa";
        case Role::smtps:
            return "smtps";
        case Role::local:
            return "local";
    }
    return "mta";
}

bool parse_role(std::string_view name, Role& out) {
    for (Role r : {Role::mta, Role::msa, Role::smtps, Role::local})
        if (name == role_name(r)) return out = r, true;
    return false;
}

Reply submit_reply(uint32_t status, std::string_view text, std::string_view queue_id) {
    if (status == ipc::kStatusOk)
        return make_reply(250, "2.0.0", "Ok: queued as " + std::string(queue_id));
    bool temp = status != ipc::kStatusPerm;
    std::string code = temp ? "4.3.0" : "5.3.0";
    size_t len = 0;
    if (enhanced_code_prefix(text, len) && text[0] == code[0]) {
        code.assign(text.substr(0, len));
        text.remove_prefix(len);
    }
    while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    if (text.empty()) text = temp ? "Temporary failure, try again later" : "Message refused";
    return make_reply(temp ? 451 : 554, std::move(code), std::string(text));
}

}  // namespace tegami::smtpd
