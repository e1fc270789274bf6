// status_test.cpp - unit tests for msp/tegami/status.cpp: the pure parsers of pid-file
// text and /proc/PID/stat (bad inputs first), and read_status against this very test
// process (a live pid that is not tegami-master must never count as a running master).
#include "msp/tegami/status.hpp"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

using namespace tegami::admin;

struct PidCase {
    const char* text;
    long want;  // 0: refused
};

const PidCase kPids[] = {
    {"", 0},        {"\n", 0},        {"abc\n", 0},   {"-5\n", 0},
    {"0\n", 0},     {"1\n", 0},       {"12 34\n", 0}, {"99999999999\n", 0},
    {"1234x\n", 0}, {"1234\n", 1234}, {"1234", 1234}, {"42  \n", 42},
};

Test(tegami_status, pid_file_text) {
    for (const auto& c : kPids) {
        auto r = parse_pid_text(c.text);
        if (c.want == 0)
            cr_expect(!r.has_value(), "\"%s\" accepted", c.text);
        else
            cr_expect(r.has_value() && *r == c.want, "\"%s\"", c.text);
    }
}

Test(tegami_status, proc_stat_text) {
    cr_expect(!parse_proc_stat(""));
    cr_expect(!parse_proc_stat("123 (x"));
    cr_expect(!parse_proc_stat("123 (x) S 1 2"), "too few fields");
    cr_expect(!parse_proc_stat("123 (x) S y 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21"),
              "ppid not a number");
    std::string good =
        "4242 (tegami smtpd) x) S 4200 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
        "987654 1000 200 18446744073709551615";
    auto r = parse_proc_stat(good);
    cr_assert(r.has_value());
    cr_expect_eq(r->ppid, 4200);
    cr_expect_eq(r->start_ticks, 987654ull);
}

Test(tegami_status, read_status_states) {
    char tmpl[] = "/tmp/tegami-status-XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    std::string pid_file = dir + "/master.pid";
    cr_expect(read_status(pid_file).state == State::not_running, "no pid file");
    std::ofstream(pid_file) << "junk\n";
    cr_expect(read_status(pid_file).state == State::dead_with_pid_file, "junk pid file");
    std::ofstream(pid_file, std::ios::trunc) << getpid() << "\n";
    Status s = read_status(pid_file);
    cr_expect(s.state == State::dead_with_pid_file, "a live pid that is not tegami-master");
    cr_expect_eq(s.master.pid, getpid());
    unlink(pid_file.c_str());
    rmdir(dir.c_str());
}
