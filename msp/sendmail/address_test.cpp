// address_test.cpp - see address_test.hpp. Pure; no I/O.
#include "msp/sendmail/address_test.hpp"

#include <strings.h>

#include <cctype>

namespace tegami::msp {

namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
}

bool in_list(const std::vector<std::string>& l, std::string_view d) {
    for (const auto& x : l)
        if (iequal(x, d)) return true;
    return false;
}

// "<a@b>" or "Name <a@b>" -> "a@b"; a bare address as it is.
std::string bare_address(std::string_view a) {
    a = trim(a);
    size_t lt = a.rfind('<');
    size_t gt = a.rfind('>');
    if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt)
        a = a.substr(lt + 1, gt - lt - 1);
    return std::string(trim(a));
}

// "user < @ domain . >" from "user@domain".
std::string focused(std::string_view user, std::string_view domain) {
    if (domain.empty()) return tokenize(user);
    return tokenize(user) + " < @ " + tokenize(domain) + " . >";
}

// "canonify           input: ..." / "canonify         returns: ...": sendmail right-aligns
// "input"/"returns" so that the colon falls in column 25.
std::string rs_line(std::string_view name, std::string_view what, std::string_view tokens) {
    std::string out(name);
    size_t used = name.size() + what.size();
    out.append(used < 24 ? 24 - used : 1, ' ');
    out += what;
    out += ": ";
    out += tokens;
    out += '\n';
    return out;
}

std::string resolved_tokens(const Resolved& r) {
    if (r.mailer == "error") return "$# error $@ " + tokenize(r.host) + " $: " + r.error;
    std::string o = "$# " + r.mailer;
    if (!r.host.empty()) o += " $@ " + tokenize(r.host);
    size_t at = r.user.rfind('@');
    o += " $: " + (r.mailer == "local" || at == std::string::npos
                       ? tokenize(r.user)
                       : focused(r.user.substr(0, at), r.user.substr(at + 1)));
    return o;
}

// A mailertable value "mailer:host" (or "error:D.S.N:code text") as a resolution.
Resolved from_mailertable(std::string_view v, const std::string& addr) {
    Resolved r;
    v = trim(v);
    size_t colon = v.find(':');
    r.mailer = std::string(trim(v.substr(0, colon)));
    std::string_view rest = colon == std::string_view::npos ? "" : trim(v.substr(colon + 1));
    if (iequal(r.mailer, "error")) {
        r.mailer = "error";
        size_t sp = rest.find(' ');
        std::string_view first = rest.substr(0, sp);
        if (first.find(':') != std::string_view::npos) {  // D.S.N:code
            r.host = std::string(first.substr(0, first.find(':')));
            r.error = std::string(first.substr(first.find(':') + 1)) +
                      (sp == std::string_view::npos ? "" : std::string(rest.substr(sp)));
        } else {
            r.host = "5.0.0";
            r.error = std::string(rest);
        }
        return r;
    }
    if (iequal(r.mailer, "local")) {
        r.user = rest.empty() ? addr : std::string(rest);
        return r;
    }
    r.host = std::string(rest);
    r.user = addr;
    return r;
}

// A map that cannot be read makes the address wait, as the queue's routing does (4.3.5:
// the admin fixes the map, the mail waits), never a guess.
Resolved map_trouble(std::string_view map, const Error& e) {
    Resolved r;
    r.mailer = "error";
    r.host = "4.3.5";
    r.error = "451 " + std::string(map) + ": " + e.message;
    return r;
}

}  // namespace

std::string tokenize(std::string_view addr) {
    static constexpr std::string_view kSpecials = "()<>,;:\\\"[]@.%!$";
    std::vector<std::string> toks;
    std::string word;
    auto flush = [&] {
        if (!word.empty()) toks.push_back(std::move(word));
        word.clear();
    };
    for (size_t i = 0; i < addr.size(); ++i) {
        char c = addr[i];
        if (c == '"') {  // a quoted string is one token
            flush();
            size_t end = i + 1;
            while (end < addr.size() && addr[end] != '"') {
                if (addr[end] == '\\') ++end;
                ++end;
            }
            toks.emplace_back(addr.substr(i, std::min(end + 1, addr.size()) - i));
            i = end;
            continue;
        }
        if (std::isspace(static_cast<unsigned char>(c))) {
            flush();
            continue;
        }
        if (kSpecials.find(c) != std::string_view::npos) {
            flush();
            toks.emplace_back(1, c);
            continue;
        }
        word.push_back(c);
    }
    flush();
    std::string out;
    for (const auto& t : toks) {
        if (!out.empty()) out += ' ';
        out += t;
    }
    return out;
}

