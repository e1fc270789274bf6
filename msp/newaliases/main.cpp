// newaliases - compiles the aliases file named by tegami.conf's `aliases` key into
// PATH.db in sendmail's format (aliases_compile.hpp) and prints sendmail's summary:
//
//   newaliases [-C config]     (also: sendmail -bi, and sendmail invoked as newaliases)
//
// Runs as its caller, who needs write access to the map's directory (root for
// /etc/aliases.db). Other sendmail flags that scripts pass along (-v, -o..., -O...)
// are accepted and ignored; anything else is a usage error (64).
#include <cstdio>
#include <cstring>
#include <string>

#include "lib/conf/config.hpp"
#include "lib/core/sysexits.hpp"
#include "lib/map/aliases_compile.hpp"

using namespace tegami;

int main(int argc, char** argv) {
    std::string config = default_config_path();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-C" && i + 1 < argc) {
            config = argv[++i];
        } else if (a.rfind("-C", 0) == 0 && a.size() > 2) {
            config = a.substr(2);
        } else if ((a == "-o" || a == "-O") && i + 1 < argc) {
            ++i;
        } else if (a == "-v" || a == "-bi" || a.rfind("-o", 0) == 0 || a.rfind("-O", 0) == 0) {
            continue;
        } else {
            std::fprintf(stderr,
                         "newaliases: illegal option -- %s\nusage: newaliases [-C config]\n",
                         a.c_str());
            return code(Exit::usage);
        }
    }
    return run_newaliases(config, "newaliases", stdout, stderr);
}
