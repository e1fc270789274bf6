// local_process_test.cpp - the delivery processes of tegami-local in the real suite: the
// process that delivered to a mailbox takes that mailbox's next batch without a new fork
// while local_idle_time runs, runs as the recipient, ends when the time is up, on SIGHUP
// and when another target needs its slot at local_concurrency, and a killed idle process
// costs no mail. The processes are read from /proc (tegami-local's children).
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace tegami_it;

namespace {

void start_with(const std::vector<std::string>& extra) {
    Sandbox& s = sandbox();
    bool ok = s.start(extra);
    if (!ok) s.dump_log();
    cr_assert(ok, "sandbox did not start: %s", s.error.c_str());
}

std::vector<pid_t> children_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (long p; in >> p;)
        out.push_back(static_cast<pid_t>(p));
    return out;
}

std::string comm_of(pid_t pid) {
    std::string c = read_file("/proc/" + std::to_string(pid) + "/comm");
    while (!c.empty() && c.back() == '\n')
        c.pop_back();
    return c;
}

pid_t local_pid() {
    for (pid_t p : children_of(sandbox().pid))
        if (comm_of(p) == "tegami-local") return p;
    return -1;
}

// The real uid of a process, from /proc/PID/status; -1 when it is gone.
long uid_of(pid_t pid) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
    return -1;
}

// Sends one message to rcpt in its own session and waits for its final log line.
std::string send_one(const std::string& rcpt, const std::string& token) {
    Sandbox& s = sandbox();
    SmtpClient c;
    IT_ASSERT(smtp_hello(c, s.port), "EHLO");
    Reply r = smtp_send(c, "sender@example.org", {rcpt},
                        "Subject: " + token + "\r\n\r\nbody-" + token + "\r\n");
    std::string qid = queued_id(r);
    c.cmd("QUIT");
    IT_ASSERT(!qid.empty(), "%s refused: %s", rcpt.c_str(), r.text().c_str());
    bool done =
        wait_until([&] { return s.log().find(qid + ": removed") != std::string::npos; }, 20000);
    IT_ASSERT(done, "%s not delivered within 20 s", qid.c_str());
    return qid;
}

uid_t mail_uid() {
    struct stat st {};
    std::string box = sandbox().mbox_path(mail_user());
    return stat(box.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

}  // namespace

TestSuite(local_process, .fini = stop_sandbox, .timeout = 90);

Test(local_process, one_process_serves_a_mailbox_until_it_idles_out) {
    start_with({"local_idle_time = 3s"});
    const std::string rcpt = mail_user() + "@localhost";
    send_one(rcpt, "one");
    pid_t local = local_pid();
    IT_ASSERT(local > 0, "no tegami-local");
    std::vector<pid_t> first = children_of(local);
    IT_ASSERT(first.size() == 1, "%zu delivery processes after one message, want 1 idle",
              first.size());
    IT_EXPECT(uid_of(first[0]) == static_cast<long>(mail_uid()),
              "the idle process runs as uid %ld, the mailbox is uid %ld", uid_of(first[0]),
              static_cast<long>(mail_uid()));
    send_one(rcpt, "two");
    send_one(rcpt, "three");
    std::vector<pid_t> later = children_of(local);
    IT_EXPECT(later.size() == 1 && later[0] == first[0],
              "the next messages were not delivered by the same process (%zu processes)",
              later.size());
    std::string box = sandbox().mbox(mail_user());
    for (const char* t : {"body-one\n", "body-two\n", "body-three\n"})
        IT_EXPECT(count_of(box, t) == 1, "%s appears %zu times", t, count_of(box, t));
    bool gone = wait_until([&] { return children_of(local).empty(); }, 10000);
    IT_EXPECT(gone, "the idle delivery process did not exit after local_idle_time");
}

Test(local_process, zero_idle_time_is_a_process_per_batch) {
    start_with({"local_idle_time = 0"});
    send_one(mail_user() + "@localhost", "zero");
    pid_t local = local_pid();
    IT_ASSERT(local > 0, "no tegami-local");
    bool gone = wait_until([&] { return children_of(local).empty(); }, 5000);
    IT_EXPECT(gone, "a delivery process stayed with local_idle_time = 0");
}

Test(local_process, sighup_ends_the_idle_process) {
    start_with({"local_idle_time = 60s"});
    send_one(mail_user() + "@localhost", "before");
    pid_t local = local_pid();
    IT_ASSERT(local > 0 && children_of(local).size() == 1, "no idle delivery process");
    pid_t before = children_of(local)[0];
    IT_ASSERT(kill(sandbox().pid, SIGHUP) == 0, "SIGHUP");
    bool gone = wait_until(
        [&] {
            for (pid_t p : children_of(local))
                if (p == before) return false;
            return true;
        },
        10000);
    IT_EXPECT(gone, "the idle delivery process outlived a reload");
    send_one(mail_user() + "@localhost", "after");
    IT_EXPECT(count_of(sandbox().mbox(mail_user()), "body-after\n") == 1, "after the reload");
}

Test(local_process, a_killed_idle_process_costs_no_mail) {
    start_with({"local_idle_time = 60s"});
    const std::string rcpt = mail_user() + "@localhost";
    send_one(rcpt, "first");
    pid_t local = local_pid();
    IT_ASSERT(local > 0 && children_of(local).size() == 1, "no idle delivery process");
    pid_t idle = children_of(local)[0];
    IT_ASSERT(kill(idle, SIGKILL) == 0, "kill");
    IT_ASSERT(wait_until([&] { return children_of(local).empty(); }, 5000), "not reaped");
    send_one(rcpt, "second");
    std::string log = sandbox().log();
    IT_EXPECT(log.find("status=deferred") == std::string::npos, "a deferral:\n%s", log.c_str());
    IT_EXPECT(count_of(sandbox().mbox(mail_user()), "body-second\n") == 1,
              "the message after the kill was not delivered once");
    std::vector<pid_t> now = children_of(local);
    IT_EXPECT(now.size() == 1 && now[0] != idle, "a new process for the next message");
}

// At local_concurrency = 1 the idle mailbox process gives its slot to a /file target.
Test(local_process, an_idle_process_yields_its_slot) {
    char tmpl[] = "/tmp/tegami-slot-XXXXXX";
    IT_ASSERT(mkdtemp(tmpl) != nullptr, "mkdtemp");
    std::string out = tmpl;
    chmod(out.c_str(), 01777);
    Sandbox& s = sandbox();
    s.aliases = "postmaster: " + mail_user() + "\nfile-tg: " + out + "/file.mbox\n";
    start_with({"local_idle_time = 60s", "local_concurrency = 1"});
    send_one(mail_user() + "@localhost", "mailbox");
    pid_t local = local_pid();
    IT_ASSERT(local > 0 && children_of(local).size() == 1, "no idle delivery process");
    send_one("file-tg@localhost", "file");
    std::string file = read_file(out + "/file.mbox");
    IT_EXPECT(count_of(file, "body-file\n") == 1, "the file target got:\n%s", file.c_str());
    IT_EXPECT(s.log().find("status=deferred") == std::string::npos, "a deferral:\n%s",
              s.log().c_str());
    send_one(mail_user() + "@localhost", "mailbox-again");
    IT_EXPECT(count_of(s.mbox(mail_user()), "body-mailbox-again\n") == 1, "mailbox again");
    if (getenv("TEGAMI_KEEP") == nullptr) run_command({"/bin/rm", "-rf", out}, 10);
}