Resolved resolve_address(std::string_view in, const AddressTestContext& ctx, int depth) {
    std::string addr = bare_address(in);
    Resolved r;
    if (addr.empty() || addr.find_first_of(" \t") != std::string::npos) {
        r.mailer = "error";
        r.host = "5.1.3";
        r.error = "553 Invalid address";
        return r;
    }
    size_t at = addr.rfind('@');
    if (at == std::string::npos) {  // unqualified: a local user, as ruleset 0 treats it
        r.mailer = "local";
        r.user = addr;
        return r;
    }
    std::string user = addr.substr(0, at);
    std::string domain = lower(addr.substr(at + 1));
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
    if (domain.empty() || user.empty()) {
        r.mailer = "error";
        r.host = "5.1.3";
        r.error = "553 Invalid address";
        return r;
    }
    if (in_list(ctx.local_domains, domain) || iequal(domain, ctx.hostname)) {
        r.mailer = "local";
        r.user = user;
        return r;
    }
    if (in_list(ctx.virtual_domains, domain) && ctx.lookup) {
        for (const std::string& key : {lower(user) + "@" + domain, "@" + domain}) {
            auto v = ctx.lookup("virtuser", key);
            if (!v && v.error().exit != Exit::unavailable)
                return map_trouble("virtuser", v.error());
            if (!v || !*v) continue;
            std::string target(trim(**v));
            if (target.substr(0, 6) == "error:") return from_mailertable(target, addr);
            if (target.find('@') == std::string::npos) {
                r.mailer = "local";
                r.user = target;
                return r;
            }
            if (depth >= 10) break;  // a loop of virtual addresses
            return resolve_address(target, ctx, depth + 1);
        }
        r.mailer = "error";
        r.host = "5.1.1";
        r.error = "550 User unknown";
        return r;
    }
    if (ctx.lookup) {
        std::vector<std::string> keys = {domain};
        for (size_t dot = domain.find('.'); dot != std::string::npos;
             dot = domain.find('.', dot + 1))
            keys.push_back(domain.substr(dot));
        keys.emplace_back(".");
        for (const auto& k : keys) {
            auto v = ctx.lookup("mailertable", k);
            if (!v && v.error().exit != Exit::unavailable)
                return map_trouble("mailertable", v.error());
            if (v && *v) return from_mailertable(**v, addr);
        }
    }
    r.user = addr;
    if (!ctx.smarthost.empty()) {
        r.mailer = "relay";
        r.host = ctx.smarthost;
    } else {
        r.mailer = "esmtp";
        r.host = domain + ".";
    }
    return r;
}

