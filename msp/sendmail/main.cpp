// sendmail - the sendmail-compatible command line. This step implements the daemon and
// administration modes; message submission (-bm, -t, -bs: the MSP writing into the
// client queue) is the next step and is refused with EX_UNAVAILABLE until then.
//
//   sendmail -bd [-C config] [-L tag]   start tegami-master in the background (root: the
//                                       daemon as installed; others: a sandbox)
//   sendmail -bD ...                    the same in the foreground
//   sendmail -bC [-C config]            check the configuration (exit 0 or 78)
//   sendmail -d0.1                      print the version
//   sendmail -q...                      accepted: the queue runner is always on
//
// SECURITY. Installed without set-id bits in this step; when the MSP makes it setgid,
// -C (another configuration) must drop the group as sendmail does (see SENDMAIL-COMPAT).
// It execs only tegami-master from the configured libexec_dir, with a fixed environment.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lib/conf/config.hpp"
#include "lib/core/sysexits.hpp"

using namespace tegami;

namespace {

int usage(const char* msg) {
    std::fprintf(stderr, "sendmail: %s\n", msg);
    return code(Exit::usage);
}

int exec_master(const std::string& config, bool foreground) {
    auto cfg = load_config(config);
    if (!cfg) {
        std::fprintf(stderr, "sendmail: %s\n", cfg.error().message.c_str());
        return code(cfg.error().exit);
    }
    std::string path = cfg->libexec_dir + "/tegami-master";
    std::vector<std::string> args = {path, "-c", config};
    if (foreground) args.emplace_back("-f");
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {env_path, nullptr};
    ::execve(path.c_str(), argv.data(), envp);
    std::fprintf(stderr, "sendmail: cannot execute %s: %s\n", path.c_str(), std::strerror(errno));
    return code(Exit::os_file);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = default_config_path();
    std::string mode = "m";
    const char* prog = std::strrchr(argv[0], '/') ? std::strrchr(argv[0], '/') + 1 : argv[0];
    if (std::strcmp(prog, "mailq") == 0) mode = "p";
    if (std::strcmp(prog, "newaliases") == 0) mode = "i";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") break;
        if (a.size() < 2 || a[0] != '-') continue;  // a recipient
        auto value = [&](size_t skip) -> std::string {
            if (a.size() > skip) return a.substr(skip);
            if (i + 1 < argc) return argv[++i];
            return "";
        };
        switch (a[1]) {
            case 'b':
                mode = a.substr(2);
                break;
            case 'C':
                config = value(2);
                break;
            case 'L':
                (void)value(2);
                break;
            case 'q':
                break;
            case 'd':
                if (a == "-d0.1") {
                    std::printf("Version 0.1.0 (Tegami)\n");
                    return 0;
                }
                break;
            case 'A':
            case 'O':
            case 'o':
            case 'i':
            case 't':
            case 'f':
            case 'r':
            case 'F':
            case 'N':
            case 'R':
            case 'V':
            case 'B':
            case 'v':
            case 'm':
            case 'U':
                break;
            default:
                std::fprintf(stderr, "sendmail: illegal option -- %c\n", a[1]);
                return code(Exit::usage);
        }
    }
    if (mode == "d") return exec_master(config, false);
    if (mode == "D") return exec_master(config, true);
    if (mode == "C") {
        auto cfg = load_config(config);
        if (!cfg) {
            std::fprintf(stderr, "sendmail: %s\n", cfg.error().message.c_str());
            return code(cfg.error().exit);
        }
        std::printf("%s: configuration ok\n", config.c_str());
        return 0;
    }
    if (mode == "a" || mode == "z") return usage("this mode is not supported");
    std::fprintf(stderr,
                 "sendmail: mode -b%s is not available yet: submission from the command line "
                 "(the MSP), mailq and newaliases come with the next release; submit by SMTP "
                 "to the MTA meanwhile\n",
                 mode.c_str());
    return code(Exit::unavailable);
}
