// sysexits.hpp - exit codes of the suite (sysexits(3)), named once.
// Every program's exit status and every "error by kind" decision uses these.
#pragma once

#include <sysexits.h>

namespace tegami {

enum class Exit : int {
    ok = EX_OK,
    usage = EX_USAGE,
    data_err = EX_DATAERR,
    no_input = EX_NOINPUT,
    no_user = EX_NOUSER,
    no_host = EX_NOHOST,
    unavailable = EX_UNAVAILABLE,
    software = EX_SOFTWARE,
    os_err = EX_OSERR,
    os_file = EX_OSFILE,
    cant_create = EX_CANTCREAT,
    io_err = EX_IOERR,
    temp_fail = EX_TEMPFAIL,
    protocol = EX_PROTOCOL,
    no_perm = EX_NOPERM,
    config = EX_CONFIG,
};

constexpr int code(Exit e) {
    return static_cast<int>(e);
}

}  // namespace tegami
