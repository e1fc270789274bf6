// map_writer.cpp - see map_writer.hpp. Called by makemap and the aliases compiler with
// records they have already parsed; trusts the target path (the caller's argument or
// configuration), nothing else.
#include "lib/map/map_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "lib/core/unique_fd.hpp"
#include "lib/map/map_bdb.hpp"

namespace tegami::map {

namespace {

std::atomic<unsigned> g_tmp_counter{0};

constexpr size_t kBuildCache = 32u * 1024u * 1024u;

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

DBT make_dbt(std::string_view s) {
    DBT d{};
    d.data = const_cast<char*>(s.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    d.size = static_cast<u_int32_t>(s.size());
    return d;
}

Result<void> fsync_path(const std::string& path, int flags) {
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) return sys_error(path, errno, Exit::io_err);
    if (::fsync(fd.get()) != 0) return sys_error("fsync " + path, errno, Exit::io_err);
    return {};
}

}  // namespace

Result<void> fsync_parent_dir(const std::string& path) {
    return fsync_path(dir_of(path), O_RDONLY | O_DIRECTORY);
}

Result<std::unique_ptr<MapWriter>> MapWriter::create(MapType type, std::string file,
                                                     const WriteOptions& opt) {
    if (type == MapType::text)
        return make_error(Exit::usage, "text maps are not written by this tool");
    std::string tmp = dir_of(file) + "/." + base_of(file) + ".tmp." + std::to_string(::getpid()) +
                      "." + std::to_string(g_tmp_counter++);
    std::unique_ptr<MapWriter> w(new MapWriter(std::move(file), tmp, opt.allow_dups));

    DB* raw = nullptr;
    int ret = db_create(&raw, nullptr, 0);
    if (ret != 0) return bdb_error("db_create", ret, Exit::os_err);
    DbPtr db(raw);
    // Without -c, a cache large enough that building a big map does not write and
    // re-read pages for every record (BDB's own default is 256 KB).
    size_t cache = opt.cache_size > 0 ? opt.cache_size : kBuildCache;
    ret = db->set_cachesize(db.get(), static_cast<u_int32_t>(cache >> 30),
                            static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
    if (ret == 0 && opt.allow_dups) ret = db->set_flags(db.get(), DB_DUP);
    if (ret != 0) return bdb_error(w->file_ + ": configure", ret, Exit::usage);
    ret = db->open(db.get(), nullptr, tmp.c_str(), nullptr,
                   type == MapType::btree ? DB_BTREE : DB_HASH, DB_CREATE | DB_EXCL, 0600);
    if (ret != 0)
        return bdb_error("create " + tmp, ret,
                         ret == EACCES || ret == EPERM ? Exit::no_perm : Exit::cant_create);
    w->db_ = std::move(db);

    struct stat old {};
    bool had_old = ::stat(w->file_.c_str(), &old) == 0;
    mode_t mode = had_old ? (old.st_mode & 07777) : opt.new_mode;
    if (::chmod(tmp.c_str(), mode) != 0) return sys_error("chmod " + tmp, errno, Exit::cant_create);
    if (had_old && (old.st_uid != ::geteuid() || old.st_gid != ::getegid()) &&
        ::chown(tmp.c_str(), old.st_uid, old.st_gid) != 0 && errno != EPERM)
        return sys_error("chown " + tmp, errno, Exit::cant_create);
    if (!had_old && opt.new_gid != static_cast<gid_t>(-1) && opt.new_gid != ::getegid() &&
        ::chown(tmp.c_str(), static_cast<uid_t>(-1), opt.new_gid) != 0 && errno != EPERM)
        return sys_error("chgrp " + tmp, errno, Exit::cant_create);

    if (opt.append && had_old) {
        MapSpec spec;
        spec.type = type;
        spec.path = w->file_;
        spec.file = w->file_;
        spec.name = w->file_;
        Result<bool> put_ok = true;
        auto r = for_each_bdb_record(spec, [&](std::string_view k, std::string_view v) {
            put_ok = w->put(k, v, true);
            return put_ok.ok();
        });
        if (!r) return r.error();
        if (!put_ok) return put_ok.error();
    }
    return w;
}

MapWriter::~MapWriter() {
    if (!done_) {
        db_.reset();
        ::unlink(tmp_.c_str());
    }
}

Result<bool> MapWriter::put(std::string_view key, std::string_view value, bool replace) {
    if (done_ || !db_) return make_error(Exit::software, file_ + ": put after commit");
    if (key.size() > UINT32_MAX / 2 || value.size() > UINT32_MAX / 2)
        return make_error(Exit::data_err, file_ + ": record too large");
    DBT k = make_dbt(key);
    DBT d = make_dbt(value);
    u_int32_t flags = replace || allow_dups_ ? 0 : DB_NOOVERWRITE;
    int ret = db_->put(db_.get(), nullptr, &k, &d, flags);
    if (ret == DB_KEYEXIST) return false;
    if (ret != 0) return bdb_error(file_ + ": put", ret, Exit::io_err);
    return true;
}

Result<bool> MapWriter::remove(std::string_view key) {
    if (done_ || !db_) return make_error(Exit::software, file_ + ": remove after commit");
    if (key.size() > UINT32_MAX / 2) return false;
    DBT k = make_dbt(key);
    int ret = db_->del(db_.get(), nullptr, &k, 0);
    if (ret == DB_NOTFOUND) return false;
    if (ret != 0) return bdb_error(file_ + ": del", ret, Exit::io_err);
    return true;
}

Result<void> MapWriter::commit() {
    if (done_ || !db_) return make_error(Exit::software, file_ + ": committed twice");
    int ret = db_->sync(db_.get(), 0);  // writes every dirty page of the new file
    if (ret != 0) return bdb_error(tmp_ + ": sync", ret, Exit::io_err);
    db_.reset();
    if (auto r = fsync_path(tmp_, O_RDONLY); !r) return r;
    if (::rename(tmp_.c_str(), file_.c_str()) != 0)
        return sys_error("rename " + tmp_ + " to " + file_, errno, Exit::cant_create);
    done_ = true;
    return fsync_parent_dir(file_);
}

}  // namespace tegami::map
