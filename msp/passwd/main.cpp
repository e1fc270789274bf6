// tegami-passwd - manages the built-in credential store (auth_db) that tegami-auth
// reads: one login per entry, a yescrypt hash and SCRAM-SHA-256 keys, never the
// password itself.
//
//   tegami-passwd [-c config] [-f dbfile] [-m mech] add LOGIN      (fails if LOGIN exists)
//   tegami-passwd [-c config] [-f dbfile] [-m mech] change LOGIN   (fails if it does not)
//   tegami-passwd [-c config] [-f dbfile] require LOGIN MECH       (only the -m setting)
//   tegami-passwd [-c config] [-f dbfile] remove LOGIN
//   tegami-passwd [-c config] [-f dbfile] list           (the logins, one a line)
//
// The password is read from the terminal with echo off (asked twice), or as one line
// from standard input when that is not a terminal; never from argv. -m names the weakest
// mechanism the login may use (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-256-PLUS; a weaker one
// gets 534 5.7.9); change keeps the login's setting unless -m is given. Nothing it prints
// holds a hash or a password. Safe while the daemons run: the store is replaced whole
// by an atomic rename (lib/sasl/passwd_db.hpp), and writers are serialised by a lock.
//
// SECURITY. Run by the administrator (root on an install; not setuid). Inherits:
//   environment - not read; argv - options and one login, checked (valid_login);
//   fds 0-2     - stdin is read for the password only; umask - set to 077;
//   the store   - written 0640, owner root and group auth_user's group when root.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include <openssl/crypto.h>

#include "lib/conf/config.hpp"
#include "lib/core/sysexits.hpp"
#include "lib/sasl/credential.hpp"
#include "lib/sasl/passwd_db.hpp"

using namespace tegami;

namespace {

constexpr size_t kMaxPassword = 1024;

[[noreturn]] void die(Exit e, const std::string& msg) {
    std::fprintf(stderr, "tegami-passwd: %s\n", msg.c_str());
    std::exit(code(e));
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: tegami-passwd [-c config] [-f dbfile] [-m mechanism] add|change LOGIN\n"
                 "       tegami-passwd [-c config] [-f dbfile] require LOGIN mechanism\n"
                 "       tegami-passwd [-c config] [-f dbfile] remove LOGIN\n"
                 "       tegami-passwd [-c config] [-f dbfile] list\n");
    std::exit(code(Exit::usage));
}

// One line from fd 0, without its line end; false on EOF before any byte or when too long.
bool read_line(std::string& out) {
    out.clear();
    char c;
    for (;;) {
        ssize_t n = ::read(0, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return !out.empty();
        if (c == '\n') break;
        if (out.size() >= kMaxPassword) return false;
        out += c;
    }
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return true;
}

std::string prompt(const char* text) {
    std::fputs(text, stderr);
    std::fflush(stderr);
    termios old{}, quiet{};
    tcgetattr(0, &old);
    quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(0, TCSAFLUSH, &quiet);
    std::string pw;
    bool ok = read_line(pw);
    tcsetattr(0, TCSAFLUSH, &old);
    std::fputs("\n", stderr);
    if (!ok) die(Exit::data_err, "no password read");
    return pw;
}

std::string read_password() {
    std::string pw;
    if (::isatty(0)) {
        pw = prompt("Password: ");
        std::string again = prompt("Again: ");
        bool same = pw == again;
        OPENSSL_cleanse(again.data(), again.size());
        if (!same) die(Exit::data_err, "the passwords differ; nothing changed");
    } else if (!read_line(pw)) {
        die(Exit::data_err, "no password on standard input (one line, at most 1024 bytes)");
    }
    if (pw.empty()) die(Exit::data_err, "empty password refused");
    if (pw.find('\0') != std::string::npos) die(Exit::data_err, "a password cannot hold NUL");
    return pw;
}

}  // namespace

