// local_process_test.cpp - the delivery processes of tegami-local in the real suite: the
// process that delivered to a mailbox takes that mailbox's next batch without a new fork
// while local_idle_time runs, runs as the recipient, ends when the time is up, on SIGHUP
// and when another target needs its slot at local_concurrency, a mailbox's batch waits
// local_batch_delay_ms for company unless local holds the queue's whole window, a killed idle
// process costs no mail, and (as root) a recipient whose uid changed is never delivered to by the
// process started as the old one. The processes are read from /proc (tegami-local's
// children).
#include <criterion/criterion.h>
#include <pwd.h>
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

namespace {

// Rewrites user's uid in /etc/passwd: a copy with the field changed, renamed over it.
bool set_uid_in_passwd(const std::string& user, uid_t uid) {
    std::istringstream in(read_file("/etc/passwd"));
    std::string out;
    bool found = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(user + ":", 0) == 0) {
            size_t a = line.find(':', user.size() + 1);  // after the password field
            size_t b = a == std::string::npos ? a : line.find(':', a + 1);
            if (b == std::string::npos) return false;
            line = line.substr(0, a + 1) + std::to_string(uid) + line.substr(b);
            found = true;
        }
        out += line + "\n";
    }
    if (!found) return false;
    write_file("/etc/passwd.tegami-test", out);
    chmod("/etc/passwd.tegami-test", 0644);
    return rename("/etc/passwd.tegami-test", "/etc/passwd") == 0;
}

}  // namespace

// The account changes while its mailbox's process is idle (its uid edited, the mailbox chowned
// as an administrator would): the next message must not go to the process that runs as the
// old uid, which the mailbox no longer belongs to, but to a new one running as the new uid.
Test(local_process, a_changed_uid_gets_a_new_process) {
    if (geteuid() != 0) cr_skip_test("needs root: makes and changes an account");
    const char* user = "tgtest-uid";
    run_command({"/usr/sbin/userdel", user}, 20);
    CommandResult made = run_command(
        {"/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user},
        20);
    IT_ASSERT(made.status == 0, "useradd: %s", made.output.c_str());
    passwd* pw = getpwnam(user);
    IT_ASSERT(pw != nullptr, "no passwd entry for %s", user);
    uid_t old_uid = pw->pw_uid;
    uid_t new_uid = old_uid + 1;
    while (getpwuid(new_uid) != nullptr && new_uid < old_uid + 500)
        ++new_uid;
    IT_ASSERT(getpwuid(new_uid) == nullptr, "no free uid near %ld", static_cast<long>(old_uid));

    start_with({"local_idle_time = 60s"});
    const std::string rcpt = std::string(user) + "@localhost";
    send_one(rcpt, "as-old");
    pid_t local = local_pid();
    IT_ASSERT(local > 0 && children_of(local).size() == 1, "no idle delivery process");
    pid_t old_proc = children_of(local)[0];
    IT_ASSERT(uid_of(old_proc) == static_cast<long>(old_uid), "the idle process runs as %ld",
              uid_of(old_proc));

    // usermod refuses an account with a running process, so the passwd file is edited
    // as vipw does (a new file renamed over it), or as a directory service would change it.
    IT_ASSERT(set_uid_in_passwd(user, new_uid), "could not rewrite /etc/passwd");
    std::string box = sandbox().mbox_path(user);
    IT_ASSERT(chown(box.c_str(), new_uid, static_cast<gid_t>(-1)) == 0, "chown %s", box.c_str());
    usleep(1200 * 1000);  // the passwd file is looked at at most once a second
    send_one(rcpt, "as-new");

    std::string log = sandbox().log();
    IT_EXPECT(log.find("status=deferred") == std::string::npos, "a deferral:\n%s", log.c_str());
    std::string mail = sandbox().mbox(user);
    IT_EXPECT(count_of(mail, "body-as-old\n") == 1 && count_of(mail, "body-as-new\n") == 1,
              "the mailbox holds:\n%s", mail.c_str());
    bool old_gone = wait_until(
        [&] {
            for (pid_t p : children_of(local))
                if (p == old_proc) return false;
            return true;
        },
        5000);
    IT_EXPECT(old_gone, "the process running as the old uid is still there");
    std::vector<pid_t> now = children_of(local);
    IT_EXPECT(now.size() == 1 && uid_of(now[0]) == static_cast<long>(new_uid),
              "%zu delivery processes; want one running as uid %ld", now.size(),
              static_cast<long>(new_uid));
    stop_sandbox();
    run_command({"/usr/sbin/userdel", user}, 20);
}

// local_batch_delay_ms: a lone message for a mailbox waits (here a minute) for company;
// at local_concurrency = 1 the queue sends local at most 2 deliveries at once, so the
// second message completes the window and both go in one batch at once.
Test(local_process, a_batch_gathers_until_the_window_is_full) {
    start_with({"local_batch_delay_ms = 60000", "local_concurrency = 1", "local_idle_time = 0"});
    Sandbox& s = sandbox();
    const std::string rcpt = mail_user() + "@localhost";
    auto queue_one = [&](const std::string& token) {
        SmtpClient c;
        IT_ASSERT(smtp_hello(c, s.port), "EHLO");
        Reply r = smtp_send(c, "sender@example.org", {rcpt},
                            "Subject: " + token + "\r\n\r\nbody-" + token + "\r\n");
        c.cmd("QUIT");
        std::string qid = queued_id(r);
        IT_ASSERT(!qid.empty(), "refused: %s", r.text().c_str());
        return qid;
    };
    std::string first = queue_one("gather-1");
    usleep(700 * 1000);
    IT_EXPECT(s.log().find(first + ": removed") == std::string::npos,
              "a lone message did not wait for company");
    IT_EXPECT(count_of(s.mbox(mail_user()), "body-gather-1\n") == 0, "delivered already");
    std::string second = queue_one("gather-2");
    bool both = wait_until(
        [&] {
            std::string log = s.log();
            return log.find(first + ": removed") != std::string::npos &&
                   log.find(second + ": removed") != std::string::npos;
        },
        20000);
    IT_ASSERT(both, "the full window did not start the batch:\n%s", s.log().c_str());
    std::string box = s.mbox(mail_user());
    IT_EXPECT(count_of(box, "body-gather-1\n") == 1 && count_of(box, "body-gather-2\n") == 1,
              "the mailbox holds:\n%s", box.c_str());
}
