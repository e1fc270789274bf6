// config_test.cpp - bad configuration files stop tegami-master and tegami-config with exit
// status 78 (EX_CONFIG) and a message naming file:line, before anything is started.
// Bad inputs first; the last case checks that a good sandbox configuration passes.
#include <criterion/criterion.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace tegami_it;

namespace {

struct BadCase {
    const char* name;
    const char* line;  // appended after the sandbox configuration
};

const BadCase kBad[] = {
    {"unknown key", "no_such_key_tg = 1"},
    {"bad size", "message_size_limit = abc"},
    {"negative count", "smtpd_error_limit = -3"},
    {"bad mailbox format", "mailbox_format = mbx"},
    {"bad duration", "smtpd_timeout = soon"},
    {"bad listen address", "mta_listen = 127.0.0.1:notaport"},
    {"line without =", "this line has no equals sign"},
    {"key without value", "hostname"},
};

// Writes a valid sandbox configuration followed by bad; returns its path and the number
// of the bad line.
std::string write_bad_config(const std::string& dir, const char* bad, int& line_no) {
    std::string conf = dir + "/tegami.conf";
    CommandResult mk = run_command(
        {"/bin/sh", src_dir() + "/scripts/mkconf.sh", dir, std::to_string(free_port()), bin_dir()},
        20);
    cr_assert(mk.status == 0, "mkconf.sh: %s", mk.output.c_str());
    std::string text = read_file(conf);
    line_no = static_cast<int>(count_of(text, "\n")) + 1;
    write_file(conf, text + bad + "\n");
    return conf;
}

void check_refused(const std::string& prog, const std::vector<std::string>& args) {
    Sandbox& s = sandbox();
    char tmpl[] = "/tmp/tegami-it.XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr, "mkdtemp");
    s.dir = tmpl;  // removed by the fixture
    for (const BadCase& b : kBad) {
        int line_no = 0;
        std::string conf = write_bad_config(s.dir, b.line, line_no);
        std::vector<std::string> argv = {bin_dir() + "/" + prog, "-c", conf};
        argv.insert(argv.end(), args.begin(), args.end());
        CommandResult r = run_command(argv, 15);
        std::string where = conf + ":" + std::to_string(line_no) + ":";
        cr_expect(r.status == 78, "%s: %s exit %d, want 78 (%s)", b.name, prog.c_str(), r.status,
                  r.output.c_str());
        cr_expect(r.output.find(where) != std::string::npos, "%s: %s says \"%s\", want \"%s\"",
                  b.name, prog.c_str(), r.output.c_str(), where.c_str());
        cr_expect(access((s.dir + "/master.pid").c_str(), F_OK) != 0, "%s: a pid file was written",
                  b.name);
    }
}

}  // namespace

TestSuite(config, .fini = stop_sandbox, .timeout = 120);

Test(config, master_refuses_a_bad_file_with_file_and_line) {
    check_refused("tegami-master", {"-f"});
}

Test(config, config_check_refuses_a_bad_file_with_file_and_line) {
    check_refused("tegami-config", {"-q"});
}

Test(config, missing_file_is_a_config_error) {
    for (const char* prog : {"tegami-master", "tegami-config"}) {
        std::vector<std::string> argv = {bin_dir() + "/" + prog, "-c",
                                         "/nonexistent-tg/tegami.conf"};
        if (std::string(prog) == "tegami-master") argv.push_back("-f");
        CommandResult r = run_command(argv, 15);
        cr_expect(r.status == 78, "%s: exit %d, want 78 (%s)", prog, r.status, r.output.c_str());
        cr_expect(r.output.find("/nonexistent-tg/tegami.conf") != std::string::npos,
                  "%s does not name the file: %s", prog, r.output.c_str());
    }
}

Test(config, sandbox_configuration_passes_the_check) {
    Sandbox& s = sandbox();
    char tmpl[] = "/tmp/tegami-it.XXXXXX";
    cr_assert(mkdtemp(tmpl) != nullptr, "mkdtemp");
    s.dir = tmpl;
    CommandResult mk =
        run_command({"/bin/sh", src_dir() + "/scripts/mkconf.sh", s.dir, "2525", bin_dir()}, 20);
    cr_assert(mk.status == 0, "mkconf.sh: %s", mk.output.c_str());
    CommandResult r =
        run_command({bin_dir() + "/tegami-config", "-c", s.dir + "/tegami.conf", "-q"}, 15);
    cr_expect(r.status == 0, "tegami-config -q: exit %d: %s", r.status, r.output.c_str());
    CommandResult v =
        run_command({bin_dir() + "/tegami-config", "-c", s.dir + "/tegami.conf", "mta_listen"}, 15);
    cr_expect(v.status == 0 && v.output.find("127.0.0.1:2525") != std::string::npos,
              "tegami-config mta_listen: %s", v.output.c_str());
}
