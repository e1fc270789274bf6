// expand.hpp - alias expansion for local delivery (sendmail aliases(5) semantics): a
// local part becomes the set of final deliveries (mailboxes of passwd users, |program
// and /file targets with the user each runs as) and the targets that failed. Called by
// the local server for every recipient of a request; pure apart from reading the passwd
// database and :include: files.
//
// Rules, as sendmail 8.17's:
//   name         an alias (matched without case) is replaced by its targets; a passwd
//                user is a mailbox; "\user" is the user's mailbox, never aliased again
//   user+detail  with recipient_delimiter "+": an alias for user+detail wins, else user's
//                alias or mailbox (Delivered-To keeps user+detail)
//   |program     run as default_user (aliases) or the :include: file's owner
//   /path/file   appended to, mbox style, as the same user
//   :include:F   F's lines are more targets; F must be a regular file, not writable by
//                group or others, in directories writable only by their owner (sticky
//                directories excepted), else it is ignored with a log line (4.3.0).
//                Read as sendmail reads it: with the permissions of the controlling
//                user - the daemon's own for the aliases file, the user's for an
//                :include: reached from a user's .forward (IncludeReader)
//   error:C T    fails with C ("5.1.1:550", "550", "4.2.2") and text T
//   owner-LIST   if it exists, the envelope sender of everything LIST expands to; a
//                member in another domain, or one that fails here as an unknown user,
//                is an OwnedTarget (a new message from the owner, who gets its bounce)
//   LIST-request without an alias of its own goes to owner-LIST
//   ~/.forward   of a user reached (not as \user): its targets instead of the mailbox
//   Name <addr>  an address target in an RFC 5322 form: a (comment) is dropped, a
//                display name before <addr> too ("bob (Bob)", "Bob <bob@host>")
//   u@elsewhere  an address in a domain outside local_domains: listed in remote (each
//                once) for the queue to route (the local server hands them back)
// A loop (an alias reached from itself) is dropped like a duplicate, so lists that name
// each other reach every member once without an error; it fails with 5.4.6 only when the
// recipient's expansion delivers nowhere. More than kMaxAliasDepth levels fails with
// 5.4.6. Every delivery appears once, whatever paths reach it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/map/aliases.hpp"

namespace tegami::local {

constexpr int kMaxAliasDepth = 10;
constexpr size_t kMaxIncludeFile = 1u << 20;

struct LocalUser {
    std::string name;  // the passwd name
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
};

enum class TargetKind { mailbox, program, file };

// One final delivery.
struct Delivery {
    TargetKind kind = TargetKind::mailbox;
    LocalUser user;       // the mailbox's owner, or the user a program or file runs as
    std::string target;   // the command line or the file path; empty for a mailbox
    std::string sender;   // envelope sender to use (owner-LIST), "" for the message's own
    bool direct = false;  // the recipient itself, no alias between (Delivered-To names it)
    // Deliveries with the same key are the same delivery.
    std::string key() const;
};

// One target that cannot be delivered.
struct TargetFailure {
    std::string target;
    uint32_t status = 5;  // 4: try again later, 5: permanent
    std::string dsn;      // "5.1.1", "5.3.0", "5.4.6", "4.3.0", ...
    std::string text;     // "user unknown: bob"
};

// A member of a list with an owner (owner-LIST) that is not delivered here: an address in
// another domain, or a local name that failed (an unknown user). It goes into a new
// message from the owner, so that its bounce goes to the owner, never to the sender.
struct OwnedTarget {
    std::string address;  // canonical; a failed local name as name@hostname
    std::string sender;   // owner-LIST@hostname
    std::string dsn;      // a failed local name: its failure ("5.1.1"), else ""
    std::string text;     // and why ("user unknown: x")
};

struct Expansion {
    std::vector<Delivery> deliveries;  // each once; no uid 0 user, no program as root
    std::vector<TargetFailure> failures;
    std::vector<std::string> remote;  // canonical addresses of other domains, each once
    std::vector<OwnedTarget> owned;   // each once
};

// Reads a user's .forward (deliver/local/forward.hpp): its text, nullopt for none (or
// unsafe, ignored), an error for "try again later".
// Looks up a passwd name: true and out filled, or false for an unknown user.
using UserReader = std::function<bool(const std::string& name, LocalUser& out)>;
using ForwardReader = std::function<Result<std::optional<std::string>>(const LocalUser&)>;

// An :include: file's text after the safe-file checks, and its owner.
struct IncludeText {
    std::string text;
    uid_t owner = 0;
};
// Opens and checks path as the current process (no following of a final symlink, the
// safe-file checks, at most kMaxIncludeFile): the reading step of :include:.
Result<IncludeText> read_include_file(const std::string& path);
// Reads an :include: file for the controlling user `as` (0: the daemon itself, the
// aliases file's case; else the uid whose .forward led there).
using IncludeReader = std::function<Result<IncludeText>(const std::string& path, uid_t as)>;

// local_part: the recipient's part before the last '@', unquoted. aliases may be null.
// forward may be null (no .forward files are read); a user's .forward, when it has
// targets, replaces the mailbox ("\user" in it keeps a copy; naming the user again
// means the mailbox too); its programs and files run as the user.
// config: local domains (targets written user@domain), recipient_delimiter,
// default_user, hostname (owner-LIST senders).
// include may be null: every :include: is read by this process (read_include_file).
// users may be null: names are looked up with getpwnam_r each time; tegami-local gives
// its UserCache (user_cache.hpp), so that a burst of mail costs no NSS lookup per recipient.
Expansion expand_local(std::string_view local_part, const AliasFile* aliases, const Config& config,
                       const ForwardReader* forward = nullptr,
                       const IncludeReader* include = nullptr, const UserReader* users = nullptr);

// "error:" target text (after the prefix) -> status, dsn and text (lib/mail/error_target.hpp,
// with the alias default text). Pure.
TargetFailure parse_error_target(std::string_view spec);

}  // namespace tegami::local
