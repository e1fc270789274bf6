// parser_test.cpp - tegami.conf parsing: bad inputs first (each must name file:line and
// map to EX_CONFIG), then good ones; value parsers; the man page documents every key.
#include <criterion/criterion.h>

#include <fstream>
#include <sstream>
#include <string>

#include "lib/conf/config.hpp"
#include "lib/conf/listen.hpp"
#include "lib/conf/params.hpp"

using namespace tegami;

namespace {
struct BadCase {
    const char* text;
    const char* where;    // expected "name:line:" prefix
    const char* message;  // expected substring
};
}  // namespace

Test(conf_parser, bad_inputs_name_file_and_line) {
    const BadCase cases[] = {
        {"foo = 1\n", "t.conf:1:", "unknown key \"foo\""},
        {"# c\n\nmessage_size_limit = lots\n", "t.conf:3:", "bad size"},
        {"message_size_limit = 10x\n", "t.conf:1:", "bad size"},
        {"smtpd_timeout = 5 minutes\n", "t.conf:1:", "bad duration"},
        {"smtpd_timeout = -5\n", "t.conf:1:", "bad duration"},
        {"queue_dir = relative/path\n", "t.conf:1:", "not an absolute path"},
        {"mta_listen = 127.0.0.1\n", "t.conf:1:", "bad listen address"},
        {"mta_listen = 127.0.0.1:0\n", "t.conf:1:", "bad listen address"},
        {"mta_listen = 127.0.0.1:70000\n", "t.conf:1:", "bad listen address"},
        {"mta_listen = localhost:25\n", "t.conf:1:", "bad listen address"},
        {"mta_listen = [::1:25\n", "t.conf:1:", "bad listen address"},
        {"mailbox_format = mh\n", "t.conf:1:", "bad mailbox format"},
        {"smtpd_recipient_limit = 10\n", "t.conf:1:", "at least 100"},
        {"smtpd_recipient_limit = ten\n", "t.conf:1:", "bad number"},
        {"lmtp_destination_recipient_limit = fifty\n", "t.conf:1:", "bad number"},
        {"lmtp_destination_recipient_limit = -1\n", "t.conf:1:", "bad number"},
        {"\nlmtp_destination_recipient_limit = 5 6\n", "t.conf:2:", "bad number"},
        {"user = a\nuser = b\n", "t.conf:2:", "set twice"},
        {"  continued\n", "t.conf:1:", "continuation line without a key"},
        {"just words\n", "t.conf:1:", "expected \"key = value\""},
        {" = 5\n", "t.conf:1:", "continuation line"},
        {"= 5\n", "t.conf:1:", "missing key"},
        {"queue_store = tmpfs\n", "t.conf:1:", "queue_store"},
        {"queue_log_file_size = 100k\n", "t.conf:1:", "queue_log_file_size must be between"},
        {"queue_log_file_size = 2g\n", "t.conf:1:", "queue_log_file_size must be between"},
        {"hostname = mx.example.org\nsmtpd_banner = other ESMTP\n",
         "t.conf:2:", "start with the hostname"},
        {"smtpd_banner = x\x01y\n", "t.conf:1:", "control character"},
        {"lmtp.smtpd_timeout = 5\n", "t.conf:1:", "unknown listener role \"lmtp\""},
        {"msa.frobnicate = 5\n", "t.conf:1:", "unknown key \"frobnicate\""},
        {"msa.queue_dir = /x\n", "t.conf:1:", "\"queue_dir\" cannot be set per listener"},
        {"\n\nmsa.smtpd_timeout = soon\n", "t.conf:3:", "msa.smtpd_timeout: bad duration"},
        {"smtps.smtpd_error_limit = 0\n", "t.conf:1:", "smtpd_error_limit must be at least 1"},
        {"msa.smtpd_timeout = 5\nmsa.smtpd_timeout = 6\n", "t.conf:2:", "set twice"},
        {"msa_listen = 127.0.0.1\n", "t.conf:1:", "bad listen address"},
        {"mailbox_transport = local\n", "t.conf:1:", "bad mailbox_transport"},
        {"\nmailbox_transport = lmtp:unix:relative\n", "t.conf:2:", "bad mailbox_transport"},
        {"mailbox_transport = lmtp:inet:host:0\n", "t.conf:1:", "bad mailbox_transport"},
        {"lmtp_timeout = 0\n", "t.conf:1:", "lmtp_timeout must be at least 1s"},
        {"auth_backend = ldap\n", "t.conf:1:", "auth_backend must be builtin or dovecot"},
        {"auth_dovecot_timeout = 0\n", "t.conf:1:", "auth_dovecot_timeout must be at least 1s"},
        {"auth_mechanisms = PLAIN, plain\n", "t.conf:1:", "\"plain\" is not a SASL mechanism"},
        {"auth_mechanisms = CRAM-MD5\n", "t.conf:1:", "not a mechanism of the builtin backend"},
        {"auth_backend = dovecot\nauth_mechanisms = SCRAM-SHA-256-PLUS\n",
         "t.conf:2:", "SCRAM-SHA-256-PLUS needs the builtin backend"},
    };
    for (const auto& c : cases) {
        auto r = parse_config(c.text, "t.conf");
        cr_assert(!r.ok(), "accepted: %s", c.text);
        cr_expect_eq(code(r.error().exit), 78, "exit for %s", c.text);
        const std::string& m = r.error().message;
        cr_expect(m.rfind(c.where, 0) == 0, "where: got \"%s\" for %s", m.c_str(), c.text);
        cr_expect(m.find(c.message) != std::string::npos, "message: got \"%s\" for %s", m.c_str(),
                  c.text);
    }
}

