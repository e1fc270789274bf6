// clock.hpp - the monotonic clock in milliseconds, for deadlines and ages that must not
// move with the wall clock (lock waits, program timeouts, batch gathering).
#pragma once

#include <time.h>

#include <cstdint>

namespace tegami {

inline int64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace tegami
