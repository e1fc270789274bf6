// fsync_spy.hpp - records which paths the code under test fsyncs. The unit-deliver
// binary defines fsync() itself (fsync_spy_test.cpp), so calls from the delivery code
// linked into it land there: the path of each descriptor is read from /proc/self/fd
// and the real system call is made. Criterion runs each test in its own process, so
// the record starts empty in every test.
#pragma once

#include <string>
#include <vector>

namespace tegami::test {

// The paths fsync'ed since the last call, in order; clears the record.
std::vector<std::string> fsync_spy_take();

}  // namespace tegami::test
