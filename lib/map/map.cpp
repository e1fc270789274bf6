// map.cpp - see map.hpp: map specs, the dispatch to the BDB and text readers, and
// MapRef, the handle daemons keep (one stat a second at most, reopen on change).
#include "lib/map/map.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "lib/map/map_bdb.hpp"
#include "lib/map/map_text.hpp"

namespace tegami::map {

namespace {

struct TypeName {
    MapType type;
    const char* name;
};
constexpr TypeName kTypes[] = {
    {MapType::hash, "hash"},
    {MapType::btree, "btree"},
    {MapType::text, "text"},
};

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

time_t monotonic_seconds() {
    struct timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

}  // namespace

std::string fold_key(std::string_view key) {
    std::string out(key);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::optional<MapType> map_type_from_name(std::string_view type) {
    for (const auto& t : kTypes)
        if (type == t.name) return t.type;
    return std::nullopt;
}

const char* map_type_name(MapType type) {
    for (const auto& t : kTypes)
        if (t.type == type) return t.name;
    return "?";
}

Result<MapSpec> parse_map_spec(std::string_view spec) {
    MapSpec out;
    std::string_view path = spec;
    size_t colon = spec.find(':');
    if (colon != std::string_view::npos && spec.substr(0, colon).find('/') == std::string::npos) {
        auto type = map_type_from_name(spec.substr(0, colon));
        if (!type)
            return make_error(Exit::config, "unknown map type \"" +
                                                std::string(spec.substr(0, colon)) + "\" in \"" +
                                                std::string(spec) + "\" (hash, btree or text)");
        out.type = *type;
        path = spec.substr(colon + 1);
    }
    if (path.empty())
        return make_error(Exit::config, "map \"" + std::string(spec) + "\" has no path");
    if (path.find('\0') != std::string_view::npos)
        return make_error(Exit::config, "map path contains a NUL byte");
    out.path = std::string(path);
    out.file = out.path;
    if (out.type != MapType::text && !ends_with(path, ".db")) out.file += ".db";
    out.name = std::string(map_type_name(out.type)) + ":" + out.path;
    return out;
}

Result<std::unique_ptr<Map>> open_map(std::string_view spec) {
    auto s = parse_map_spec(spec);
    if (!s) return s.error();
    if (s->type == MapType::text) return open_text_map(s.value());
    return open_bdb_map(s.value());
}

Result<void> for_each_record(std::string_view spec, const RecordFn& fn) {
    auto s = parse_map_spec(spec);
    if (!s) return s.error();
    if (s->type == MapType::text) return for_each_text_record(s.value(), fn);
    return for_each_bdb_record(s.value(), fn);
}

MapRef::MapRef(std::string spec) : spec_(std::move(spec)) {}

Result<void> MapRef::refresh() {
    if (file_.empty()) {
        auto s = parse_map_spec(spec_);
        if (!s) return s.error();
        file_ = s->file;
    }
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) {
        int err = errno;
        map_.reset();
        return sys_error(file_, err, err == ENOENT ? Exit::no_input : Exit::temp_fail);
    }
    if (map_ && st.st_dev == dev_ && st.st_ino == ino_ && st.st_mtim.tv_sec == mtime_ &&
        st.st_mtim.tv_nsec == mtime_nsec_ && st.st_size == size_)
        return {};
    auto m = open_map(spec_);
    if (!m) {
        map_.reset();
        return m.error();
    }
    map_ = std::move(m.value());
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    mtime_ = st.st_mtim.tv_sec;
    mtime_nsec_ = st.st_mtim.tv_nsec;
    size_ = st.st_size;
    return {};
}

Result<std::optional<std::string>> MapRef::lookup(std::string_view key) {
    if (!configured()) return std::optional<std::string>{};
    time_t now = monotonic_seconds();
    if (checked_ == 0 || now - checked_ >= 1) {
        checked_ = now > 0 ? now : 1;
        if (auto r = refresh(); !r) last_error_ = r.error();
    }
    if (!map_) return last_error_;
    return map_->lookup(key);
}

}  // namespace tegami::map
