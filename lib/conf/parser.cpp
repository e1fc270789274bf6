// parser.cpp - reads tegami.conf into a Config (see config.hpp for the syntax).
// Pure over its text input: no I/O but reading the file in load_config().
// Every error names file:line and maps to EX_CONFIG.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "lib/conf/listen.hpp"
#include "lib/conf/params.hpp"
#include "lib/mail/next_hop.hpp"
#include "lib/net/networks.hpp"

namespace tegami {

namespace {

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
        --e;
    return s.substr(b, e - b);
}

std::string system_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

std::string expand(const std::string& v, const std::string& hostname) {
    std::string out;
    size_t pos = 0;
    for (;;) {
        size_t at = v.find("$hostname", pos);
        if (at == std::string::npos) break;
        out.append(v, pos, at - pos);
        out += hostname;
        pos = at + 9;
    }
    out.append(v, pos);
    return out;
}

bool valid_text(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

// Applies one value; returns an error message or "".
std::string apply(const Param& p, const std::string& raw, Config& c) {
    const std::string v = expand(raw, c.hostname);
    switch (p.type) {
        case ParamType::string:
            if (!valid_text(v)) return "control character in value";
            c.*(p.str) = v;
            return "";
        case ParamType::path:
            if (v.empty() || v[0] != '/') return "\"" + v + "\" is not an absolute path";
            c.*(p.str) = v;
            return "";
        case ParamType::list:
            c.*(p.list) = split_list(v);
            return "";
        case ParamType::listen: {
            auto l = split_list(v);
            for (const auto& a : l) {
                ListenAddress la;
                if (!parse_listen_address(a, la))
                    return "bad listen address \"" + a + "\" (want host:port or [ipv6]:port)";
            }
            c.*(p.list) = l;
            return "";
        }
        case ParamType::size:
            if (!parse_size(v, c.*(p.num)))
                return "bad size \"" + v + "\" (want a number with optional k, m or g)";
            return "";
        case ParamType::duration:
            if (!parse_duration(v, c.*(p.num)))
                return "bad duration \"" + v + "\" (want a number with optional s, m, h, d or w)";
            return "";
        case ParamType::count:
            if (!parse_size(v, c.*(p.num)) ||
                v.find_first_not_of("0123456789") != std::string::npos)
                return "bad number \"" + v + "\"";
            return "";
        case ParamType::mailbox_format:
            if (v == "mbox")
                c.mailbox_format = MailboxFormat::mbox;
            else if (v == "maildir")
                c.mailbox_format = MailboxFormat::maildir;
            else
                return "bad mailbox format \"" + v + "\" (want mbox or maildir)";
            return "";
        case ParamType::boolean:
            if (!parse_bool(v, c.*(p.flag))) return "bad switch \"" + v + "\" (want yes or no)";
            return "";
    }
    return "unhandled parameter type";
}

std::string current(const Param& p, const Config& c) {
    switch (p.type) {
        case ParamType::string:
        case ParamType::path:
            return c.*(p.str);
        case ParamType::list:
        case ParamType::listen: {
            std::string out;
            for (const auto& s : c.*(p.list))
                out += (out.empty() ? "" : ", ") + s;
            return out;
        }
        case ParamType::size:
        case ParamType::count:
            return std::to_string(c.*(p.num));
        case ParamType::duration:
            return std::to_string(c.*(p.num)) + "s";
        case ParamType::mailbox_format:
            return c.mailbox_format == MailboxFormat::mbox ? "mbox" : "maildir";
        case ParamType::boolean:
            return c.*(p.flag) ? "yes" : "no";
    }
    return "";
}

// Cross-key checks after every key is set; file:line is the file's end.
std::string check(const Config& c) {
    if (c.user.empty()) return "user must not be empty";
    if (c.smtpd_recipient_limit < 100)
        return "smtpd_recipient_limit must be at least 100 (RFC 5321 4.5.3.1.8)";
    if (c.message_size_limit < 1024) return "message_size_limit must be at least 1024";
    if (c.message_size_limit > 200u * 1024 * 1024) return "message_size_limit must be at most 200m";
    if (c.smtpd_error_limit < 1) return "smtpd_error_limit must be at least 1";
    if (c.smtpd_client_limit < 1) return "smtpd_client_limit must be at least 1";
    if (c.smtpd_timeout < 1 || c.smtpd_data_timeout < 1)
        return "smtpd timeouts must be at least 1s";
    if (c.smtp_tls_security != "none" && c.smtp_tls_security != "may" &&
        c.smtp_tls_security != "encrypt" && c.smtp_tls_security != "verify")
        return "smtp_tls_security must be none, may, encrypt or verify";
    if (c.auth_backend != "builtin" && c.auth_backend != "dovecot")
        return "auth_backend must be builtin or dovecot";
    if (c.auth_dovecot_timeout < 1) return "auth_dovecot_timeout must be at least 1s";
    for (const auto& m : c.auth_mechanisms) {
        bool name = !m.empty() && m.size() <= 20;
        for (char ch : m)
            name = name &&
                   ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_');
        if (!name) return "auth_mechanisms: \"" + m + "\" is not a SASL mechanism name (RFC 4422)";
        bool builtin =
            m == "PLAIN" || m == "LOGIN" || m == "SCRAM-SHA-256" || m == "SCRAM-SHA-256-PLUS";
        if (c.auth_backend == "builtin" && !builtin)
            return "auth_mechanisms: " + m + " is not a mechanism of the builtin backend";
        if (c.auth_backend == "dovecot" && m == "SCRAM-SHA-256-PLUS")
            return "auth_mechanisms: SCRAM-SHA-256-PLUS needs the builtin backend";
    }
    NextHop hop;
    if (!c.smarthost.empty() && !parse_next_hop(c.smarthost, hop))
        return "bad smarthost \"" + c.smarthost + "\" (want [host]:port, host:port or host)";
    if (c.smtp_port < 1 || c.smtp_port > 65535) return "smtp_port must be 1 to 65535";
    if (c.lmtp_timeout < 1) return "lmtp_timeout must be at least 1s";
    LmtpDestination lmtp_dest;
    if (!c.mailbox_transport.empty() &&
        (c.mailbox_transport.compare(0, 5, "lmtp:") != 0 ||
         !parse_lmtp_destination(std::string_view(c.mailbox_transport).substr(5), lmtp_dest)))
        return "bad mailbox_transport \"" + c.mailbox_transport +
               "\" (want lmtp:unix:/path or lmtp:inet:host:port)";
    if (c.smtp_destination_concurrency_limit < 1 || c.smtp_concurrency_limit < 1)
        return "smtp concurrency limits must be at least 1";
    if (c.queue_retry_min < 1 || c.queue_retry_max < c.queue_retry_min)
        return "queue_retry_min must be at least 1s and at most queue_retry_max";
    if (c.local_concurrency < 1) return "local_concurrency must be at least 1";
    std::string bad_net;
    if (!parse_networks(c.trusted_networks, bad_net))
        return "trusted_networks: \"" + bad_net + "\" is not an address or address/prefix";
    if (!parse_networks(c.smtpd_client_event_limit_exceptions, bad_net))
        return "smtpd_client_event_limit_exceptions: \"" + bad_net +
               "\" is not an address or address/prefix";
    if (c.queue_db_cache < 1024 * 1024) return "queue_db_cache must be at least 1m";
    if (c.queue_log_file_size < 256 * 1024 || c.queue_log_file_size > 1024ull * 1024 * 1024)
        return "queue_log_file_size must be between 256k and 1g";
    if (c.queue_store != "bdb" && c.queue_store != "memory")
        return "queue_store must be bdb or memory";
    if (c.local_domains.empty()) return "local_domains must not be empty";
    if (c.smtpd_banner.rfind(c.hostname, 0) != 0)
        return "smtpd_banner must start with the hostname";
    return "";
}

}  // namespace

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char ch : s) {
        if (ch == ',' || std::isspace(static_cast<unsigned char>(ch))) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += ch;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

static bool parse_scaled(const std::string& s, uint64_t& out, const std::map<char, uint64_t>& units,
                         uint64_t def_unit) {
    if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    uint64_t unit = def_unit;
    if (i < s.size()) {
        if (i + 1 != s.size()) return false;
        auto it = units.find(static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))));
        if (it == units.end()) return false;
        unit = it->second;
    }
    if (unit && v > UINT64_MAX / unit) return false;
    out = v * unit;
    return true;
}

