// map_bdb.cpp - see map_bdb.hpp. Maps are opened read-only with no environment and no
// locking, exactly as sendmail reads them: writers never modify a map in place
// (MapWriter renames a complete new file over the old one), so an open handle keeps
// reading the old, complete file until MapRef notices the change and reopens.
#include "lib/map/map_bdb.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace tegami::map {

namespace {

thread_local std::string g_last_bdb_message;

constexpr uint64_t kDefaultCache = 256u * 1024u;
constexpr uint64_t kMaxCache = 64u * 1024u * 1024u;

void quiet_errcall(const DB_ENV*, const char*, const char* msg) noexcept {
    try {
        g_last_bdb_message = msg ? msg : "";
    } catch (...) {  // NOLINT(bugprone-empty-catch): a lost diagnostic only
    }
}

DBT make_dbt(std::string_view s) {
    DBT d{};
    d.data = const_cast<char*>(s.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    d.size = static_cast<u_int32_t>(s.size());
    return d;
}

std::string_view view(const DBT& d) {
    return {static_cast<const char*>(d.data), d.size};
}

// Which key forms a map holds, learnt by one pass over its keys at open, so that a
// lookup asks BDB only for forms that exist (a miss in a usual map is one get).
struct KeyShape {
    bool plain = false;  // keys without a trailing NUL (makemap)
    bool nul = false;    // keys with one (makemap -N, aliases.db)
    bool upper = false;  // keys with upper-case letters (makemap -f)
};

Result<KeyShape> key_shape(DB* db, const std::string& file) {
    KeyShape shape;
    DBC* raw = nullptr;
    int ret = db->cursor(db, nullptr, &raw, 0);
    if (ret != 0) return bdb_error(file + ": cursor", ret, Exit::config);
    DbcPtr cur(raw);
    for (;;) {
        DBT k{};
        DBT d{};
        d.flags = DB_DBT_PARTIAL;  // keys only: no value is copied
        ret = cur->get(cur.get(), &k, &d, DB_NEXT);
        if (ret == DB_NOTFOUND) return shape;
        if (ret != 0) return bdb_error(file + ": read", ret, Exit::config);
        std::string_view key = view(k);
        if (!key.empty() && key.back() == '\0')
            shape.nul = true;
        else
            shape.plain = true;
        if (!shape.upper)
            for (char c : key)
                if (c >= 'A' && c <= 'Z') {
                    shape.upper = true;
                    break;
                }
        if (shape.plain && shape.nul && shape.upper) return shape;
    }
}

class BdbMap final : public Map {
  public:
    BdbMap(std::string name, DbPtr db, KeyShape shape)
        : name_(std::move(name)), db_(std::move(db)), shape_(shape) {}

    Result<std::optional<std::string>> lookup(std::string_view key) override {
        if (key.empty() || key.size() > kMaxKey) return std::optional<std::string>{};
        std::string folded = fold_key(key);
        auto hit = get_either(folded);
        if (!hit || hit.value() || !shape_.upper || std::string_view(folded) == key) return hit;
        return get_either(std::string(key));  // a map made with makemap -f
    }
    const std::string& name() const override { return name_; }

  private:
    static constexpr size_t kMaxKey = 64u * 1024u;

    // The key in each form the map holds: without, then with its trailing NUL.
    Result<std::optional<std::string>> get_either(const std::string& key) {
        if (shape_.plain) {
            auto hit = get(key, false);
            if (!hit || hit.value()) return hit;
        }
        if (shape_.nul) return get(key, true);
        return std::optional<std::string>{};
    }

    Result<std::optional<std::string>> get(const std::string& key, bool with_nul) {
        buf_.assign(key);
        if (with_nul) buf_.push_back('\0');
        DBT k = make_dbt(buf_);
        DBT d{};
        int ret = db_->get(db_.get(), nullptr, &k, &d, 0);
        if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) return std::optional<std::string>{};
        if (ret != 0) return bdb_error(name_ + ": lookup", ret, Exit::temp_fail);
        std::string_view v = view(d);
        if (!v.empty() && v.back() == '\0') v.remove_suffix(1);
        return std::optional<std::string>{std::string(v)};
    }

    std::string name_;
    DbPtr db_;
    std::string buf_;
    KeyShape shape_;
};

}  // namespace

