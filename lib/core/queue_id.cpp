// queue_id.cpp - see queue_id.hpp.
#include "lib/core/queue_id.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <cstdint>

namespace tegami {

namespace {
constexpr char kDigits[] = "0123456789ABCDEFGHJKLMNPQRSTVWXY";  // base 32, no I O U Z

void put_base32(std::string& out, uint64_t v, int width) {
    char buf[16];
    for (int i = width - 1; i >= 0; --i) {
        buf[i] = kDigits[v & 31];
        v >>= 5;
    }
    out.append(buf, static_cast<size_t>(width));
}
}  // namespace

std::string new_queue_id() {
    static uint64_t last_usec = 0;
    static uint32_t counter = 0;
    timeval tv;
    gettimeofday(&tv, nullptr);
    uint64_t usec = static_cast<uint64_t>(tv.tv_sec) * 1000000u + static_cast<uint64_t>(tv.tv_usec);
    if (usec <= last_usec) usec = last_usec + 1;  // strictly increasing within a process
    last_usec = usec;
    static const uint64_t pid_bits =
        static_cast<uint64_t>(getpid()) & 0x7fff;  // callers do not fork
    uint64_t tail = (pid_bits << 10) | (counter++ & 0x3ff);
    std::string id;
    id.reserve(16);
    put_base32(id, usec, 11);
    put_base32(id, tail, 5);
    return id;
}

bool valid_queue_id(std::string_view id) {
    if (id.size() != 16) return false;
    for (char c : id) {
        bool ok = false;
        for (const char* d = kDigits; *d; ++d)
            ok |= (*d == c);
        if (!ok) return false;
    }
    return true;
}

}  // namespace tegami