bool parse_size(const std::string& s, uint64_t& out) {
    static const std::map<char, uint64_t> units = {
        {'k', 1024ull}, {'m', 1024ull * 1024}, {'g', 1024ull * 1024 * 1024}};
    return parse_scaled(s, out, units, 1);
}

bool parse_duration(const std::string& s, uint64_t& out) {
    static const std::map<char, uint64_t> units = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
    return parse_scaled(s, out, units, 1);
}

bool parse_bool(const std::string& s, bool& out) {
    if (s == "yes" || s == "true" || s == "on" || s == "1") return out = true, true;
    if (s == "no" || s == "false" || s == "off" || s == "0") return out = false, true;
    return false;
}

Config default_config() {
    Config c;
    c.hostname = system_hostname();
    for (const Param& p : param_table()) {
        if (std::string(p.name) == "hostname") continue;
        std::string err = apply(p, p.default_value, c);
        if (!err.empty()) throw std::logic_error(std::string("default of ") + p.name + ": " + err);
    }
    return c;
}

Result<Config> parse_config(const std::string& text, const std::string& name) {
    // First pass: collect key -> (value, line) so that hostname applies before $hostname expansion.
    struct Item {
        std::string value;
        int line;
    };
    std::map<std::string, Item> items;
    std::vector<std::string> order, overrides;
    std::istringstream in(text);
    std::string line, key;
    int lineno = 0;
    auto err = [&](int ln, const std::string& m) {
        return make_error(Exit::config, name + ":" + std::to_string(ln) + ": " + m);
    };
    std::set<std::string> known;
    for (const Param& p : param_table())
        known.insert(p.name);

    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::string t = trim(line);
        if (t.empty() || t[0] == '#') continue;
        if (std::isspace(static_cast<unsigned char>(line[0]))) {
            if (key.empty()) return err(lineno, "continuation line without a key");
            std::string& v = items[key].value;
            v += v.empty() ? t : " " + t;
            continue;
        }
        size_t eq = t.find('=');
        if (eq == std::string::npos) return err(lineno, "expected \"key = value\"");
        key = trim(t.substr(0, eq));
        if (key.empty()) return err(lineno, "missing key before \"=\"");
        if (size_t dot = key.find('.'); dot != std::string::npos) {
            std::string role = key.substr(0, dot), sub = key.substr(dot + 1);
            if (!is_listener_role(role))
                return err(lineno,
                           "unknown listener role \"" + role + "\" (want mta, msa or smtps)");
            if (!known.count(sub)) return err(lineno, "unknown key \"" + sub + "\"");
            if (!is_listener_key(sub))
                return err(lineno, "\"" + sub + "\" cannot be set per listener");
            if (items.count(key))
                return err(lineno, "\"" + key + "\" set twice (first on line " +
                                       std::to_string(items[key].line) + ")");
            items[key] = Item{trim(t.substr(eq + 1)), lineno};
            overrides.push_back(key);
            continue;
        }
        if (!known.count(key)) return err(lineno, "unknown key \"" + key + "\"");
        if (items.count(key))
            return err(lineno, "\"" + key + "\" set twice (first on line " +
                                   std::to_string(items[key].line) + ")");
        items[key] = Item{trim(t.substr(eq + 1)), lineno};
        order.push_back(key);
    }

    Config c = default_config();
    c.config_file = name;
    if (auto it = items.find("hostname"); it != items.end() && !it->second.value.empty()) {
        if (!valid_text(it->second.value) || it->second.value.find(' ') != std::string::npos)
            return err(it->second.line, "bad hostname");
        c.hostname = it->second.value;
    }
    // Defaults that mention $hostname follow a configured hostname.
    for (const Param& p : param_table()) {
        if (std::string(p.name) == "hostname") continue;
        auto it = items.find(p.name);
        const std::string& v = it != items.end() ? it->second.value : std::string(p.default_value);
        std::string e = apply(p, v, c);
        if (!e.empty())
            return err(it != items.end() ? it->second.line : 0, std::string(p.name) + ": " + e);
    }
    std::string e = check(c);
    if (!e.empty()) return err(lineno, e);
    for (const auto& k : overrides) {
        size_t dot = k.find('.');
        c.listener_overrides.push_back(
            {k.substr(0, dot), k.substr(dot + 1), items[k].value, items[k].line});
    }
    for (const auto& o : c.listener_overrides) {
        Config r = c;
        for (const Param& p : param_table())
            if (o.key == p.name) e = apply(p, o.value, r);
        if (e.empty()) e = check(r);
        if (!e.empty()) return err(o.line, o.role + "." + o.key + ": " + e);
    }
    return c;
}

