// aliases.cpp - see aliases.hpp. parse_aliases is called by AliasFile (smtpd's RCPT
// check, local's expansion) and by newaliases; it trusts nothing in the text: every
// syntax problem is an Error "file:line: message" with Exit::data_err, never a crash.
//
// Grammar (aliases(5)): an entry is "name: target, target, ..."; a line starting with
// white space, or following a line that ends in "\", continues the entry; "#" at the
// start of a line (after optional white space) makes a comment line; blank lines end an
// entry. Names are trimmed and lower-cased; targets are split at commas outside double
// quotes, trimmed, and a target that is one quoted string ("|cmd args") loses its quotes
// and is kept whole. A name defined twice is a warning naming both lines, and the later
// entry is used (sendmail's newaliases warns and stores the later one over the first).
//
// Invariant: AliasFile's table is replaced only by a table that parsed completely.
#include "lib/map/aliases.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

#include "lib/core/log.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/map/aliases_compile.hpp"
#include "lib/map/map.hpp"

namespace tegami {

namespace {

constexpr size_t kMaxAliasFile = 64u * 1024u * 1024u;

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (is_blank(s.front()) || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (is_blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

Error line_error(const std::string& name, size_t line, const std::string& msg) {
    return make_error(Exit::data_err, name + ":" + std::to_string(line) + ": " + msg);
}

// One logical entry: the joined text of its lines and the line it started on.
struct Entry {
    std::string text;
    size_t line = 0;
};

// Splits the right-hand side at commas outside double quotes.
Result<std::vector<std::string>> split_targets(std::string_view rhs, const std::string& name,
                                               size_t line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    auto flush = [&]() {
        std::string_view t = trim(cur);
        if (t.size() >= 2 && t.front() == '"' && t.back() == '"' &&
            t.substr(1, t.size() - 2).find('"') == std::string_view::npos)
            t = t.substr(1, t.size() - 2);
        if (!t.empty()) out.emplace_back(t);
        cur.clear();
    };
    for (size_t i = 0; i < rhs.size(); ++i) {
        char c = rhs[i];
        if (c == '\\' && quoted && i + 1 < rhs.size()) {
            cur += c;
            cur += rhs[++i];
            continue;
        }
        if (c == '"') quoted = !quoted;
        if (c == ',' && !quoted) {
            flush();
            continue;
        }
        cur += c;
    }
    if (quoted) return line_error(name, line, "unterminated quoted string");
    flush();
    if (out.empty()) return line_error(name, line, "alias has no targets");
    return out;
}

Result<void> add_entry(const Entry& e, const std::string& name, AliasTable& table,
                       std::map<std::string, size_t>& first_line) {
    size_t colon = e.text.find(':');
    if (colon == std::string::npos) return line_error(name, e.line, "missing ':' after alias name");
    std::string_view lhs = trim(std::string_view(e.text).substr(0, colon));
    if (lhs.empty()) return line_error(name, e.line, "empty alias name");
    for (char c : lhs) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '"')
            return line_error(name, e.line, "bad character in alias name");
    }
    auto targets = split_targets(std::string_view(e.text).substr(colon + 1), name, e.line);
    if (!targets) return targets.error();
    std::string key = lower(lhs);
    auto [it, inserted] = first_line.emplace(key, e.line);
    if (!inserted) {
        table.warnings.push_back(name + ":" + std::to_string(e.line) + ": duplicate alias \"" +
                                 key + "\" (first at line " + std::to_string(it->second) +
                                 "); this later entry is used");
        it->second = e.line;
    }
    table.entries.insert_or_assign(std::move(key), std::move(targets.value()));
    return {};
}

}  // namespace

Result<AliasTable> parse_aliases(std::string_view text, const std::string& name) {
    AliasTable table;
    std::map<std::string, size_t> first_line;
    Entry cur;
    bool open = false;       // an entry is being collected
    bool backslash = false;  // the previous line ended in "\"
    auto close_entry = [&]() -> Result<void> {
        if (!open) return {};
        open = false;
        return add_entry(cur, name, table, first_line);
    };
    size_t lineno = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\0') != std::string_view::npos)
            return line_error(name, lineno, "NUL byte in line");
        std::string_view body = trim(line);
        bool continues = backslash || (!line.empty() && is_blank(line.front()));
        backslash = false;
        if (body.empty()) {
            if (auto r = close_entry(); !r) return r.error();
            continue;
        }
        if (body.front() == '#') continue;
        if (body.back() == '\\') {
            backslash = true;
            body = trim(body.substr(0, body.size() - 1));
        }
        if (continues) {
            if (!open) return line_error(name, lineno, "continuation line without an entry");
            cur.text += ' ';
            cur.text += body;
            continue;
        }
        if (auto r = close_entry(); !r) return r.error();
        cur = Entry{std::string(body), lineno};
        open = true;
    }
    if (auto r = close_entry(); !r) return r.error();
    return table;
}

Result<void> AliasFile::refresh() {
    std::string db = path_ + ".db";
    struct stat st {};
    if (::stat(db.c_str(), &st) == 0) return refresh_db(db, st);
    if (errno != ENOENT) return sys_error(db, errno, Exit::temp_fail);
    if (from_db_) {  // the map was removed: read the text from scratch
        from_db_ = false;
        mtime_ = -1;
        warned_text_ = false;
    }
    auto r = refresh_text();
    if (r && size_ >= 0 && !warned_text_) {
        warned_text_ = true;
        log_warning("%s: no compiled aliases map %s, reading the text file (run newaliases)",
                    path_.c_str(), db.c_str());
    }
    return r;
}

