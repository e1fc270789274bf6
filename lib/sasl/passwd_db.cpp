// passwd_db.cpp - see passwd_db.hpp.
#include "lib/sasl/passwd_db.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tegami::sasl {

namespace {

Result<DbPtr> open_db(const std::string& path, u_int32_t flags, int mode) {
    DB* raw = nullptr;
    int rc = db_create(&raw, nullptr, 0);
    if (rc != 0) return make_error(Exit::os_err, std::string("db_create: ") + db_strerror(rc));
    DbPtr db(raw);
    rc = db->open(db.get(), nullptr, path.c_str(), nullptr, DB_HASH, flags, mode);
    if (rc != 0)
        return make_error(rc == ENOENT ? Exit::no_input : Exit::os_file,
                          path + ": " + db_strerror(rc));
    return db;
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

PasswdDb::PasswdDb(std::string path) : path_(std::move(path)) {}

Result<void> PasswdDb::refresh() {
    time_t now = std::time(nullptr);
    if (db_ && now == checked_) return {};
    checked_ = now;
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) {
        db_.reset();
        return sys_error("auth_db " + path_, errno, Exit::temp_fail);
    }
    if (db_ && st.st_ino == ino_ && st.st_size == size_ && st.st_mtim.tv_sec == mtime_.tv_sec &&
        st.st_mtim.tv_nsec == mtime_.tv_nsec)
        return {};
    auto db = open_db(path_, DB_RDONLY, 0);
    if (!db) {
        db_.reset();
        return make_error(Exit::temp_fail, db.error().message);
    }
    db_ = std::move(db.value());
    ino_ = st.st_ino;
    size_ = st.st_size;
    mtime_ = st.st_mtim;
    return {};
}

Result<std::optional<Credential>> PasswdDb::lookup(std::string_view login) {
    if (auto r = refresh(); !r) return r.error();
    DBT key{}, val{};
    key.data = const_cast<char*>(login.data());
    key.size = static_cast<u_int32_t>(login.size());
    int rc = db_->get(db_.get(), nullptr, &key, &val, 0);
    if (rc == DB_NOTFOUND) return std::optional<Credential>();
    if (rc != 0) return make_error(Exit::temp_fail, path_ + ": " + db_strerror(rc));
    auto c = decode_credential(std::string_view(static_cast<char*>(val.data), val.size));
    if (!c) return make_error(Exit::data_err, path_ + ": malformed entry");
    return std::optional<Credential>(std::move(*c));
}

Result<PasswdWriter> PasswdWriter::open(const std::string& path) {
    PasswdWriter w;
    w.path_ = path;
    std::string lock = path + ".lock";
    w.lock_.reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!w.lock_) return sys_error(lock, errno, Exit::cant_create);
    bool locked = false;
    for (int i = 0; i < 100 && !locked; ++i) {
        if (::flock(w.lock_.get(), LOCK_EX | LOCK_NB) == 0)
            locked = true;
        else if (errno == EWOULDBLOCK)
            ::usleep(100000);
        else
            return sys_error("flock " + lock, errno);
    }
    if (!locked) return make_error(Exit::temp_fail, lock + ": locked by another tegami-passwd");
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) return sys_error(path, errno);
        return w;
    }
    w.existed_ = true;
    w.old_uid_ = st.st_uid;
    w.old_gid_ = st.st_gid;
    auto db = open_db(path, DB_RDONLY, 0);
    if (!db) return db.error();
    DBC* raw = nullptr;
    if (int rc = (*db)->cursor(db->get(), nullptr, &raw, 0); rc != 0)
        return make_error(Exit::os_file, path + ": cursor: " + db_strerror(rc));
    DbcPtr cur(raw);
    DBT key{}, val{};
    int rc;
    while ((rc = cur->get(cur.get(), &key, &val, DB_NEXT)) == 0)
        w.entries_.emplace(std::string(static_cast<char*>(key.data), key.size),
                           std::string(static_cast<char*>(val.data), val.size));
    if (rc != DB_NOTFOUND) return make_error(Exit::os_file, path + ": " + db_strerror(rc));
    return w;
}

Result<void> PasswdWriter::commit(uid_t owner, gid_t group) {
    std::string tmp = path_ + ".new";
    ::unlink(tmp.c_str());
    {
        auto db = open_db(tmp, DB_CREATE | DB_EXCL, 0600);
        if (!db) return db.error();
        for (const auto& [k, v] : entries_) {
            DBT key{}, val{};
            key.data = const_cast<char*>(k.data());
            key.size = static_cast<u_int32_t>(k.size());
            val.data = const_cast<char*>(v.data());
            val.size = static_cast<u_int32_t>(v.size());
            if (int rc = (*db)->put(db->get(), nullptr, &key, &val, 0); rc != 0) {
                ::unlink(tmp.c_str());
                return make_error(Exit::io_err, tmp + ": " + db_strerror(rc));
            }
        }
        DB* raw = db->release();
        if (int rc = raw->close(raw, 0); rc != 0) {
            ::unlink(tmp.c_str());
            return make_error(Exit::io_err, tmp + ": close: " + db_strerror(rc));
        }
    }
    UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return sys_error(tmp, errno, Exit::io_err);
    if (owner == static_cast<uid_t>(-1)) owner = old_uid_;
    if (group == static_cast<gid_t>(-1)) group = old_gid_;
    if ((owner != static_cast<uid_t>(-1) || group != static_cast<gid_t>(-1)) && geteuid() == 0 &&
        ::fchown(fd.get(), owner, group) != 0) {
        ::unlink(tmp.c_str());
        return sys_error("chown " + tmp, errno);
    }
    if (::fchmod(fd.get(), 0640) != 0 || ::fsync(fd.get()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return sys_error("fsync " + tmp, e, Exit::io_err);
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return sys_error("rename " + tmp, e, Exit::io_err);
    }
    std::string dir = dir_of(path_);
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd || ::fsync(dfd.get()) != 0) return sys_error("fsync " + dir, errno, Exit::io_err);
    return {};
}

}  // namespace tegami::sasl
