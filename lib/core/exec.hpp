// exec.hpp - execve of one of the suite's programs (or sendmail) with a fixed environment:
// PATH=/usr/sbin:/usr/bin:/sbin:/bin and only the variables the caller names, so that
// nothing in the caller's environment (LD_*, IFS, a hostile PATH) reaches the program.
// Called by master (the daemons, the client-queue runner), sendmail (master,
// newaliases) and the tegami command (master, sendmail -q), in a child or in place of
// the caller.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

namespace tegami {

// argv is args (args[0] is the program's argv[0]); the environment is PATH plus each
// variable of keep that this process has. Returns only when execve failed, with errno
// set. Allocates: call it before exec, never from a signal handler.
void exec_program(const std::string& path, std::vector<std::string> args,
                  std::initializer_list<const char*> keep = {});

}  // namespace tegami