// Loads the whole compiled map when it changed (aliases maps are small; the table
// keeps find() a const, allocation-free lookup). A record that does not parse is
// skipped with a warning; a map without sendmail's "@" sentinel is still being built
// in place (sendmail's own newaliases does that) and is not used yet.
Result<void> AliasFile::refresh_db(const std::string& db, const struct stat& st) {
    auto check_stale = [&]() {
        struct stat text {};
        if (warned_stale_ || ::stat(path_.c_str(), &text) != 0) return;
        if (text.st_mtim.tv_sec > st.st_mtim.tv_sec ||
            (text.st_mtim.tv_sec == st.st_mtim.tv_sec &&
             text.st_mtim.tv_nsec > st.st_mtim.tv_nsec)) {
            warned_stale_ = true;
            log_warning("%s is newer than %s: using the compiled map (run newaliases)",
                        path_.c_str(), db.c_str());
        }
    };
    if (from_db_ && st.st_ino == db_ino_ && st.st_mtim.tv_sec == mtime_ &&
        st.st_mtim.tv_nsec == mtime_nsec_ && st.st_size == size_) {
        check_stale();
        return {};
    }
    AliasTable table;
    bool sentinel = false;
    std::vector<std::pair<std::string, std::string>> recs;
    auto r = map::for_each_record("hash:" + db, [&](std::string_view key, std::string_view value) {
        if (!key.empty() && key.back() == '\0') key.remove_suffix(1);
        if (!value.empty() && value.back() == '\0') value.remove_suffix(1);
        if (key == "@") {
            sentinel = true;
            return true;
        }
        bool bad_key = key.empty();
        for (char c : key)
            if (static_cast<unsigned char>(c) <= 0x20 || c == ':' || c == '"' || c == 0x7f)
                bad_key = true;
        if (bad_key) {
            log_warning("%s: skipping entry with an unusable name \"%.*s\"", db.c_str(),
                        static_cast<int>(key.size() > 200 ? 200 : key.size()), key.data());
            return true;
        }
        std::string v(value);
        for (char& c : v)
            if (c == '\n' || c == '\r') c = ' ';  // continuation lines, as stored by some writers
        recs.emplace_back(std::string(key), std::move(v));
        return true;
    });
    if (!r) return r.error();
    // Fast path: every record parsed at once; if any is unreadable, one by one, skipping
    // (and naming) the bad ones.
    std::string all;
    for (const auto& [k, v] : recs)
        all += alias_entry_text(k, v);
    auto whole = parse_aliases(all, db);
    if (whole && whole.value().entries.size() == recs.size()) {
        table = std::move(whole.value());
    } else {
        for (const auto& [k, v] : recs) {
            auto one = parse_aliases(alias_entry_text(k, v), db);
            if (!one || one.value().entries.size() != 1) {
                log_warning("%s: skipping unreadable entry \"%.*s\"", db.c_str(),
                            static_cast<int>(k.size() > 200 ? 200 : k.size()), k.data());
                continue;
            }
            table.entries.insert(one.value().entries.begin(), one.value().entries.end());
        }
    }
    if (!sentinel)
        return make_error(
            Exit::temp_fail,
            db + ": no \"@\" entry (map still being built?); aliases read before kept");
    table_ = std::move(table);
    from_db_ = true;
    warned_text_ = false;
    db_ino_ = st.st_ino;
    mtime_ = st.st_mtim.tv_sec;
    mtime_nsec_ = st.st_mtim.tv_nsec;
    size_ = st.st_size;
    warned_stale_ = false;
    check_stale();
    return {};
}

Result<void> AliasFile::refresh_text() {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno == ENOENT) {
            table_ = AliasTable{};
            mtime_ = -1;
            mtime_nsec_ = -1;
            size_ = -1;
            return {};
        }
        return sys_error(path_, errno, Exit::temp_fail);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error(path_, errno, Exit::temp_fail);
    if (st.st_mtim.tv_sec == mtime_ && st.st_mtim.tv_nsec == mtime_nsec_ && st.st_size == size_)
        return {};
    if (!S_ISREG(st.st_mode)) return make_error(Exit::config, path_ + ": not a regular file");
    if (static_cast<uint64_t>(st.st_size) > kMaxAliasFile)
        return make_error(Exit::config, path_ + ": file too large");
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(path_, errno, Exit::temp_fail);
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxAliasFile)
            return make_error(Exit::config, path_ + ": file too large");
    }
    auto parsed = parse_aliases(text, path_);
    if (!parsed) return parsed.error();
    for (const auto& w : parsed.value().warnings)
        log_warning("%s", w.c_str());
    table_ = std::move(parsed.value());
    mtime_ = st.st_mtim.tv_sec;
    mtime_nsec_ = st.st_mtim.tv_nsec;
    size_ = st.st_size;
    return {};
}

const std::vector<std::string>* AliasFile::find(std::string_view name) const {
    auto it = table_.entries.find(lower(name));
    return it == table_.entries.end() ? nullptr : &it->second;
}

}  // namespace tegami
