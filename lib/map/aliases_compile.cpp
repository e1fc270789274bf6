// aliases_compile.cpp - see aliases_compile.hpp.
#include "lib/map/aliases_compile.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>

#include "lib/conf/config.hpp"
#include "lib/map/aliases.hpp"
#include "lib/map/map_text.hpp"
#include "lib/map/map_writer.hpp"

namespace tegami {

namespace {

constexpr size_t kMaxAliasesFile = 64u * 1024u * 1024u;

// A target goes back in double quotes when it held a comma, white space or a CR (a program
// or file with arguments: aliases(5) and sendmail want those quoted), unless that would
// change how it reads back: a target with a quote of its own is a piece of the source
// that parse_aliases split outside quotes, so it reads back the same as it stands; one
// ending in a backslash would escape the closing quote, and without a comma it needs
// none. (tests/fuzz/map_text_fuzz.cpp checks the round trip.)
bool needs_quotes(const std::string& t) {
    if (t.empty() || t.find('"') != std::string::npos || t.back() == '\\') return false;
    for (char c : t)
        if (c == ',' || c == ' ' || c == '\t' || c == '\r') return true;
    return false;
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string encode_alias_targets(const std::vector<std::string>& targets) {
    std::string out;
    for (const auto& t : targets) {
        if (!out.empty()) out += ", ";
        if (needs_quotes(t)) {
            out += '"';
            out += t;
            out += '"';
        } else {
            out += t;
        }
    }
    return out;
}

std::string alias_entry_text(std::string_view name, std::string_view stored) {
    std::string out;
    out.reserve(name.size() + stored.size() + 4);
    out.append(name).append(": ").append(stored).append(",\n");
    return out;
}

std::string aliases_summary_line(const std::string& path, const AliasesSummary& s) {
    return path + ": " + std::to_string(s.aliases) + " aliases, longest " +
           std::to_string(s.longest) + " bytes, " + std::to_string(s.bytes) + " bytes total";
}

Result<AliasesSummary> compile_aliases(const std::string& path) {
    auto text = map::read_small_file(path, kMaxAliasesFile);
    if (!text) return text.error();
    auto table = parse_aliases(text.value(), path);
    if (!table) return table.error();

    std::string db = path + ".db";
    struct stat dir {};
    std::string d = dir_of(db);
    if (::stat(d.c_str(), &dir) != 0) return sys_error(d, errno, Exit::cant_create);
    if ((dir.st_mode & S_IWOTH) != 0)
        return make_error(Exit::software, "cannot build " + db + ": directory " + d +
                                              " is world-writable (unsafe)");

    // A new map is as readable as its source: smtpd and local, which read the text
    // file when there is no map, must be able to read the map too.
    map::WriteOptions opt;
    struct stat src {};
    if (::stat(path.c_str(), &src) == 0) {
        opt.new_mode = src.st_mode & 0666;
        opt.new_gid = src.st_gid;
    }
    auto w = map::MapWriter::create(map::MapType::hash, db, opt);
    if (!w) return w.error();
    AliasesSummary sum;
    sum.warnings = table.value().warnings;
    std::string key;
    std::string value;
    for (const auto& [name, targets] : table.value().entries) {
        std::string rhs = encode_alias_targets(targets);
        sum.aliases++;
        sum.bytes += name.size() + rhs.size();
        if (rhs.size() > sum.longest) sum.longest = rhs.size();
        key.assign(name).push_back('\0');
        value.assign(rhs).push_back('\0');
        auto p = w.value()->put(key, value, true);
        if (!p) return p.error();
    }
    static const std::string kSentinel("@\0", 2);
    auto p = w.value()->put(kSentinel, kSentinel, true);
    if (!p) return p.error();
    auto c = w.value()->commit();
    if (!c) return c.error();
    return sum;
}

int run_newaliases(const std::string& config_path, const char* prog, std::FILE* out,
                   std::FILE* err) {
    auto cfg = load_config(config_path);
    if (!cfg) {
        std::fprintf(err, "%s: %s\n", prog, cfg.error().message.c_str());
        return code(cfg.error().exit);
    }
    const std::string& path = cfg.value().aliases;
    // Held off while building, as sendmail's newaliases ignores them: an interrupt
    // would otherwise leave the temporary file behind (the old map stays either way).
    sigset_t block;
    sigset_t old;
    sigemptyset(&block);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
        sigaddset(&block, sig);
    sigprocmask(SIG_BLOCK, &block, &old);
    auto r = compile_aliases(path);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (!r) {
        std::fprintf(err, "%s: %s\n", prog, r.error().message.c_str());
        return code(r.error().exit);
    }
    for (const auto& w : r.value().warnings)
        std::fprintf(err, "%s: warning: %s\n", prog, w.c_str());
    std::fprintf(out, "%s\n", aliases_summary_line(path, r.value()).c_str());
    return std::fflush(out) == 0 ? 0 : code(Exit::io_err);
}

}  // namespace tegami
