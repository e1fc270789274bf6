// backoff.cpp - see backoff.hpp. No I/O; overflow-safe for any attempts count.
#include "queue/backoff.hpp"

namespace tegami::queue {

uint64_t retry_delay(const RetryPolicy& p, uint32_t attempts) {
    uint64_t lo = p.retry_min == 0 ? 1 : p.retry_min;
    uint64_t hi = p.retry_max < lo ? lo : p.retry_max;
    uint64_t d = lo;
    for (uint32_t i = 1; i < attempts && d < hi; ++i)
        d = (d > hi / 2) ? hi : d * 2;
    return d < hi ? d : hi;
}

DeferDecision decide_deferral(const RetryPolicy& p, uint64_t arrival, uint32_t attempts,
                              uint64_t now) {
    DeferDecision d;
    if (now >= arrival && now - arrival >= p.lifetime) {
        d.give_up = true;
        return d;
    }
    d.next_try = now + retry_delay(p, attempts);
    return d;
}

}  // namespace tegami::queue
