// exec.cpp - see exec.hpp.
#include "lib/core/exec.hpp"

#include <unistd.h>

#include <cstdlib>

namespace tegami {

void exec_program(const std::string& path, std::vector<std::string> args,
                  std::initializer_list<const char*> keep) {
    std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    for (const char* name : keep)
        if (const char* v = std::getenv(name)) env.push_back(std::string(name) + "=" + v);
    std::vector<char*> argv, envp;
    argv.reserve(args.size() + 1);
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    envp.reserve(env.size() + 1);
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(path.c_str(), argv.data(), envp.data());
}

}  // namespace tegami
