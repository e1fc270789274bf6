// options.cpp - see options.hpp. Pure: no I/O, no globals but constant tables.
#include "msp/sendmail/options.hpp"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <iterator>

#include "lib/mail/dsn_params.hpp"

namespace tegami::msp {

namespace {

// Flags that take an argument (attached or the next word), as sendmail's getopt string.
constexpr std::string_view kWithArg = "ABbCDeFfhLMNOopRrVX";

// sendmail 8.17's one-letter option names (-oX). Implemented by Tegami: i e d m L v;
// known to sendmail but without effect here: the rest (warned, and the group dropped
// unless sendmail counts them as safe). 'Z' is left out: 8.17 refuses -oZ with EX_CONFIG
// (observed).
constexpr std::string_view kKnownShort = "78AaBbCcdEeFfGHhIiJjKkLlMmnOoPpQqRrSsTtUuVvwXxYyz";
constexpr std::string_view kSafeShort = "78deiLmovpscjCB";

// Long names sendmail counts as safe for anyone (no privilege given up) that Tegami has
// no use for: warned about and ignored.
constexpr std::string_view kSafeLong[] = {"SevenBitInput",  "EightBitMode",       "OldStyleHeaders",
                                          "SendMimeErrors", "CheckpointInterval", "BlankSub",
                                          "HoldExpensive"};

// sendmail 8.17's long option names (-O Name=value), from its option table.
constexpr std::string_view kKnownLong[] = {
    "SevenBitInput",
    "EightBitMode",
    "AliasFile",
    "AliasWait",
    "BlankSub",
    "MinFreeBlocks",
    "CheckpointInterval",
    "HoldExpensive",
    "DeliveryMode",
    "ErrorHeader",
    "ErrorMode",
    "TempFileMode",
    "SaveFromLine",
    "MatchGECOS",
    "HelpFile",
    "MaxHopCount",
    "ResolverOptions",
    "IgnoreDots",
    "ForwardPath",
    "SendMimeErrors",
    "ConnectionCacheSize",
    "ConnectionCacheTimeout",
    "UseErrorsTo",
    "LogLevel",
    "MeToo",
    "CheckAliases",
    "OldStyleHeaders",
    "DaemonPortOptions",
    "PrivacyOptions",
    "PostmasterCopy",
    "QueueFactor",
    "QueueDirectory",
    "DontPruneRoutes",
    "StatusFile",
    "SuperSafe",
    "QueueTimeout",
    "TimeZoneSpec",
    "UserDatabaseSpec",
    "DefaultUser",
    "FallbackMXhost",
    "Verbose",
    "TryNullMXList",
    "QueueLA",
    "RefuseLA",
    "RecipientFactor",
    "ForkEachJob",
    "ClassFactor",
    "RetryFactor",
    "QueueSortOrder",
    "HostsFile",
    "MinQueueAge",
    "DefaultCharSet",
    "ServiceSwitchFile",
    "DialDelay",
    "NoRecipientAction",
    "SafeFileEnvironment",
    "MaxMessageSize",
    "ColonOkInAddr",
    "MaxQueueRunSize",
    "MaxDaemonChildren",
    "DontExpandCnames",
    "MustQuoteChars",
    "SmtpGreetingMessage",
    "UnixFromLine",
    "OperatorChars",
    "DontInitGroups",
    "SingleLineFromHeader",
    "AllowBogusHELO",
    "ConnectionRateThrottle",
    "UnsafeGroupWrites",
    "DoubleBounceAddress",
    "HostStatusDirectory",
    "SingleThreadDelivery",
    "RunAsUser",
    "RrtImpliesDsn",
    "PidFile",
    "DontBlameSendmail",
    "DontProbeInterfaces",
    "MaxRecipientsPerMessage",
    "DeadLetterDrop",
    "MaxAliasRecursion",
    "ConnectOnlyTo",
    "TrustedUser",
    "MaxMimeHeaderLength",
    "ControlSocketName",
    "MaxHeadersLength",
    "ProcessTitlePrefix",
    "DefaultAuthInfo",
    "AuthMechanisms",
    "ClientPortOptions",
    "DataFileBufferSize",
    "XscriptFileBufferSize",
    "ServerCertFile",
    "ServerKeyFile",
    "ClientCertFile",
    "ClientKeyFile",
    "CACertFile",
    "CACertPath",
    "DHParameters",
    "InputMailFilters",
    "AuthOptions",
    "QueueFileMode",
    "CertFingerprintAlgorithm",
    "CipherList",
    "RandFile",
    "TLSSrvOptions",
    "BadRcptThrottle",
    "DeliverByMin",
    "MaxQueueChildren",
    "MaxRunnersPerQueue",
    "DirectSubmissionModifiers",
    "NiceQueueRun",
    "SharedMemoryKey",
    "AuthMaxBits",
    "MailboxDatabase",
    "UseMSP",
    "DelayLA",
    "FastSplit",
    "SoftBounce",
    "SharedMemoryKeyFile",
    "RejectLogInterval",
    "RequiresDirfsync",
    "ConnectionRateWindowSize",
    "CRLFile",
    "FallbackSmartHost",
    "AuthRealm",
    "CRLPath",
    "HeloName",
    "MaxNOOPCommands",
    "BadRcptShutdown",
    "BadRcptShutdownGood",
    "ServerSSLOptions",
    "ClientSSLOptions",
    "MaxQueueAge",
    "RejectNUL",
    "UseCompressedIPv6Addresses",
    "SSLEngine",
    "SSLEnginePath",
    "TLSFallbacktoClear",
    "SetCertAltnames",
    "SmtpUTF8",
    "StrictTransportSecurity",
    "CipherSuites",
    "Timeout",
};

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A boolean option's value as sendmail reads it: none, or one that starts with t, T, y
// or Y, is true; anything else false.
bool option_true(std::string_view value) {
    return value.empty() || std::string_view("tTyY").find(value[0]) != std::string_view::npos;
}

Error usage_error(std::string msg) {
    return make_error(Exit::usage, std::move(msg));
}

// -o<letter><value>: one short option.
Result<void> short_option(Options& o, std::string_view v) {
    if (v.empty()) return usage_error("option requires an argument -- o");
    char letter = v[0];
    std::string_view value = v.substr(1);
    if (kKnownShort.find(letter) == std::string_view::npos)
        return make_error(Exit::config,
                          std::string("readcf: unknown option name 0x") +
                              "0123456789abcdef"[(static_cast<unsigned char>(letter) >> 4)] +
                              "0123456789abcdef"[static_cast<unsigned char>(letter) & 15] + " (" +
                              letter + ")");
    switch (letter) {
        case 'i':
            o.ignore_dots = option_true(value);
            return {};
        case 'e':
            if (!value.empty()) o.error_mode = value[0];
            return {};
        case 'd':
            if (!value.empty()) o.delivery_mode = value[0];
            return {};
        case 'm':
            o.me_too = option_true(value);
            return {};
        case 'v':
            o.verbose = option_true(value);
            return {};
        case 'L':
        case '7':
        case '8':
        case 'o':
        case 'p':
        case 's':
        case 'c':
            return {};  // log level, MIME and header style, privacy: nothing to do here
        case 'Q':
        case 'A':
            o.dangerous = true;
            o.warnings.push_back(std::string("option -o") + letter +
                                 " is not used by Tegami (its configuration names the paths); "
                                 "ignored, and the MSP group given up");
            return {};
        default:
            break;
    }
    if (kSafeShort.find(letter) == std::string_view::npos) o.dangerous = true;
    o.warnings.push_back(std::string("option -o") + letter + " has no effect in Tegami; ignored");
    return {};
}

// -O Name=value (or "Name value").
Result<void> long_option(Options& o, std::string_view v) {
    size_t eq = v.find_first_of("= ");
    std::string_view name = v.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : v.substr(eq);
    while (!value.empty() && (value[0] == ' ' || value[0] == '\t'))  // "Name = value"
        value.remove_prefix(1);
    if (!value.empty() && value[0] == '=') value.remove_prefix(1);
    while (!value.empty() && (value[0] == ' ' || value[0] == '\t'))
        value.remove_prefix(1);
    while (!name.empty() && name.back() == ' ')
        name.remove_suffix(1);
    std::string_view base = name.substr(0, name.find('.'));  // Timeout.queuereturn
    bool known = false;
    for (auto k : kKnownLong)
        if (iequal(k, base)) known = true;
    if (!known)
        return make_error(Exit::software,
                          "readcf: unknown option name " + std::string(name.empty() ? v : name));
    if (iequal(name, "IgnoreDots")) {
        o.ignore_dots = option_true(value);
    } else if (iequal(name, "ErrorMode")) {
        if (!value.empty()) o.error_mode = value[0];
    } else if (iequal(name, "DeliveryMode")) {
        if (!value.empty()) o.delivery_mode = value[0];
    } else if (iequal(name, "MeToo")) {
        o.me_too = option_true(value);
    } else if (iequal(name, "Verbose")) {
        o.verbose = option_true(value);
    } else if (std::any_of(std::begin(kSafeLong), std::end(kSafeLong),
                           [&](std::string_view k) { return iequal(k, name); })) {
        o.warnings.push_back("option " + std::string(name) + " has no effect in Tegami; ignored");
    } else if (!iequal(name, "LogLevel") && !iequal(name, "PrivacyOptions")) {
        o.dangerous = true;
        o.warnings.push_back("option " + std::string(name) +
                             " has no effect in Tegami; ignored, and the MSP group given up");
    }
    return {};
}

// -q[...]: run interval, -qf, -q[!]I/R/S substr, -qp (persistent, as an interval).
Result<void> queue_flag(Options& o, std::string_view v) {
    o.queue_run = true;
    if (v.empty()) return {};
    if (v == "f") {
        o.queue_foreground = true;
        return {};
    }
    bool negate = v[0] == '!';
    std::string_view r = negate ? v.substr(1) : v;
    if (!r.empty() && (r[0] == 'I' || r[0] == 'R' || r[0] == 'S')) {
        if (r.size() < 2) return usage_error(std::string("-q") + r[0] + " needs a substring");
        o.filters.push_back(QueueFilter{r[0], negate, std::string(r.substr(1))});
        return {};
    }
    if (!r.empty() && r[0] == 'Q') {  // held messages (Tegami's quarantine)
        o.filters.push_back(QueueFilter{'Q', negate, std::string(r.substr(1))});
        return {};
    }
    if (!r.empty() && r[0] == 'L') {
        if (negate || r.size() > 1) return usage_error("-qL takes no argument");
        o.lost_items = true;
        return {};
    }
    if (!r.empty() && r[0] == 'G') {
        if (negate) return usage_error("-q!G is not allowed");
        if (r.size() < 2) return usage_error("-qG needs a queue group name");
        // Tegami has one queue: sendmail's default group "mqueue" names it, any other
        // group does not exist (sendmail: "Queue group X unknown", EX_USAGE).
        if (r.substr(1) != kQueueGroup)
            return usage_error("Queue group " + std::string(r.substr(1)) +
                               " unknown (Tegami has one queue, mqueue)");
        o.queue_group = std::string(r.substr(1));
        return {};
    }
    if (negate) return usage_error("-q! needs I, R or S");
    if (r[0] == 'p') r.remove_prefix(1);
    if (r.empty()) return {};
    if (!parse_interval(r, o.queue_interval))
        return usage_error("Invalid time specification for -q: " + std::string(v));
    return {};
}

Result<void> apply(Options& o, char flag, std::string_view arg) {
    switch (flag) {
        case 'b':
            o.mode = std::string(arg);
            o.mode_given = true;
            return {};
        case 't':
            o.read_recipients = true;
            return {};
        case 'i':
            o.ignore_dots = true;
            return {};
        case 'f':
        case 'r':
            if (o.sender_flag) return usage_error("More than one \"from\" person");
            o.sender = std::string(arg);
            o.sender_flag = flag;
            return {};
        case 'F':
            o.full_name = std::string(arg);
            o.has_full_name = true;
            return {};
        case 'N': {
            // As sendmail: "never", or a comma list of success, failure, delay; kept in
            // the form RCPT's NOTIFY takes.
            auto bits = parse_notify(arg);
            if (!bits) return usage_error("Invalid -N argument");
            o.notify = notify_value(bits.value());
            return {};
        }
        case 'R': {
            auto ret = parse_ret(arg);
            if (!ret) return usage_error("Invalid -R value");
            o.ret = ret.value() == DsnRet::full ? "FULL" : "HDRS";
            return {};
        }
        case 'V':
            // sendmail takes the envelope ID already in xtext and sends it unchanged.
            if (arg.empty() || arg.size() > kMaxEnvidLength || !parse_envid(arg))
                return usage_error("Invalid syntax in -V flag");
            o.envid = std::string(arg);
            return {};
        case 'B':
            o.body_type = std::string(arg);
            return {};
        case 'U':
            o.smtputf8 = true;
            return {};
        case 'v':
            o.verbose = true;
            return {};
        case 'm':
            o.me_too = true;
            return {};
        case 'o':
            return short_option(o, arg);
        case 'O':
            return long_option(o, arg);
        case 'q':
            return queue_flag(o, arg);
        case 'Q':
            o.quarantine = true;
            o.quarantine_reason = std::string(arg);
            return {};
        case 'A':
            if (arg != "c" && arg != "m")
                return usage_error("Invalid -A argument: " + std::string(arg));
            o.queue_select = arg[0];
            return {};
        case 'C':
            o.config = std::string(arg);
            o.has_config = true;
            o.dangerous = true;
            return {};
        case 'L':
            o.log_tag = std::string(arg);
            return {};
        case 'X':
            o.xlog = std::string(arg);
            return {};
        case 'd':
            if (arg == "0.1" || arg == "0") {
                o.version = true;
            } else {
                o.dangerous = true;
                o.warnings.push_back("debug flags -d" + std::string(arg) + " are not supported");
            }
            return {};
        case 'D':  // debug output file
            o.dangerous = true;
            return {};
        case 'h':  // hop count
        case 'M':  // macro
        case 'p':  // protocol[:host]
        case 'e':  // error mode (old form)
        case 'G':
        case 'n':
        case 'c':
        case 's':
        case 'I':
        case 'T':
            return {};
        default:
            return usage_error(std::string("illegal option -- ") + flag);
    }
}

}  // namespace

std::string mode_for_program(std::string_view argv0) {
    size_t slash = argv0.rfind('/');
    std::string_view name = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
    if (name == "mailq") return "p";
    if (name == "newaliases") return "i";
    if (name == "hoststat") return "h";
    if (name == "purgestat") return "H";
    if (name == "smtpd") return "d";
    return "m";
}

namespace {

bool contains(std::string_view hay, std::string_view needle, bool fold) {
    if (needle.size() > hay.size()) return false;
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        bool eq = fold ? strncasecmp(hay.data() + i, needle.data(), needle.size()) == 0
                       : hay.substr(i, needle.size()) == needle;
        if (eq) return true;
    }
    return false;
}

}  // namespace

