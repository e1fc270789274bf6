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

class BdbMap final : public Map {
  public:
    BdbMap(std::string name, DbPtr db) : name_(std::move(name)), db_(std::move(db)) {}

    Result<std::optional<std::string>> lookup(std::string_view key) override {
        if (key.empty() || key.size() > kMaxKey) return std::optional<std::string>{};
        std::string folded = fold_key(key);
        auto hit = get_either(folded);
        if (!hit || hit.value() || std::string_view(folded) == key) return hit;
        return get_either(std::string(key));  // a map made with makemap -f
    }
    const std::string& name() const override { return name_; }

  private:
    static constexpr size_t kMaxKey = 64u * 1024u;

    // The key without and with its trailing NUL; the form that last matched goes first.
    Result<std::optional<std::string>> get_either(const std::string& key) {
        for (int n = 0; n < 2; ++n) {
            bool with_nul = (n == 0) == nul_first_;
            auto hit = get(key, with_nul);
            if (!hit) return hit.error();
            if (hit.value()) {
                nul_first_ = with_nul;
                return hit;
            }
        }
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
    bool nul_first_ = false;
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
    return std::unique_ptr<Map>(std::make_unique<BdbMap>(spec.name, std::move(db.value())));
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
