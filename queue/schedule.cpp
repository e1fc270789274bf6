// schedule.cpp - see schedule.hpp.
#include "queue/schedule.hpp"

namespace tegami::queue {

bool Schedule::pop_due(uint64_t now, Due& out) {
    if (heap_.empty() || heap_.top().when > now) return false;
    out = heap_.top();
    heap_.pop();
    return true;
}

}  // namespace tegami::queue