bool filters_match(const std::vector<QueueFilter>& filters, std::string_view id,
                   std::string_view sender, const std::vector<std::string>& recipients, bool held,
                   std::string_view hold_reason) {
    for (char kind : {'I', 'R', 'S', 'Q'}) {
        bool given = false, matched = false;
        for (const auto& f : filters) {
            if (f.kind != kind) continue;
            given = true;
            bool hit = false;
            if (kind == 'I') hit = contains(id, f.substr, false);
            if (kind == 'S') hit = contains(sender, f.substr, true);
            if (kind == 'Q') hit = held && contains(hold_reason, f.substr, true);
            if (kind == 'R')
                for (const auto& r : recipients)
                    hit = hit || contains(r, f.substr, true);
            if (hit != f.negate) matched = true;
        }
        if (given && !matched) return false;
    }
    return true;
}

bool parse_interval(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    uint64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
        uint64_t n = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            n = n * 10 + static_cast<uint64_t>(s[i] - '0');
            if (n > 100000000) return false;
            ++i;
        }
        uint64_t unit = 60;  // sendmail's default unit for -q is minutes
        if (i < s.size()) {
            switch (s[i]) {
                case 's':
                    unit = 1;
                    break;
                case 'm':
                    unit = 60;
                    break;
                case 'h':
                    unit = 3600;
                    break;
                case 'd':
                    unit = 86400;
                    break;
                case 'w':
                    unit = 7 * 86400;
                    break;
                default:
                    return false;
            }
            ++i;
        }
        total += n * unit;
    }
    out = total;
    return true;
}

