// unique_fd.hpp - the owner of a file descriptor. Move-only; closes on destruction.
// No implicit conversion to int: call get() where a C API needs the number, and
// release() where ownership passes elsewhere (e.g. to libevent with BEV_OPT_CLOSE_ON_FREE).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string_view>
#include <utility>

namespace tegami {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

// A read-only shared mapping of a whole descriptor (a body memfd), unmapped on the line
// that drops it. An empty file maps to an empty view without an mmap call.
class UniqueMapping {
  public:
    UniqueMapping() = default;
    UniqueMapping(const UniqueMapping&) = delete;
    UniqueMapping& operator=(const UniqueMapping&) = delete;
    UniqueMapping(UniqueMapping&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)),
          n_(std::exchange(o.n_, 0)),
          skip_(std::exchange(o.skip_, 0)) {}
    UniqueMapping& operator=(UniqueMapping&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
            skip_ = std::exchange(o.skip_, 0);
        }
        return *this;
    }
    ~UniqueMapping() { reset(); }
    // Maps [offset, offset + size) of fd read-only (the mapping starts at the page
    // boundary below offset; view() is the range). False (errno set) when it fails.
    bool map(int fd, size_t size, uint64_t offset = 0) {
        reset();
        if (size == 0) return true;
        auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        uint64_t start = offset - offset % page;
        auto skip = static_cast<size_t>(offset - start);
        void* p =
            ::mmap(nullptr, size + skip, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
        if (p == MAP_FAILED) return false;
        p_ = p;
        n_ = size;
        skip_ = skip;
        return true;
    }
    std::string_view view() const {
        return p_ ? std::string_view(static_cast<const char*>(p_) + skip_, n_) : std::string_view();
    }
    // Gives back the resident pages of [p, p + n), a part of a mapping's view that has
    // been read: from the page holding p up to, not including, the page holding p + n
    // (MADV_DONTNEED: the mapping and the file's page cache stay; a later read faults a
    // page in again from the file). Only for a UniqueMapping's view (a shared file
    // mapping): on anonymous memory MADV_DONTNEED would discard the data.
    static void drop_pages(const char* p, size_t n) noexcept {
        auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
        uintptr_t a = reinterpret_cast<uintptr_t>(p), b = a + n;
        a -= a % page;
        b -= b % page;
        if (b > a) (void)::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
    }
    void reset() {
        if (p_) ::munmap(p_, n_ + skip_);
        p_ = nullptr;
        n_ = 0;
        skip_ = 0;
    }

  private:
    void* p_ = nullptr;
    size_t n_ = 0;
    size_t skip_ = 0;  // octets mapped before the range (page alignment)
};

}  // namespace tegami
