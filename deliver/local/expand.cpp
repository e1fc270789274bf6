// expand.cpp - see expand.hpp. Called by the local server (deliver/local/server.cpp).
// Trusts the aliases table as parsed; trusts nothing in the recipient. A target is never
// used as a path or command here: the forms that would need one are refused.
// Invariants: expansion terminates (depth bound and the alias path), every user appears
// once, and no user with uid 0 is ever returned.
#include "deliver/local/expand.hpp"

#include <pwd.h>
#include <strings.h>

#include <cctype>
#include <set>

#include "lib/map/recipients.hpp"

namespace tegami::local {

namespace {

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

class Expander {
  public:
    Expander(const AliasFile* aliases, const Config& config) : aliases_(aliases), cfg_(config) {}
    void name(std::string_view local, bool no_alias, int depth);
    Expansion take() { return std::move(out_); }

  private:
    void target(std::string_view t, int depth);
    void alias(const std::string& key, std::string_view local, int depth);
    void user(std::string_view local);
    void fail(std::string_view target, const char* dsn, std::string text) {
        out_.failures.push_back(TargetFailure{std::string(target), dsn, std::move(text)});
    }

    const AliasFile* aliases_;
    const Config& cfg_;
    Expansion out_;
    std::set<std::string> expanded_;  // alias names already expanded (lower-cased)
    std::set<std::string> users_;     // passwd names already listed
    std::vector<std::string> path_;   // the aliases being expanded, outermost first
};

void Expander::target(std::string_view t, int depth) {
    if (t.empty()) return;
    if (t.front() == '|' || t.front() == '/' ||
        (t.size() >= 9 && strncasecmp(t.data(), ":include:", 9) == 0)) {
        fail(t, "5.3.0", "alias target form not supported yet: " + std::string(t));
        return;
    }
    bool no_alias = t.front() == '\\';
    std::string_view rest = no_alias ? t.substr(1) : t;
    if (rest.find('@') == std::string_view::npos) {
        name(rest, no_alias, depth);
        return;
    }
    std::string local, domain;
    if (!split_address(rest, local, domain)) {
        fail(t, "5.1.3", "bad address in alias: " + std::string(t));
        return;
    }
    if (!is_local_domain(cfg_, domain)) {
        fail(t, "5.3.0", "alias target form not supported yet: " + std::string(t));
        return;
    }
    name(local, no_alias, depth);
}

void Expander::name(std::string_view local, bool no_alias, int depth) {
    const AliasFile* aliases = no_alias ? nullptr : aliases_;
    std::string key = lower(local);
    bool self = !path_.empty() && path_.back() == key;
    if (!self && classify_local(local, aliases) == LocalKind::alias) {
        alias(key, local, depth);
        return;
    }
    user(local);
}

void Expander::alias(const std::string& key, std::string_view local, int depth) {
    for (const auto& p : path_) {
        if (p != key) continue;
        std::string chain;
        for (const auto& q : path_)
            chain += q + " -> ";
        fail(local, "5.4.6", "alias loop: " + (chain + key));
        return;
    }
    if (depth >= kMaxAliasDepth) {
        fail(local, "5.4.6",
             "alias expansion too deep (" + std::to_string(kMaxAliasDepth) + " levels): " + key);
        return;
    }
    if (!expanded_.insert(key).second) return;  // listed before: a duplicate
    const std::vector<std::string>* targets = aliases_->find(key);
    if (targets == nullptr) return;
    path_.push_back(key);
    for (const auto& t : *targets)
        target(t, depth + 1);
    path_.pop_back();
}

void Expander::user(std::string_view local) {
    LocalUser u;
    std::string name(local);
    if (!getpw(name, u) && !getpw(lower(name), u)) {
        fail(local, "5.1.1", "user unknown: " + name);
        return;
    }
    if (u.uid == 0) {
        fail(local, "5.1.1", "no delivery to uid 0 user " + name + " (alias it to a person)");
        return;
    }
    if (users_.insert(u.name).second) out_.users.push_back(std::move(u));
}

}  // namespace

Expansion expand_local(std::string_view local_part, const AliasFile* aliases,
                       const Config& config) {
    Expander e(aliases, config);
    e.name(local_part, false, 0);
    return e.take();
}

}  // namespace tegami::local