int main(int argc, char** argv) {
    ::umask(077);
    std::string config_path;
    std::string file;
    int opt;
    std::optional<sasl::MechFloor> floor;
    while ((opt = getopt(argc, argv, "c:f:m:h")) != -1) {
        switch (opt) {
            case 'm':
                floor = sasl::parse_mech_floor(optarg);
                if (!floor)
                    die(Exit::usage, std::string("-m ") + optarg +
                                         ": not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-256-PLUS");
                break;
            case 'c':
                config_path = optarg;
                break;
            case 'f':
                file = optarg;
                break;
            default:
                usage();
        }
    }
    if (optind >= argc) usage();
    std::string verb = argv[optind++];
    bool list = verb == "list";
    bool require = verb == "require";
    if (!list && !require && verb != "add" && verb != "change" && verb != "remove") usage();
    if (argc - optind != (list ? 0 : require ? 2 : 1)) usage();
    if (floor && verb != "add" && verb != "change") usage();
    if (require) {
        floor = sasl::parse_mech_floor(argv[optind + 1]);
        if (!floor)
            die(Exit::usage,
                std::string(argv[optind + 1]) + ": not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-256-PLUS");
    }
    std::string login = list ? "" : argv[optind];
    if (!list && !sasl::valid_login(login))
        die(Exit::data_err,
            "bad login (1-255 bytes, no white space, control characters, "
            "',' or '=')");

    auto cfg =
        load_config(config_path.empty() ? default_config_path() : config_path, config_path.empty());
    if (!cfg) die(cfg.error().exit, cfg.error().message);
    if (file.empty()) file = cfg->auth_db;

    if (list) {
        // Reading takes the writers' lock too, so a list never shows a half change.
        auto w = sasl::PasswdWriter::open(file);
        if (!w) die(w.error().exit, w.error().message);
        for (const auto& [k, v] : w->entries())
            std::printf("%s\n", k.c_str());
        return 0;
    }
    auto w = sasl::PasswdWriter::open(file);
    if (!w) die(w.error().exit, w.error().message);
    auto& entries = w->entries();
    bool exists = entries.count(login) != 0;
    if (verb == "add" && exists) die(Exit::data_err, login + ": exists (use change)");
    if (verb != "add" && !exists) die(Exit::no_user, login + ": no such login in " + file);
    if (verb == "remove") {
        entries.erase(login);
    } else if (require) {
        auto c = sasl::decode_credential(entries[login]);
        if (!c) die(Exit::data_err, login + ": the stored entry is unreadable; set a password");
        c->floor = *floor;
        entries[login] = sasl::encode_credential(*c);
    } else {
        sasl::MechFloor keep = sasl::MechFloor::any;
        if (exists) {
            auto old = sasl::decode_credential(entries[login]);
            if (old) keep = old->floor;
        }
        std::string pw = read_password();
        auto c = sasl::make_credential(pw);
        OPENSSL_cleanse(pw.data(), pw.size());
        if (!c) die(c.error().exit, c.error().message);
        c->floor = floor.value_or(keep);
        entries[login] = sasl::encode_credential(*c);
    }
    uid_t owner = static_cast<uid_t>(-1);
    gid_t group = static_cast<gid_t>(-1);
    if (geteuid() == 0) {
        owner = 0;
        std::string auth_user = daemon_user(*cfg, "auth");
        if (const passwd* pw = getpwnam(auth_user.c_str())) group = pw->pw_gid;
    }
    if (auto r = w->commit(owner, group); !r) die(r.error().exit, r.error().message);
    if (require) {
        if (*floor == sasl::MechFloor::any)
            std::fprintf(stderr, "tegami-passwd: %s may use any mechanism, in %s\n", login.c_str(),
                         file.c_str());
        else
            std::fprintf(stderr, "tegami-passwd: %s must use %s, in %s\n", login.c_str(),
                         sasl::mech_floor_name(*floor), file.c_str());
        return 0;
    }
    std::fprintf(stderr, "tegami-passwd: %s %s in %s\n", login.c_str(),
                 verb == "add"      ? "added"
                 : verb == "change" ? "changed"
                                    : "removed",
                 file.c_str());
    return 0;
}
