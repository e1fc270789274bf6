// c_ptr.hpp - owners for every C-library resource the suite uses. A raw *_free or
// close outside this header (and unique_fd.hpp) is a review finding: each resource is
// owned on the line that creates it.
#pragma once

#include <db.h>
#include <dirent.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/capability.h>
#include <unbound.h>

#include <cstdio>
#include <memory>

namespace tegami {

#define TEGAMI_C_DELETER(Name, Type, Call)                \
    struct Name {                                         \
        void operator()(Type* p) const noexcept { Call; } \
    }

TEGAMI_C_DELETER(EventBaseFree, event_base, event_base_free(p));
TEGAMI_C_DELETER(EventFree, event, event_free(p));
TEGAMI_C_DELETER(BuffereventFree, bufferevent, bufferevent_free(p));
TEGAMI_C_DELETER(EvconnlistenerFree, evconnlistener, evconnlistener_free(p));
TEGAMI_C_DELETER(SslCtxFree, SSL_CTX, SSL_CTX_free(p));
TEGAMI_C_DELETER(SslFree, SSL, SSL_free(p));
TEGAMI_C_DELETER(X509Free, X509, X509_free(p));
TEGAMI_C_DELETER(EvpPkeyFree, EVP_PKEY, EVP_PKEY_free(p));
TEGAMI_C_DELETER(BioFree, BIO, BIO_free_all(p));
TEGAMI_C_DELETER(FileClose, FILE, std::fclose(p));
TEGAMI_C_DELETER(DirClose, DIR, closedir(p));
TEGAMI_C_DELETER(DbEnvClose, DB_ENV, p->close(p, 0));
TEGAMI_C_DELETER(DbClose, DB, p->close(p, 0));
TEGAMI_C_DELETER(DbcClose, DBC, p->close(p));
TEGAMI_C_DELETER(UbCtxDelete, ub_ctx, ub_ctx_delete(p));
TEGAMI_C_DELETER(UbResultFree, ub_result, ub_resolve_free(p));
struct CapFree {
    void operator()(struct _cap_struct* p) const noexcept { cap_free(p); }
};

#undef TEGAMI_C_DELETER

using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventFree>;
using EvconnlistenerPtr = std::unique_ptr<evconnlistener, EvconnlistenerFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using FilePtr = std::unique_ptr<FILE, FileClose>;
using DirPtr = std::unique_ptr<DIR, DirClose>;
using CapPtr = std::unique_ptr<struct _cap_struct, CapFree>;
using DbEnvPtr = std::unique_ptr<DB_ENV, DbEnvClose>;
using DbPtr = std::unique_ptr<DB, DbClose>;
using DbcPtr = std::unique_ptr<DBC, DbcClose>;
using UbCtxPtr = std::unique_ptr<ub_ctx, UbCtxDelete>;
using UbResultPtr = std::unique_ptr<ub_result, UbResultFree>;

// A Berkeley DB transaction that aborts unless commit() succeeded.
class DbTxn {
  public:
    DbTxn() = default;
    explicit DbTxn(DB_TXN* t) : t_(t) {}
    DbTxn(const DbTxn&) = delete;
    DbTxn& operator=(const DbTxn&) = delete;
    DbTxn(DbTxn&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
    DbTxn& operator=(DbTxn&& o) noexcept {
        if (this != &o) {
            abort();
            t_ = o.t_;
            o.t_ = nullptr;
        }
        return *this;
    }
    ~DbTxn() { abort(); }
    DB_TXN* get() const { return t_; }
    // flags: 0 (environment default), DB_TXN_NOSYNC, DB_TXN_WRITE_NOSYNC, DB_TXN_SYNC.
    int commit(u_int32_t flags) {
        DB_TXN* t = t_;
        t_ = nullptr;
        return t ? t->commit(t, flags) : EINVAL;
    }
    void abort() noexcept {
        if (t_) {
            t_->abort(t_);
            t_ = nullptr;
        }
    }

  private:
    DB_TXN* t_ = nullptr;
};

}  // namespace tegami
