// backoff.hpp - retry arithmetic for temporary delivery failures. Pure functions,
// called by the runner on every status-4 result; tested in tests/unit/queue.
// The n-th consecutive failure waits retry_min * 2^(n-1), capped at retry_max; a
// recipient still undelivered queue_lifetime after arrival is given up (failed).
#pragma once

#include <cstdint>

namespace tegami::queue {

struct RetryPolicy {
    uint64_t retry_min = 300;    // seconds
    uint64_t retry_max = 4000;   // seconds
    uint64_t lifetime = 432000;  // seconds
};

// Seconds to wait after the attempts-th failed attempt (attempts >= 1; 0 counts as 1).
uint64_t retry_delay(const RetryPolicy& p, uint32_t attempts);

struct DeferDecision {
    bool give_up = false;   // lifetime exceeded: the recipient fails
    uint64_t next_try = 0;  // when not given up
};

// attempts: failures so far including this one.
DeferDecision decide_deferral(const RetryPolicy& p, uint64_t arrival, uint32_t attempts,
                              uint64_t now);

}  // namespace tegami::queue