Test(conf_parser, good_input_sets_values) {
    auto r = parse_config(
        "# comment\n"
        "hostname = mx.example.org\n"
        "local_domains = example.org,\n"
        "   example.net  mx.example.org\n"
        "message_size_limit = 20m\n"
        "smtpd_timeout = 5m\n"
        "queue_lifetime = 2d\n"
        "queue_log_file_size = 1m\n"
        "mta_listen = 127.0.0.1:2525, [::1]:2525\n"
        "lmtp_destination_recipient_limit = 0\n"
        "mailbox_format = maildir\r\n",
        "t.conf");
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    const Config& c = r.value();
    cr_expect_eq(c.hostname, "mx.example.org");
    cr_expect_eq(c.local_domains.size(), 3u);
    cr_expect_eq(c.local_domains[1], "example.net");
    cr_expect_eq(c.message_size_limit, 20u * 1024 * 1024);
    cr_expect_eq(c.smtpd_timeout, 300u);
    cr_expect_eq(c.queue_lifetime, 2u * 86400);
    cr_expect_eq(c.queue_log_file_size, 1024u * 1024);
    cr_expect_eq(c.mta_listen.size(), 2u);
    cr_expect(c.mailbox_format == MailboxFormat::maildir);
    cr_expect_eq(c.lmtp_destination_recipient_limit, 0u, "0: no limit");
    cr_expect_eq(c.smtp_destination_recipient_limit, 50u, "the smtp limit keeps its default");
    cr_expect_eq(c.smtpd_banner, "mx.example.org ESMTP Tegami",
                 "$hostname follows the configured hostname");
}

Test(conf_parser, empty_file_gives_defaults) {
    auto r = parse_config("", "t.conf");
    cr_assert(r.ok());
    cr_expect_eq(r->user, "tegami");
    cr_expect_eq(r->message_size_limit, 10240000u);
    cr_expect_eq(r->queue_store, "bdb");
    cr_expect_eq(r->lmtp_destination_recipient_limit, 50u);
}

Test(conf_parser, missing_file) {
    auto r = load_config("/nonexistent/tegami.conf");
    cr_assert(!r.ok());
    cr_expect_eq(code(r.error().exit), 78);
    cr_expect(load_config("/nonexistent/tegami.conf", true).ok());
}

Test(conf_parser, dump_round_trips) {
    auto r = parse_config("hostname = h.example\nsmtpd_error_limit = 7\n", "t.conf");
    cr_assert(r.ok());
    std::string nd = dump_config(r.value(), true);
    cr_expect(nd.find("smtpd_error_limit = 7\n") != std::string::npos, "%s", nd.c_str());
    auto again = parse_config(dump_config(r.value(), false), "dump");
    cr_assert(again.ok(), "%s", again.ok() ? "" : again.error().message.c_str());
    cr_expect_eq(dump_config(again.value(), false), dump_config(r.value(), false));
}