std::string AddressTester::ruleset_chain(std::string_view names, std::string_view addr) {
    std::string out;
    std::string cur = std::string(trim(addr));
    std::string shown = tokenize(cur);  // what the next ruleset is shown to get
    size_t pos = 0;
    while (pos <= names.size()) {
        size_t comma = names.find(',', pos);
        std::string_view rs = trim(names.substr(
            pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
        pos = comma == std::string_view::npos ? names.size() + 1 : comma + 1;
        std::string label;
        if (rs == "3" || iequal(rs, "canonify")) label = "canonify";
        if (rs == "0" || iequal(rs, "parse")) label = "parse";
        if (rs == "4" || iequal(rs, "final")) label = "final";
        if (rs == "1" || rs == "2") label = std::string(rs);
        if (label.empty()) return out + "Undefined ruleset " + std::string(rs) + "\n";
        std::string bare = bare_address(cur);
        out += rs_line(label, "input", shown);
        if (label == "canonify") {
            size_t at = bare.rfind('@');
            cur = bare;  // the focus is shown; the address goes on as it is
            shown = at == std::string::npos ? tokenize(bare)
                                            : focused(bare.substr(0, at), bare.substr(at + 1));
        } else if (label == "parse") {
            Resolved r = resolve_address(bare, ctx_);
            shown = resolved_tokens(r);
            cur = r.mailer == "error" ? bare : r.user;
        } else if (label == "final") {
            shown = tokenize(bare);
        }
        out += rs_line(label, "returns", shown);
        if (label == "parse") shown = tokenize(cur);
    }
    return out;
}

std::string AddressTester::parse_cmd(std::string_view addr) {
    std::string out = "Cracked address = $g\nParsing envelope recipient address\n";
    out += ruleset_chain("canonify,parse", addr);
    Resolved r = resolve_address(addr, ctx_);
    if (r.mailer == "error")
        out += bare_address(addr) + "... " + r.error.substr(r.error.find(' ') + 1) + "\n";
    else
        out += "mailer " + r.mailer + ", " + (r.host.empty() ? "" : "host " + r.host + ", ") +
               "user " + r.user + "\n";
    return out;
}

std::string AddressTester::try_cmd(std::string_view args) {
    args = trim(args);
    size_t sp = args.find_first_of(" \t");
    if (sp == std::string_view::npos) return "Usage: /try mailer address\n";
    std::string mailer(args.substr(0, sp));
    std::string addr = bare_address(args.substr(sp + 1));
    static constexpr std::string_view kMailers[] = {"local", "prog",  "*file*", "esmtp",
                                                    "smtp",  "relay", "lmtp"};
    bool known = false;
    for (auto m : kMailers)
        if (iequal(m, mailer)) known = true;
    if (!known) return "Unknown mailer " + mailer + "\n";
    std::string out = std::string("Trying ") + (try_header_ ? "header" : "envelope") + " " +
                      (try_sender_ ? "sender" : "recipient") + " address " + addr + " for mailer " +
                      mailer + "\n";
    if (!iequal(mailer, "local") && !iequal(mailer, "prog") && !iequal(mailer, "*file*") &&
        addr.find('@') == std::string::npos)
        addr += "@" + ctx_.hostname;
    out += "Rcode = 0, addr = " + addr + "\n";
    return out;
}

std::string AddressTester::map_cmd(std::string_view args) {
    args = trim(args);
    size_t sp = args.find_first_of(" \t");
    if (args.empty() || sp == std::string_view::npos) return "Usage: /map mapname key\n";
    std::string name(args.substr(0, sp));
    std::string key(trim(args.substr(sp + 1)));
    if (name != "mailertable" && name != "virtuser" && name != "access")
        return "Map named \"" + name + "\" not found\n";
    if (!ctx_.lookup) return "Map named \"" + name + "\" not found\n";
    auto v = ctx_.lookup(name, key);
    if (!v) return "map_lookup: " + name + " (" + key + ") " + v.error().message + "\n";
    if (!*v) return "map_lookup: " + name + " (" + key + ") no match (0)\n";
    return "map_lookup: " + name + " (" + key + ") returns " + **v + " (0)\n";
}

std::string AddressTester::macro(std::string_view in) {
    if (in == "$=w") {
        std::string out;
        std::vector<std::string> seen;
        auto add = [&](const std::string& d) {
            if (!in_list(seen, d)) seen.push_back(d);
        };
        add(ctx_.hostname);
        for (const auto& d : ctx_.local_domains)
            add(d);
        for (const auto& d : seen)
            out += d + "\n";
        return out;
    }
    if (in.size() >= 3 && in[1] == '=') return "\n";  // a class Tegami does not keep: empty
    std::string_view h = ctx_.hostname;
    size_t dot = h.find('.');
    if (in == "$j") return std::string(h) + "\n";
    if (in == "$w") return std::string(h.substr(0, dot)) + "\n";
    if (in == "$m")
        return std::string(dot == std::string_view::npos ? "" : h.substr(dot + 1)) + "\n";
    return "\n";  // an undefined macro expands to nothing
}

std::string AddressTester::line(std::string_view raw) {
    std::string_view in = trim(raw);
    if (in.empty() || in[0] == '#') return {};
    if (in[0] == '$') return macro(in);
    if (in[0] == '/') {
        size_t sp = in.find_first_of(" \t");
        std::string_view cmd = in.substr(0, sp);
        std::string_view rest = sp == std::string_view::npos ? "" : trim(in.substr(sp));
        if (cmd == "/quit") {
            quit_ = true;
            return {};
        }
        if (cmd == "/parse") return rest.empty() ? "Usage: /parse address\n" : parse_cmd(rest);
        if (cmd == "/try") return try_cmd(rest);
        if (cmd == "/map") return map_cmd(rest);
        if (cmd == "/tryflags") {
            for (char c : rest) {
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                if (c == 'H') try_header_ = true;
                if (c == 'E') try_header_ = false;
                if (c == 'S') try_sender_ = true;
                if (c == 'R') try_sender_ = false;
            }
            return {};
        }
        if (cmd == "/mx")
            return "/mx: Tegami's sendmail -bt does not resolve MX records (use: dig MX " +
                   std::string(rest) + ")\n";
        return "Unknown \"/\" command " + std::string(cmd) + "\n";
    }
    if (in[0] == '=' || in[0] == '.' || in[0] == '-')
        return "Tegami has no rewriting rules, macros or debug flags to show or set: \"" +
               std::string(in.substr(0, 2)) + "\" is not supported\n";
    if (in[0] == '?') {
        return "Tegami address test mode: <ruleset[,ruleset...]> <address> (rulesets 3 "
               "canonify, 0 parse, 4 final, 1, 2); /parse address; /try mailer address; "
               "/tryflags [HESR]; /map mailertable|virtuser|access key; $j $w $m $=w; "
               "/quit\n";
    }
    size_t sp = in.find_first_of(" \t");
    if (sp == std::string_view::npos) return "Undefined ruleset " + std::string(in) + "\n";
    return ruleset_chain(in.substr(0, sp), in.substr(sp + 1));
}

}  // namespace tegami::msp