bool is_listener_role(const std::string& role) {
    return role == "mta" || role == "msa" || role == "smtps";
}

bool is_listener_key(const std::string& key) {
    return (key.rfind("smtpd_", 0) == 0 && key != "smtpd_user") || key.rfind("tls_", 0) == 0 ||
           key == "message_size_limit";
}

Config config_for_role(const Config& c, const std::string& role) {
    Config r = c;
    for (const auto& o : c.listener_overrides) {
        if (o.role != role) continue;
        for (const Param& p : param_table())
            if (o.key == p.name) (void)apply(p, o.value, r);
    }
    return r;
}

Result<Config> load_config(const std::string& path, bool allow_missing) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        if (allow_missing && errno == ENOENT) {
            Config c = default_config();
            c.config_file = path;
            return c;
        }
        return sys_error(path, errno, Exit::config);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_config(ss.str(), path);
}

std::string dump_config(const Config& c, bool non_default_only) {
    Config d = default_config();
    d.hostname = c.hostname;
    std::string out;
    if (!non_default_only || c.hostname != default_config().hostname)
        out += "hostname = " + c.hostname + "\n";
    for (const Param& p : param_table()) {
        if (std::string(p.name) == "hostname") continue;
        (void)apply(p, p.default_value, d);
        std::string v = current(p, c);
        if (non_default_only && v == current(p, d)) continue;
        out += std::string(p.name) + " = " + v + "\n";
    }
    for (const auto& o : c.listener_overrides)
        out += o.role + "." + o.key + " = " + o.value + "\n";
    return out;
}