Error bdb_error(const std::string& what, int ret, Exit exit) {
    std::string msg = what + ": " + db_strerror(ret);
    if (!g_last_bdb_message.empty()) {
        msg += " (" + g_last_bdb_message + ")";
        g_last_bdb_message.clear();
    }
    return make_error(exit, std::move(msg));
}

Result<DbPtr> open_bdb_readonly(const std::string& file, MapType type) {
    // Stat first: BDB's own answer for a missing file or a directory is less clear.
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
        return sys_error(file, errno, errno == ENOENT ? Exit::no_input : Exit::temp_fail);
    if (!S_ISREG(st.st_mode)) return make_error(Exit::config, file + ": not a regular file");
    if (st.st_size == 0) return make_error(Exit::config, file + ": empty file, not a database");
    DB* raw = nullptr;
    int ret = db_create(&raw, nullptr, 0);
    if (ret != 0) return bdb_error("db_create", ret, Exit::os_err);
    DbPtr db(raw);
    db->set_errcall(db.get(), quiet_errcall);
    // A cache that holds the whole map (up to kMaxCache): BDB's default without an
    // environment is 256 KB, and a larger map would then read pages from the file on
    // most lookups.
    uint64_t cache = static_cast<uint64_t>(st.st_size) + static_cast<uint64_t>(st.st_size) / 4;
    if (cache > kMaxCache) cache = kMaxCache;
    if (cache > kDefaultCache)
        (void)db->set_cachesize(db.get(), 0, static_cast<u_int32_t>(cache), 1);
    g_last_bdb_message.clear();
    ret = db->open(db.get(), nullptr, file.c_str(), nullptr, DB_UNKNOWN, DB_RDONLY, 0);
    if (ret == ENOENT) return sys_error(file, ret, Exit::no_input);
    if (ret != 0) return bdb_error(file + ": not a Berkeley DB map", ret, Exit::config);
    DBTYPE got = DB_UNKNOWN;
    ret = db->get_type(db.get(), &got);
    if (ret != 0) return bdb_error(file, ret, Exit::config);
    DBTYPE want = type == MapType::btree ? DB_BTREE : DB_HASH;
    if (got != want)
        return make_error(Exit::config, file + ": is a " +
                                            (got == DB_BTREE  ? "btree"
                                             : got == DB_HASH ? "hash"
                                                              : "non-map") +
                                            " database, not " + map_type_name(type));
    return db;
}

Result<std::unique_ptr<Map>> open_bdb_map(const MapSpec& spec) {
    auto db = open_bdb_readonly(spec.file, spec.type);
    if (!db) return db.error();
    auto shape = key_shape(db.value().get(), spec.file);
    if (!shape) return shape.error();
    return std::unique_ptr<Map>(
        std::make_unique<BdbMap>(spec.name, std::move(db.value()), shape.value()));
}

Result<void> for_each_bdb_record(const MapSpec& spec, const RecordFn& fn) {
    auto db = open_bdb_readonly(spec.file, spec.type);
    if (!db) return db.error();
    DBC* raw = nullptr;
    int ret = db.value()->cursor(db.value().get(), nullptr, &raw, 0);
    if (ret != 0) return bdb_error(spec.file + ": cursor", ret, Exit::io_err);
    DbcPtr cur(raw);
    for (;;) {
        DBT k{};
        DBT d{};
        ret = cur->get(cur.get(), &k, &d, DB_NEXT);
        if (ret == DB_NOTFOUND) return {};
        if (ret != 0) return bdb_error(spec.file + ": read", ret, Exit::io_err);
        if (!fn(view(k), view(d))) return {};
    }
}

}  // namespace tegami::map