Test(conf_values, sizes_and_durations) {
    uint64_t v = 0;
    const char* bad_sizes[] = {
        "", "k", "-1", "1kk", "1 k", "1t", "99999999999999999999", "18446744073709551615k"};
    for (const char* s : bad_sizes)
        cr_expect(!parse_size(s, v), "size accepted: %s", s);
    cr_expect(parse_size("0", v) && v == 0);
    cr_expect(parse_size("10k", v) && v == 10240);
    cr_expect(parse_size("2M", v) && v == 2u * 1024 * 1024);
    cr_expect(parse_size("1g", v) && v == 1024u * 1024 * 1024);
    const char* bad_durations[] = {"", "s", "5x", "1.5h", "5 s"};
    for (const char* s : bad_durations)
        cr_expect(!parse_duration(s, v), "duration accepted: %s", s);
    cr_expect(parse_duration("90", v) && v == 90);
    cr_expect(parse_duration("2h", v) && v == 7200);
    cr_expect(parse_duration("1w", v) && v == 604800);
    bool b;
    cr_expect(!parse_bool("maybe", b));
    cr_expect(parse_bool("yes", b) && b);
    cr_expect(parse_bool("off", b) && !b);
}

Test(conf_values, listen_addresses) {
    ListenAddress la;
    const char* bad[] = {
        "",      ":25",     "127.0.0.1:", "127.0.0.1:x",     "1.2.3:25",      "::1:25",
        "[::1]", "[::1]25", "[zz]:25",    "127.0.0.1:65536", "127.0.0.1:025a"};
    for (const char* s : bad)
        cr_expect(!parse_listen_address(s, la), "accepted: %s", s);
    cr_assert(parse_listen_address("127.0.0.1:2525", la));
    cr_expect_eq(la.host, "127.0.0.1");
    cr_expect_eq(la.port, 2525);
    cr_expect(!la.ipv6);
    cr_assert(parse_listen_address("[::1]:25", la));
    cr_expect_eq(la.host, "::1");
    cr_expect(la.ipv6);
}

Test(conf_doc, man_page_documents_every_key) {
    const char* env_src = std::getenv("TEGAMI_SRC");
    std::string src = env_src ? env_src : ".";
    std::ifstream f(src + "/doc/tegami.conf.5");
    cr_assert(f.good(), "doc/tegami.conf.5 missing (run from the source tree or set TEGAMI_SRC)");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string man = ss.str();
    // Each key with its default exactly as the parameter table declares it.
    for (const Param& p : param_table()) {
        std::string def = *p.default_value ? p.default_value : "empty";
        std::string entry = ".BR " + std::string(p.name) + " \" (default: " + def + ")\"\n";
        cr_expect(man.find(".BR " + std::string(p.name) + " ") != std::string::npos,
                  "key %s is not in doc/tegami.conf.5", p.name);
        cr_expect(man.find(entry) != std::string::npos,
                  "doc/tegami.conf.5 does not give %s the default \"%s\" (regenerate it with "
                  "tegami-config -m)",
                  p.name, def.c_str());
    }
    std::string gen = config_man_page();
    for (const auto& k : config_keys())
        cr_expect(gen.find(".BR " + k + " ") != std::string::npos);
    cr_expect_eq(gen, man, "doc/tegami.conf.5 differs from tegami-config -m");
}

Test(conf_parser, per_listener_overrides_apply_to_their_role_only) {
    auto r = parse_config(
        "smtpd_timeout = 100\nmsa.smtpd_timeout = 600\nsmtps.message_size_limit = 2m\n"
        "msa_listen = 127.0.0.1:2587\nsmtps_listen =\n",
        "t.conf");
    cr_assert(r.ok(), "%s", r.ok() ? "" : r.error().message.c_str());
    const Config& c = r.value();
    cr_expect_eq(c.smtpd_timeout, 100u);
    cr_expect_eq(config_for_role(c, "mta").smtpd_timeout, 100u);
    cr_expect_eq(config_for_role(c, "msa").smtpd_timeout, 600u);
    cr_expect_eq(config_for_role(c, "smtps").smtpd_timeout, 100u);
    cr_expect_eq(config_for_role(c, "smtps").message_size_limit, 2u * 1024 * 1024);
    cr_expect_eq(config_for_role(c, "msa").message_size_limit, c.message_size_limit);
    cr_expect_eq(c.msa_listen.size(), 1u);
    cr_expect(c.smtps_listen.empty());
    std::string d = dump_config(c, true);
    cr_expect(d.find("msa.smtpd_timeout = 600\n") != std::string::npos, "%s", d.c_str());
}

Test(conf_parser, submission_listener_defaults) {
    Config c = default_config();
    cr_expect_eq(c.msa_listen, (std::vector<std::string>{"0.0.0.0:587", "[::]:587"}));
    cr_expect_eq(c.smtps_listen, (std::vector<std::string>{"0.0.0.0:465", "[::]:465"}));
    cr_expect(c.tls_cert_file.empty());
    cr_expect_eq(c.tls_handshake_timeout, 60u);
}