std::vector<std::string> config_keys() {
    std::vector<std::string> k;
    for (const Param& p : param_table())
        k.emplace_back(p.name);
    return k;
}

std::string config_man_page() {
    std::string m =
        ".\\\" Generated from lib/conf/params.cpp by `tegami-config -m`; do not edit.\n"
        ".TH TEGAMI.CONF 5 \"\" \"Tegami\" \"File Formats\"\n"
        ".SH NAME\ntegami.conf \\- configuration of the Tegami mail transfer agent\n"
        ".SH DESCRIPTION\nOne file configures every Tegami process. Each line is\n"
        ".IR key \" = \" value .\nLines starting with \\(dq#\\(dq are comments; a line starting "
        "with white\n"
        "space continues the previous value. Lists are separated by commas and/or white space.\n"
        "Sizes are bytes with an optional k, m or g suffix (powers of 1024); durations are\n"
        "seconds with an optional s, m, h, d or w suffix. \\(dq$hostname\\(dq in a value stands\n"
        "for the hostname key. An unknown key, a key set twice or a bad value is an error that\n"
        "names file:line; every program then exits with status 78 (EX_CONFIG).\n"
        ".PP\nA key of the form\n.IR role . key\n(role mta, msa or smtps) sets an smtpd_*,\n"
        "tls_* or message_size_limit value for the sessions of that listener only, as\n"
        "Postfix's master.cf -o does; for example \\(dqmsa.smtpd_timeout = 600\\(dq.\n"
        ".PP\n.B tegami-config\nprints the effective configuration;\n.B tegami-config -n\n"
        "only what differs from the defaults; both check the file first.\n"
        ".SH PARAMETERS\n";
    for (const Param& p : param_table()) {
        m += ".TP\n.BR " + std::string(p.name) + " \" (default: " +
             (*p.default_value ? std::string(p.default_value) : std::string("empty")) + ")\"\n";
        m += std::string(p.doc) + "\n";
    }
    m += ".SH FILES\n" + std::string(default_config_path()) +
         "\n.SH SEE ALSO\n.BR tegami-config (8),\n.BR tegami (8)\n";
    return m;
}

}  // namespace tegami

namespace tegami {

std::string daemon_user(const Config& c, std::string_view daemon) {
    const std::string* own = nullptr;
    if (daemon == "smtpd") own = &c.smtpd_user;
    if (daemon == "queue") own = &c.queue_user;
    if (daemon == "local") own = &c.local_user;
    if (daemon == "auth") own = &c.auth_user;
    if (daemon == "remote") own = &c.remote_user;
    if (own && !own->empty()) return *own;
    return c.user + "-" + std::string(daemon);
}

}  // namespace tegami
