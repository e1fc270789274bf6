// pidfile.hpp - master's pid file: refuses to start when a live master holds it
// (an flock on the file, held for master's lifetime), removed at a clean stop.
#pragma once

#include <string>

#include "lib/core/result.hpp"
#include "lib/core/unique_fd.hpp"

namespace tegami::master {

class PidFile {
  public:
    // Creates/locks path and writes the pid. EX_TEMPFAIL-class error if held by a live master.
    static Result<PidFile> acquire(const std::string& path);
    // Rewrites the pid (after daemonizing changed it).
    void update();
    void remove();
    PidFile(PidFile&&) = default;
    PidFile& operator=(PidFile&&) = default;

  private:
    PidFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string path_;
    UniqueFd fd_;
};

}  // namespace tegami::master
