// map_text.cpp - see map_text.hpp. The text map answers from an in-memory table built
// once per open (MapRef reopens it when the file changes). The first line for a key
// wins, as sendmail's text map class reads the file top to bottom.
#include "lib/map/map_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>

#include "lib/core/unique_fd.hpp"

namespace tegami::map {

namespace {

constexpr size_t kMaxTextMap = 256u * 1024u * 1024u;

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

Error line_error(size_t lineno, const std::string& msg) {
    return make_error(Exit::data_err, "line " + std::to_string(lineno) + ": " + msg);
}

class TextMap final : public Map {
  public:
    TextMap(std::string name, std::unordered_map<std::string, std::string> table)
        : name_(std::move(name)), table_(std::move(table)) {}
    Result<std::optional<std::string>> lookup(std::string_view key) override {
        if (key.empty()) return std::optional<std::string>{};
        auto it = table_.find(fold_key(key));
        if (it == table_.end()) it = table_.find(std::string(key));
        if (it == table_.end()) return std::optional<std::string>{};
        return std::optional<std::string>{it->second};
    }
    const std::string& name() const override { return name_; }

  private:
    std::string name_;
    std::unordered_map<std::string, std::string> table_;
};

// Calls fn for every record of the file; a bad line is an Error "FILE: line N: ...".
Result<void> scan_text(const MapSpec& spec, const std::function<bool(TextRecord&&)>& fn) {
    auto text = read_small_file(spec.file, kMaxTextMap);
    if (!text) return text.error();
    std::string_view rest = text.value();
    size_t lineno = 0;
    TextOptions opt;
    while (!rest.empty()) {
        size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        ++lineno;
        auto rec = parse_text_line(line, lineno, opt);
        if (!rec) return make_error(Exit::config, spec.file + ": " + rec.error().message);
        if (rec.value() && !fn(std::move(*rec.value()))) break;
    }
    return {};
}

}  // namespace

Result<std::optional<TextRecord>> parse_text_line(std::string_view line, size_t lineno,
                                                  const TextOptions& opt) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == opt.comment) return std::optional<TextRecord>{};
    if (line.find('\0') != std::string_view::npos) return line_error(lineno, "NUL byte in line");
    if (opt.separator == '\0' && is_space(line.front()))
        return line_error(lineno, "syntax error (leading space)");
    size_t end = 0;
    while (end < line.size() &&
           (opt.separator == '\0' ? !is_space(line[end]) : line[end] != opt.separator))
        ++end;
    TextRecord rec;
    rec.line = lineno;
    rec.key = opt.fold_case ? fold_key(line.substr(0, end)) : std::string(line.substr(0, end));
    if (rec.key.empty()) return line_error(lineno, "empty key");
    size_t v = end < line.size() ? end + 1 : end;
    while (v < line.size() && is_space(line[v]))
        ++v;
    std::string_view value = line.substr(v);  // trailing white space kept, as makemap does
    if (value.empty() && !opt.allow_empty) return line_error(lineno, "no RHS for LHS " + rec.key);
    rec.value = std::string(value);
    return std::optional<TextRecord>{std::move(rec)};
}

Result<std::string> read_small_file(const std::string& path, size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return sys_error(path, errno, errno == ENOENT ? Exit::no_input : Exit::temp_fail);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error(path, errno, Exit::temp_fail);
    if (!S_ISREG(st.st_mode)) return make_error(Exit::config, path + ": not a regular file");
    if (static_cast<uint64_t>(st.st_size) > max)
        return make_error(Exit::config, path + ": file too large");
    std::string text;
    text.reserve(static_cast<size_t>(st.st_size));
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(path, errno, Exit::temp_fail);
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > max) return make_error(Exit::config, path + ": file too large");
    }
    return text;
}

Result<std::unique_ptr<Map>> open_text_map(const MapSpec& spec) {
    std::unordered_map<std::string, std::string> table;
    auto r = scan_text(spec, [&](TextRecord&& rec) {
        table.emplace(std::move(rec.key), std::move(rec.value));
        return true;
    });
    if (!r) return r.error();
    return std::unique_ptr<Map>(std::make_unique<TextMap>(spec.name, std::move(table)));
}

Result<void> for_each_text_record(const MapSpec& spec, const RecordFn& fn) {
    return scan_text(spec, [&](TextRecord&& rec) { return fn(rec.key, rec.value); });
}

}  // namespace tegami::map