Result<Options> parse_options(const std::vector<std::string>& args, std::string_view argv0) {
    Options o;
    o.mode = mode_for_program(argv0);
    bool flags_done = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (flags_done || a.size() < 2 || a[0] != '-') {
            o.recipients.push_back(a);
            continue;
        }
        if (a == "--") {
            flags_done = true;
            continue;
        }
        if (a == "--json") {
            o.json = true;
            continue;
        }
        if (a == "--delete") {
            o.delete_ids = true;
            continue;
        }
        if (a[1] == '-') return usage_error("illegal option -- -");
        for (size_t j = 1; j < a.size(); ++j) {
            char flag = a[j];
            if (flag == 'q' || flag == 'd' || flag == 'Q') {  // optional, attached only
                if (flag == 'd' && j + 1 == a.size())
                    return usage_error("option requires an argument -- d");
                if (auto r = apply(o, flag, std::string_view(a).substr(j + 1)); !r)
                    return r.error();
                break;
            }
            if (kWithArg.find(flag) != std::string_view::npos) {
                std::string_view arg;
                if (j + 1 < a.size())
                    arg = std::string_view(a).substr(j + 1);
                else if (i + 1 < args.size())
                    arg = args[++i];
                else
                    return usage_error(std::string("option requires an argument -- ") + flag);
                if (auto r = apply(o, flag, arg); !r) return r.error();
                break;
            }
            if (auto r = apply(o, flag, ""); !r) return r.error();
        }
    }
    return o;
}

}  // namespace tegami::msp
