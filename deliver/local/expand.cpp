// expand.cpp - see expand.hpp. Called by the local server (deliver/local/server.cpp).
// Trusts the aliases table as parsed and :include: files that pass the safe-file checks;
// trusts nothing in the recipient. A program or file target is only ever recorded here,
// never run or opened: the delivery child does that as the user recorded with it.
// Invariants: expansion terminates (depth bound and the alias path), every delivery
// appears once, no mailbox of uid 0 and no program or file as uid 0 is ever returned.
#include "deliver/local/expand.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/error_target.hpp"
#include "lib/map/recipients.hpp"

namespace tegami::local {

namespace {

constexpr std::string_view kAliasErrorText = "refused by an error: alias";

TargetFailure failure_of(ErrorTarget&& e, std::string_view target) {
    TargetFailure f;
    f.target.assign(target);
    f.status = e.status;
    f.dsn = std::move(e.dsn);
    f.text = std::move(e.text);
    return f;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool getpw(const std::string& name, LocalUser& out) {
    if (name.empty() || name.find('\0') != std::string::npos) return false;
    passwd pw{};
    passwd* res = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr)
        return false;
    out = LocalUser{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
    return true;
}

bool getpw_uid(uid_t uid, LocalUser& out) {
    passwd pw{};
    passwd* res = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr) return false;
    out = LocalUser{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
    return true;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// sendmail's safe-file rule for a file others' mail depends on: every directory from
// the root down is writable only by its owner (or sticky), owned by root or by the
// file's owner; the file itself is regular and not writable by group or others.
Result<void> check_safe_path(const std::string& path, const struct stat& file) {
    if (!S_ISREG(file.st_mode)) return make_error(Exit::no_perm, "not a regular file");
    if ((file.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return make_error(Exit::no_perm, "writable by group or others");
    for (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0;
         slash = path.rfind('/', slash - 1)) {
        std::string dir = path.substr(0, slash);
        struct stat st {};
        if (::lstat(dir.c_str(), &st) != 0) return sys_error("lstat " + dir, errno);
        if (S_ISLNK(st.st_mode) && ::stat(dir.c_str(), &st) != 0)
            return sys_error("stat " + dir, errno);
        bool sticky = (st.st_mode & S_ISVTX) != 0;
        if (!sticky && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
            return make_error(Exit::no_perm, dir + " is writable by group or others");
        if (st.st_uid != 0 && st.st_uid != file.st_uid)
            return make_error(Exit::no_perm, dir + " is owned by another user");
    }
    return {};
}

Result<std::vector<std::string>> parse_target_lines(std::string_view text, const std::string& name);

// The address of an address target written in an RFC 5322 form sendmail also reads:
// "bob (Bob Smith)" loses its comment, "Bob Smith <bob@example.org>" is its angle
// address. Quoted strings are kept as they are; a target with an unclosed comment,
// quote or angle bracket is returned unchanged (and fails as the name it is).
std::string address_of(std::string_view t) {
    std::string out;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        if (depth > 0) {
            if (c == '\\')
                ++i;
            else if (c == '(')
                ++depth;
            else if (c == ')')
                --depth;
            continue;
        }
        if (quoted) {
            out += c;
            if (c == '\\' && i + 1 < t.size())
                out += t[++i];
            else if (c == '"')
                quoted = false;
            continue;
        }
        if (c == '(') {
            depth = 1;
            continue;
        }
        if (c == '"') quoted = true;
        out += c;
    }
    if (depth > 0 || quoted) return std::string(t);
    // The angle address: the first '<' outside quotes, then its '>' ending the target.
    quoted = false;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '\\' && quoted) {
            ++i;
        } else if (out[i] == '"') {
            quoted = !quoted;
        } else if (out[i] == '<' && !quoted) {
            size_t close = out.find('>', i);
            if (close == std::string::npos ||
                out.find_first_not_of(" \t", close + 1) != std::string::npos)
                return std::string(t);
            out = out.substr(i + 1, close - i - 1);
            break;
        }
    }
    size_t a = out.find_first_not_of(" \t"), b = out.find_last_not_of(" \t");
    return a == std::string::npos ? std::string(t) : out.substr(a, b - a + 1);
}

struct Included {
    std::vector<std::string> targets;
    uid_t owner = 0;
};

// Reads an :include: file's targets: one or more per line, comma-separated, "#" comment
// lines, the same quoting as the aliases file; as `as` when a reader is given.
Result<Included> read_include(const std::string& path, uid_t as, const IncludeReader* reader) {
    auto raw = reader ? (*reader)(path, as) : read_include_file(path);
    if (!raw) return raw.error();
    auto targets = parse_target_lines(raw->text, path);
    if (!targets) return targets.error();
    Included inc;
    inc.owner = raw->owner;
    inc.targets = std::move(targets.value());
    return inc;
}

Result<std::vector<std::string>> parse_target_lines(std::string_view text,
                                                    const std::string& name) {
    std::string rhs;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line(text.data() + pos,
                              (nl == std::string::npos ? text.size() : nl) - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos || line[first] == '#') continue;
        if (!rhs.empty()) rhs += ", ";
        rhs.append(line.substr(first));
    }
    if (rhs.empty()) return std::vector<std::string>();
    auto t = parse_aliases("include: " + rhs, name);
    if (!t) return t.error();
    return std::move(t->entries.begin()->second);
}

class Expander {
  public:
    Expander(const AliasFile* aliases, const Config& config, const ForwardReader* forward,
             const IncludeReader* include, const UserReader* users)
        : aliases_(aliases), cfg_(config), forward_(forward), include_(include), users_(users) {}
    void top(std::string_view local);
    // A reference back to an alias or :include: being expanded is dropped as a duplicate
    // (aliases(5): nobody gets a message twice, so a loop cannot occur); it fails the
    // recipient (5.4.6) only when the expansion reaches nobody at all.
    Expansion take() {
        if (out_.deliveries.empty() && out_.remote.empty())
            for (auto& f : loops_)
                out_.failures.push_back(std::move(f));
        return std::move(out_);
    }

  private:
    // Who |program and /file targets run as, in the current context.
    struct Context {
        bool from_include = false;
        uid_t include_owner = 0;
        uid_t reader = 0;    // :include: files are read as this uid (0: the daemon)
        std::string sender;  // owner-LIST of the innermost list with an owner
    };
    void target(std::string_view t, int depth, const Context& ctx);
    void name(std::string_view local, bool no_alias, int depth, const Context& ctx);
    void alias(const std::string& key, std::string_view local, int depth, const Context& ctx);
    void user(std::string_view local, const Context& ctx, bool no_forward);
    bool forwarded(const LocalUser& u, int depth, const Context& ctx);
    void special(TargetKind kind, std::string_view t, const Context& ctx);
    void include(std::string_view t, int depth, const Context& ctx);
    bool passwd(const std::string& name, LocalUser& out) const {
        return users_ ? (*users_)(name, out) : getpw(name, out);
    }
    bool has_alias(const std::string& key) const {
        return aliases_ != nullptr && aliases_->find(key) != nullptr;
    }
    void fail(std::string_view target, uint32_t status, const char* dsn, std::string text) {
        out_.failures.push_back(TargetFailure{std::string(target), status, dsn, std::move(text)});
    }
    void add(Delivery d) {
        if (keys_.insert(d.key()).second) out_.deliveries.push_back(std::move(d));
    }
    void owned(std::string address, const Context& ctx, std::string dsn = {},
               std::string text = {}) {
        for (const auto& o : out_.owned)
            if (o.address == address && o.sender == ctx.sender) return;
        out_.owned.push_back(
            OwnedTarget{std::move(address), ctx.sender, std::move(dsn), std::move(text)});
    }
    // A local name that cannot be delivered: within a list with an owner, a new message
    // from the owner to name@hostname (whose failure the owner is told of); else a
    // failure of the recipient.
    void fail_user(std::string_view local, const Context& ctx, const char* dsn, std::string text) {
        std::string addr = canonical_local(local) + "@" + cfg_.hostname;
        if (!ctx.sender.empty() && !local.empty() && local.find('@') == std::string_view::npos)
            return owned(std::move(addr), ctx, dsn, std::move(text));
        fail(local, 5, dsn, std::move(text));
    }

    const AliasFile* aliases_;
    const Config& cfg_;
    const ForwardReader* forward_;
    const IncludeReader* include_;
    const UserReader* users_;
    Expansion out_;
    std::vector<TargetFailure> loops_;  // references back into the path, in order
    std::set<std::string> forwarded_;   // users whose .forward was expanded
    std::set<std::string> expanded_;    // alias names already expanded (lower-cased)
    std::set<std::string> keys_;        // deliveries already listed
    std::vector<std::string> path_;     // the aliases being expanded, outermost first
};

void Expander::top(std::string_view local) {
    Context ctx;
    name(local, false, 0, ctx);
}

void Expander::target(std::string_view t, int depth, const Context& ctx) {
    if (t.empty()) return;
    if (t.front() == '|') return special(TargetKind::program, t.substr(1), ctx);
    if (t.front() == '/') return special(TargetKind::file, t, ctx);
    if (starts_with_nocase(t, ":include:")) return include(t.substr(9), depth, ctx);
    if (starts_with_nocase(t, "error:")) {
        ErrorTarget e = tegami::parse_error_target(t.substr(6), kAliasErrorText);
        if (!e.problem.empty())
            log_warning("local: alias target \"%.*s\": %s", static_cast<int>(t.size()), t.data(),
                        e.problem.c_str());
        out_.failures.push_back(failure_of(std::move(e), t));
        return;
    }
    std::string addr;
    if (t.find_first_of("(<") != std::string_view::npos) {
        addr = address_of(t);
        t = addr;
    }
    bool no_alias = t.front() == '\\';
    std::string_view rest = no_alias ? t.substr(1) : t;
    if (rest.find('@') == std::string_view::npos) {
        name(rest, no_alias, depth, ctx);
        return;
    }
    std::string local, domain;
    if (!split_address(rest, local, domain)) {
        fail(t, 5, "5.1.3", "bad address in alias: " + std::string(t));
        return;
    }
    if (!is_local_domain(cfg_, domain)) {
        // Another domain's address (virtual_domains included): the queue routes it.
        size_t used = 0;
        std::string path = "<" + std::string(rest) + ">";
        auto mb = parse_path(path, PathKind::forward, used);
        if (!mb || used != path.size() || mb->domain.empty()) {
            fail(t, 5, "5.1.3", "bad address in alias: " + std::string(t));
            return;
        }
        std::string canon = canonical_address(mb.value());
        if (!ctx.sender.empty())
            owned(std::move(canon), ctx);
        else if (std::find(out_.remote.begin(), out_.remote.end(), canon) == out_.remote.end())
            out_.remote.push_back(std::move(canon));
        return;
    }
    name(local, no_alias, depth, ctx);
}

void Expander::name(std::string_view local, bool no_alias, int depth, const Context& ctx) {
    std::string key = lower(local);
    bool self = !path_.empty() && path_.back() == key;
    if (!no_alias && !self) {
        if (has_alias(key)) return alias(key, local, depth, ctx);
        // LIST-request without its own alias goes to owner-LIST.
        constexpr std::string_view kReq = "-request";
        if (key.size() > kReq.size() && key.ends_with(kReq)) {
            std::string owner = "owner-" + key.substr(0, key.size() - kReq.size());
            if (has_alias(owner)) return alias(owner, owner, depth, ctx);
        }
        // user+detail: the alias or mailbox of user, the address kept for Delivered-To.
        const std::string& delim = cfg_.recipient_delimiter;
        size_t cut = delim.empty() ? std::string::npos : local.find(delim);
        if (cut != std::string::npos && cut > 0) {
            std::string_view base = local.substr(0, cut);
            std::string bkey = lower(base);
            if (has_alias(bkey)) return alias(bkey, base, depth, ctx);
            return user(base, ctx, false);
        }
    }
    user(local, ctx, no_alias);
}

void Expander::alias(const std::string& key, std::string_view local, int depth,
                     const Context& ctx) {
    for (const auto& p : path_) {
        if (p != key) continue;
        std::string chain;
        for (const auto& q : path_)
            chain += q + " -> ";
        loops_.push_back(
            TargetFailure{std::string(local), 5, "5.4.6", "alias loop: " + chain + key});
        return;
    }
    if (depth >= kMaxAliasDepth) {
        fail(local, 5, "5.4.6",
             "alias expansion too deep (" + std::to_string(kMaxAliasDepth) + " levels): " + key);
        return;
    }
    if (!expanded_.insert(key).second) return;  // listed before: a duplicate
    const std::vector<std::string>* targets = aliases_->find(key);
    if (targets == nullptr) return;
    Context inner = ctx;
    if (!key.starts_with("owner-") && has_alias("owner-" + key))
        inner.sender = "owner-" + key + "@" + cfg_.hostname;
    path_.push_back(key);
    for (const auto& t : *targets)
        target(t, depth + 1, inner);
    path_.pop_back();
}

void Expander::user(std::string_view local, const Context& ctx, bool no_forward) {
    LocalUser u;
    std::string name(local);
    if (!passwd(name, u) && !passwd(lower(name), u)) {
        fail_user(local, ctx, "5.1.1", "user unknown: " + name);
        return;
    }
    if (u.uid == 0) {
        fail_user(local, ctx, "5.1.1",
                  "no delivery to uid 0 user " + name + " (alias it to a person)");
        return;
    }
    if (!no_forward && forwarded(u, static_cast<int>(path_.size()), ctx)) return;
    Delivery d;
    d.user = std::move(u);
    d.sender = ctx.sender;
    // Reached without an alias: Delivered-To names the recipient itself (user+detail).
    d.direct = path_.empty();
    add(std::move(d));
}

// A |program or /file target: runs as the :include: file's owner, else default_user;
// never as uid 0.
void Expander::special(TargetKind kind, std::string_view t, const Context& ctx) {
    std::string what(t);
    while (!what.empty() && (what.front() == ' ' || what.front() == '\t'))
        what.erase(0, 1);
    if (what.empty()) {
        fail(t, 5, "5.3.0", "empty program or file target");
        return;
    }
    LocalUser as;
    bool found = ctx.from_include && ctx.include_owner != 0 ? getpw_uid(ctx.include_owner, as)
                                                            : passwd(cfg_.default_user, as);
    if (!found || as.uid == 0) {
        fail(t, 5, "5.3.0",
             "no safe user to run " + what + " as (default_user " + cfg_.default_user +
                 (found ? " has uid 0)" : " unknown)"));
        return;
    }
    if (kind == TargetKind::file && what.find("/../") != std::string::npos) {
        fail(t, 5, "5.3.0", "file target with \"..\": " + what);
        return;
    }
    Delivery d;
    d.kind = kind;
    d.user = std::move(as);
    d.target = std::move(what);
    d.sender = ctx.sender;
    add(std::move(d));
}

// Expands u's .forward in place of the mailbox; false when there is none to use. A
// target naming u again (with or without "\\") is u's mailbox; so is a user whose
// .forward is being expanded already (a cycle of forwards ends in the mailboxes).
bool Expander::forwarded(const LocalUser& u, int depth, const Context& ctx) {
    if (forward_ == nullptr || forwarded_.count(u.name) != 0) return false;
    auto text = (*forward_)(u);
    if (!text) {
        fail(u.name, 4, "4.3.0", text.error().message);
        return true;
    }
    if (!text.value()) return false;
    auto targets = parse_target_lines(**text, u.home + "/.forward");
    if (!targets) {
        log_warning("local: ignoring the .forward of %s: %s", u.name.c_str(),
                    targets.error().message.c_str());
        return false;
    }
    if (targets->empty()) return false;
    if (depth >= kMaxAliasDepth) {
        fail(u.name, 5, "5.4.6", "forwarding too deep at " + u.name);
        return true;
    }
    forwarded_.insert(u.name);
    Context inner = ctx;
    inner.from_include = true;  // programs and files run as the .forward's user
    inner.include_owner = u.uid;
    inner.reader = u.uid;  // and its :include: files are read as that user
    path_.push_back("~" + u.name);
    for (const auto& t : *targets) {
        std::string_view name = t;
        if (!name.empty() && name.front() == '\\') name.remove_prefix(1);
        if (lower(name) == lower(u.name)) {
            Delivery d;
            d.user = u;
            d.sender = ctx.sender;
            add(std::move(d));
            continue;
        }
        target(t, depth + 1, inner);
    }
    path_.pop_back();
    return true;
}

void Expander::include(std::string_view t, int depth, const Context& ctx) {
    std::string path(t);
    while (!path.empty() && (path.front() == ' ' || path.front() == '\t'))
        path.erase(0, 1);
    std::string key = ":include:" + path;
    for (const auto& p : path_)
        if (p == key) {
            loops_.push_back(TargetFailure{std::string(t), 5, "5.4.6", "include loop: " + path});
            return;
        }
    if (depth >= kMaxAliasDepth) {
        fail(t, 5, "5.4.6", "alias expansion too deep at :include:" + path);
        return;
    }
    if (!expanded_.insert(key).second) return;
    auto inc = read_include(path, ctx.reader, include_);
    if (!inc) {
        log_warning("local: :include:%s ignored: %s", path.c_str(), inc.error().message.c_str());
        fail(t, 4, "4.3.0", "cannot use :include:" + path + ": " + inc.error().message);
        return;
    }
    Context inner = ctx;
    inner.from_include = true;
    inner.include_owner = inc->owner;
    path_.push_back(key);
    for (const auto& x : inc->targets)
        target(x, depth + 1, inner);
    path_.pop_back();
}

}  // namespace

std::string Delivery::key() const {
    switch (kind) {
        case TargetKind::program:
            return "|" + user.name + "|" + target;
        case TargetKind::file:
            return "/" + user.name + "|" + target;
        case TargetKind::mailbox:
            break;
    }
    return "m" + user.name;
}

TargetFailure parse_error_target(std::string_view spec) {
    return failure_of(tegami::parse_error_target(spec, kAliasErrorText), "");
}

Result<IncludeText> read_include_file(const std::string& path) {
    if (path.empty() || path.front() != '/')
        return make_error(Exit::data_err, "include path is not absolute");
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return sys_error("cannot open " + path, errno, Exit::temp_fail);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("fstat " + path, errno, Exit::temp_fail);
    if (auto safe = check_safe_path(path, st); !safe)
        return make_error(Exit::no_perm, path + ": unsafe: " + safe.error().message);
    if (static_cast<size_t>(st.st_size) > kMaxIncludeFile)
        return make_error(Exit::data_err, path + ": larger than 1 MiB");
    IncludeText out;
    out.text.assign(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < out.text.size()) {
        ssize_t n = ::read(fd.get(), out.text.data() + got, out.text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    out.text.resize(got);
    out.owner = st.st_uid;
    return out;
}

Expansion expand_local(std::string_view local_part, const AliasFile* aliases, const Config& config,
                       const ForwardReader* forward, const IncludeReader* include,
                       const UserReader* users) {
    Expander e(aliases, config, forward, include, users);
    e.top(local_part);
    return e.take();
}

}  // namespace tegami::local
