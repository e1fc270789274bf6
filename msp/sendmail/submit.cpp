// submit.cpp - see submit.hpp.
//
// PRIVILEGE. The submission path holds the MSP group for three system calls only:
// creating the client-queue file (O_EXCL, 0660, locked), opening the client-queue
// directory (for the fsync) and connecting to the MSP socket. Then it forks:
//   child  - gives the group up at once (drop_msp_group), reads standard input, does all
//            message parsing (message.cpp), writes and fsyncs the file through the
//            descriptor it already has, and speaks SMTP on the connected socket;
//   parent - keeps the group, parses nothing, waits, and removes the file (unlinkat:
//            the directory is group-writable only) when the child reports that smtpd
//            answered 250, i.e. the message is durably in the main queue.
// The child reports on a pipe: 'W' file durable, then 'D' delivered to smtpd (remove),
// 'R' nothing left to send (remove), or 'K' keep for the client-queue runner. A child
// that dies before 'W' leaves no half file behind (the parent removes it).
#include "msp/sendmail/submit.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "lib/core/c_ptr.hpp"
#include "lib/core/log.hpp"
#include "lib/core/queue_id.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/core/write_full.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/mail/address.hpp"
#include "lib/mail/received.hpp"
#include "msp/sendmail/dead_letter.hpp"
#include "msp/sendmail/message.hpp"
#include "msp/sendmail/queue_file.hpp"
#include "msp/sendmail/smtp_client.hpp"
#include "msp/sendmail/smtp_relay.hpp"

namespace tegami::msp {

namespace {

UniqueFd connect_msp(const Config& cfg) {
    auto r = connect_unix(cfg.msp_socket);
    if (!r) return UniqueFd();
    UniqueFd fd = std::move(r.value());
    int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

bool write_all_fd(int fd, std::string_view s) {
    return write_full(fd, s) == 0;
}

// Replaces the contents of a client-queue file (through the submitter's or the
// runner's locked descriptor) with m. Written over the old contents, then cut to
// length and flushed: a crash in between leaves a file the runner finds malformed and
// sets aside (bf...), never one that sends the message twice.
bool rewrite_queue_file(int fd, const QueuedMessage& m) {
    std::string data = encode_queue_file_head(m);
    data += m.message;
    data += '\n';
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::pwrite(fd, data.data() + off, data.size() - off, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return ::ftruncate(fd, static_cast<off_t>(data.size())) == 0 && ::fsync(fd) == 0;
}

// m for the given recipients only.
QueuedMessage waiting_part(const QueuedMessage& m, const std::vector<std::string>& recipients) {
    QueuedMessage rest = m;
    rest.recipients = recipients;
    return rest;
}

void report(int fd, char what) {
    if (fd >= 0) (void)write_all_fd(fd, std::string_view(&what, 1));
}

// Reads standard input to its end (or the lone dot) through the normalizer.
bool read_message(bool ignore_dots, std::string& out, bool& eight_bit) {
    Normalizer n(ignore_dots);
    char buf[65536];
    while (!n.done()) {
        ssize_t got = ::read(0, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return false;
        if (got == 0) break;
        n.feed(std::string_view(buf, static_cast<size_t>(got)), out);
    }
    n.finish(out);
    eight_bit = n.eight_bit();
    return true;
}

bool valid_recipient(const std::string& a) {
    std::string path = "<" + a + ">";
    size_t used = 0;
    auto r = parse_path(path, PathKind::forward, used);
    return r && used == path.size();
}

bool valid_sender(const std::string& a) {
    std::string path = "<" + a + ">";
    size_t used = 0;
    auto r = parse_path(path, PathKind::reverse, used);
    return r && used == path.size();
}

std::string reply_words(const SmtpReply& r) {
    std::string t = r.text;
    size_t len = 0;
    if (t.size() > 5 && t[0] >= '2' && t[0] <= '5' && t[1] == '.') {
        len = t.find(' ');
        if (len != std::string::npos) t.erase(0, len + 1);
    }
    for (char& c : t)
        if (c == '\n') c = ' ';
    return t.empty() ? "Service unavailable" : t;
}

// Whether addr is the caller's own: its login at the host name or a local domain (as
// sendmail finds that -f names the real user, so no X-Authentication-Warning).
bool own_address(std::string_view addr, const Caller& c, const Config& cfg) {
    size_t at = addr.rfind('@');
    if (at == std::string_view::npos || !iequals(addr.substr(0, at), c.login)) return false;
    std::string_view domain = addr.substr(at + 1);
    if (iequals(domain, cfg.hostname)) return true;
    for (const auto& d : cfg.local_domains)
        if (iequals(d, domain)) return true;
    return false;
}

std::string message_id(const std::string& hostname) {
    time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    return "<" + std::string(stamp) + "." + new_queue_id() + "@" + hostname + ">";
}

// A plain-text report of recipients refused for good, sent back to the sender.
QueuedMessage bounce_for(const Config& cfg, const QueuedMessage& m,
                         const std::vector<std::pair<std::string, SmtpReply>>& refused) {
    QueuedMessage b;
    b.sender = "";
    b.recipients = {m.sender};
    std::string body;
    body += "Date: " + rfc5322_date_now() + "\r\n";
    body += "From: Mail Delivery Subsystem <MAILER-DAEMON@" + cfg.hostname + ">\r\n";
    body += "To: <" + m.sender + ">\r\n";
    body += "Subject: Returned mail: see transcript for details\r\n";
    body += "Message-Id: " + message_id(cfg.hostname) + "\r\n";
    body += "Auto-Submitted: auto-replied\r\n\r\n";
    body += "The message you sent could not be delivered to these recipients:\r\n\r\n";
    for (const auto& [addr, r] : refused)
        body += "<" + addr + ">: " + std::to_string(r.code) + " " + reply_words(r) + "\r\n";
    body += "\r\n----- The headers of your message follow -----\r\n\r\n";
    size_t end = m.message.find("\r\n\r\n");
    body += m.message.substr(0, end == std::string::npos ? m.message.size() : end + 2);
    b.message = std::move(body);
    return b;
}

void print_refusals(const std::vector<std::pair<std::string, SmtpReply>>& refused) {
    for (const auto& [addr, r] : refused)
        std::fprintf(stderr, "%s... %s\n", addr.c_str(),
                     r.text.substr(0, 5) == "5.1.1" ? "User unknown" : reply_words(r).c_str());
}

int worst_exit(const std::vector<std::pair<std::string, SmtpReply>>& refused) {
    int worst = 0;
    for (const auto& [addr, r] : refused) {
        int e = exit_for_reply(r);
        if (worst == 0 || e == EX_NOUSER) worst = e;
    }
    return worst;
}

struct Child;
bool dead_letter(const Child& k, const QueuedMessage& m);
int report_refusals(const Child& k, SmtpClient& c, const QueuedMessage& m,
                    const std::vector<std::pair<std::string, SmtpReply>>& refused, int status);

struct Child {
    const Options& o;
    const Config& cfg;
    const Caller& caller;
    int qfd;
    int dirfd;
    int sock;
    int report_fd;
};

// Saves the message in the submitter's dead.letter; when that fails too, asks the
// parent to keep the client-queue file as a "lost" item (Qf..., listed by mailq -Ac
// -qL) rather than lose it.
bool dead_letter(const Child& k, const QueuedMessage& m) {
    auto saved = save_dead_letter(k.caller.uid, m.sender, m.message);
    if (saved) {
        std::printf("%s... Saved message in %s\n", saved->c_str(), saved->c_str());
        std::fflush(stdout);
        return true;
    }
    std::fprintf(stderr, "sendmail: cannot save the message in dead.letter: %s\n",
                 saved.error().message.c_str());
    if (k.qfd >= 0) {
        report(k.report_fd, 'L');
        std::fprintf(stderr, "sendmail: the message is kept in %s as lost (mailq -Ac -qL)\n",
                     k.cfg.client_queue_dir.c_str());
    }
    return false;
}

// Recipients refused for good, as sendmail's ErrorMode says (-oe<x>, observed with
// 8.17): p (default) print them and save the message in dead.letter; q say nothing;
// m and w mail the errors back to the sender; e mail them back and exit 0. A message
// that cannot be mailed back (null sender, or the bounce refused) goes to dead.letter.
int report_refusals(const Child& k, SmtpClient& c, const QueuedMessage& m,
                    const std::vector<std::pair<std::string, SmtpReply>>& refused, int status) {
    if (refused.empty()) return status;
    char mode = k.o.error_mode;
    if (mode == 'q') return status;
    if (mode != 'm' && mode != 'w' && mode != 'e') {
        print_refusals(refused);
        (void)dead_letter(k, m);
        return status;
    }
    bool mailed = false;
    if (!m.sender.empty()) {
        QueuedMessage b = bounce_for(k.cfg, m, refused);
        SendOutcome bo = send_message(c, b);
        mailed = bo.accepted;
    }
    if (!mailed) (void)dead_letter(k, m);
    return mode == 'e' ? 0 : status;
}

int hand_on(const Child& k, const QueuedMessage& m, int status);

// The unprivileged child of the submission path (the group is already given up).
int child_submit(const Child& k) {
    const Options& o = k.o;
    const Config& cfg = k.cfg;
    std::string msg;
    bool eight_bit = false;
    if (!read_message(o.ignore_dots, msg, eight_bit)) {
        std::fprintf(stderr, "sendmail: reading the message: %s\n", std::strerror(errno));
        return EX_IOERR;
    }
    HeaderScan scan = scan_headers(msg);
    std::vector<std::string> rcpts;
    auto add = [&](std::string_view a) {
        std::string q = qualify(a, cfg.hostname);
        if (q.empty()) return;
        for (const auto& have : rcpts)
            if (iequals(have, q)) return;
        rcpts.push_back(std::move(q));
    };
    if (o.read_recipients)
        for (const auto& a : scan.recipients)
            add(a);
    for (const auto& arg : o.recipients)
        for (const auto& a : argument_addresses(arg))
            add(a);
    if (!o.read_recipients && rcpts.empty()) {  // only empty arguments ("$MAILTO" unset)
        std::fprintf(stderr, "Recipient names must be specified\n");
        report(k.report_fd, 'R');
        return EX_USAGE;
    }
    int status = 0;
    std::vector<std::string> good;
    for (auto& r : rcpts) {
        if (valid_recipient(r)) {
            good.push_back(std::move(r));
        } else {
            std::fprintf(stderr, "%s... Invalid recipient address\n", r.c_str());
            status = EX_USAGE;
        }
    }
    if (good.empty()) {
        if (o.read_recipients && status == 0)
            std::fprintf(stderr, "No recipient addresses found in header\n");
        report(k.report_fd, 'R');
        return status;
    }
    QueuedMessage m;
    m.sender = envelope_sender(o, cfg, k.caller);
    if (!m.sender.empty() && !valid_sender(m.sender)) {
        std::fprintf(stderr, "%s... Invalid sender address\n", m.sender.c_str());
        report(k.report_fd, 'R');
        return EX_USAGE;
    }
    m.recipients = std::move(good);
    m.notify = o.notify;
    m.ret = o.ret;
    m.envid = o.envid;
    std::string own = k.caller.login + "@" + cfg.hostname;
    bool other_sender = o.sender_flag && !own_address(m.sender, k.caller, cfg);
    HeaderEdits e;
    e.hostname = cfg.hostname;
    e.from_address = m.sender.empty() ? own : m.sender;
    e.full_name = o.has_full_name ? o.full_name : k.caller.gecos_name;
    e.bare_from = other_sender;
    e.date = rfc5322_date_now();
    e.message_id = message_id(cfg.hostname);
    if (other_sender && !trusted_user(k.caller, cfg))
        e.auth_warning = cfg.hostname + ": " + k.caller.login + " set sender to " +
                         (m.sender.empty() ? "<>" : m.sender) + " using -" + o.sender_flag;
    m.message = edit_headers(msg, scan, e);
    std::string().swap(msg);
    if (eight_bit) m.flags |= kQueueFile8Bit;
    bool utf8 = has_non_ascii(m.sender);
    for (const auto& r : m.recipients)
        utf8 = utf8 || has_non_ascii(r);
    if (utf8) m.flags |= kQueueFileUtf8;

    if (k.qfd >= 0) {
        std::string head = encode_queue_file_head(m);
        if (!write_all_fd(k.qfd, head) || !write_all_fd(k.qfd, m.message) ||
            !write_all_fd(k.qfd, "\n") || ::fsync(k.qfd) != 0 || ::fsync(k.dirfd) != 0) {
            // A full disk, a quota or RLIMIT_FSIZE: the message goes on as when the
            // file could not be created (the parent removes the unfinished file).
            std::fprintf(stderr, "sendmail: cannot write to the client queue %s: %s\n",
                         cfg.client_queue_dir.c_str(), std::strerror(errno));
            (void)::ftruncate(k.qfd, 0);  // give the space back at once
            Child unqueued = k;
            unqueued.qfd = -1;
            return hand_on(unqueued, m, status);
        }
        report(k.report_fd, 'W');
    }
    return hand_on(k, m, status);
}

// The message, prepared and (when k.qfd >= 0) durable in the client queue, goes to
// smtpd, or stays queued, or is saved in dead.letter.
int hand_on(const Child& k, const QueuedMessage& m, int status) {
    const Options& o = k.o;
    const Config& cfg = k.cfg;
    bool queued = k.qfd >= 0;
    auto keep = [&](const char* why) {
        if (!queued) {
            // Neither handed on nor queued (sendmail 8.17 exits EX_OSERR when it
            // cannot create its queue file, observed): nothing is lost, it is saved
            // in dead.letter.
            std::fprintf(stderr,
                         "sendmail: cannot submit: %s, and the client queue %s is not "
                         "writable\n",
                         why, cfg.client_queue_dir.c_str());
            (void)dead_letter(k, m);
            return EX_OSERR;
        }
        if (o.verbose) std::printf("queued in %s: %s\n", cfg.client_queue_dir.c_str(), why);
        report(k.report_fd, 'K');
        return 0;
    };
    if (o.delivery_mode == 'q' || o.delivery_mode == 'd') return keep("queue-only delivery mode");
    if (k.sock < 0) return keep("smtpd is not reachable");
    SmtpClient c(k.sock, o.verbose);
    SmtpReply greet;
    if (!c.open(cfg.hostname, greet)) return keep("smtpd did not greet");
    SendOutcome out = send_message(c, m);
    if (out.temporary && !out.accepted && out.refused.empty())
        return keep("smtpd deferred the message");  // nothing done: the file stays whole
    if (out.temporary && queued && rewrite_queue_file(k.qfd, waiting_part(m, out.deferred))) {
        // Some recipients are done with, the others wait: the file keeps those only.
        if (o.verbose)
            std::printf("queued in %s: smtpd deferred %zu of %zu recipients\n",
                        cfg.client_queue_dir.c_str(), out.deferred.size(), m.recipients.size());
        report(k.report_fd, 'K');
    } else if (out.temporary) {
        for (const auto& a : out.deferred)
            std::fprintf(stderr, "%s... %s\n", a.c_str(), reply_words(out.failure).c_str());
        std::fprintf(stderr, "sendmail: the client queue %s cannot keep the message for them\n",
                     cfg.client_queue_dir.c_str());
        (void)dead_letter(k, m);  // as when nothing could take the message (EX_OSERR)
        status = EX_OSERR;
        report(k.report_fd, 'D');  // the file may be half rewritten: never sent again
    } else {
        report(k.report_fd, out.accepted ? 'D' : 'R');  // nothing left: the file goes
    }
    if (!out.accepted && !out.temporary && out.refused.empty())
        out.refused.emplace_back(m.recipients.front(), out.failure);
    if (!out.refused.empty() && status != EX_OSERR) status = worst_exit(out.refused);
    status = report_refusals(k, c, m, out.refused, status);
    (void)c.command("QUIT");
    return status;
}

// Waits for the child while holding the group; removes the file when told to.
int parent_wait(pid_t pid, int report_fd, int dirfd, const std::string& name) {
    std::string got;
    char buf[16];
    for (;;) {
        ssize_t n = ::read(report_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    bool durable = got.find('W') != std::string::npos;
    bool gone = got.find('D') != std::string::npos || got.find('R') != std::string::npos;
    bool lost = durable && got.find('L') != std::string::npos;
    if (dirfd >= 0 && !name.empty() && lost) {
        std::string kept = lost_queue_file_name(name);
        if (::renameat(dirfd, name.c_str(), dirfd, kept.c_str()) != 0)
            std::fprintf(stderr, "sendmail: keeping %s: %s\n", name.c_str(), std::strerror(errno));
    } else if (dirfd >= 0 && !name.empty() && (gone || !durable)) {
        ::unlinkat(dirfd, name.c_str(), 0);
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return EX_OSERR;
}

bool may_run_queue(const Caller& c, const Config& cfg) {
    if (!c.borrowed_group() || c.root()) return true;
    passwd* pw = getpwnam(cfg.user.c_str());
    return pw && pw->pw_uid == c.uid;
}

}  // namespace

std::string qualify(std::string_view addr, const std::string& hostname) {
    while (!addr.empty() && (addr.front() == ' ' || addr.front() == '\t'))
        addr.remove_prefix(1);
    while (!addr.empty() && (addr.back() == ' ' || addr.back() == '\t'))
        addr.remove_suffix(1);
    if (addr.size() >= 2 && addr.front() == '<' && addr.back() == '>')
        addr = addr.substr(1, addr.size() - 2);
    if (addr.empty()) return {};
    std::string a(addr);
    if (a.find('@') == std::string::npos) a += "@" + hostname;
    return a;
}

std::string envelope_sender(const Options& o, const Config& cfg, const Caller& c) {
    if (!o.sender_flag) return c.login + "@" + cfg.hostname;
    std::string_view s = o.sender;
    if (s == "<>" || s.empty()) return "";
    return qualify(s, cfg.hostname);
}

int submit_message(const Options& o, const Config& cfg, Caller& caller) {
    if (!o.read_recipients && o.recipients.empty()) {
        std::fprintf(stderr, "Recipient names must be specified\n");
        return EX_USAGE;
    }
    // ---- with the MSP group: the file, the directory, the socket
    UniqueFd dirfd(::open(cfg.client_queue_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::string name;
    UniqueFd qfd;
    if (dirfd) {
        name = new_queue_file_name();
        qfd = UniqueFd(::openat(dirfd.get(), name.c_str(),
                                O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660));
        if (qfd) {
            ::fchmod(qfd.get(), 0660);
            ::flock(qfd.get(), LOCK_EX);
        } else {
            name.clear();
        }
    }
    UniqueFd sock;
    if (o.delivery_mode != 'q' && o.delivery_mode != 'd') sock = connect_msp(cfg);
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        std::perror("sendmail: pipe");
        if (qfd) ::unlinkat(dirfd.get(), name.c_str(), 0);
        return EX_OSERR;
    }
    UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        std::perror("sendmail: fork");
        if (qfd) ::unlinkat(dirfd.get(), name.c_str(), 0);
        return EX_OSERR;
    }
    if (pid == 0) {
        // ---- the child: no group from here on
        drop_msp_group(caller);
        rd.reset();
        Child k{o,
                cfg,
                caller,
                qfd ? qfd.get() : -1,
                dirfd ? dirfd.get() : -1,
                sock ? sock.get() : -1,
                wr.get()};
        int rc = child_submit(k);
        std::fflush(stdout);
        std::fflush(stderr);
        _exit(rc);
    }
    // ---- the parent: parses nothing, waits, removes the file when told
    wr.reset();
    sock.reset();
    ::close(0);
    for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP})
        signal(s, SIG_IGN);
    return parent_wait(pid, rd.get(), qfd ? dirfd.get() : -1, name);
}

int run_client_queue(const Options& o, const Config& cfg, Caller& caller) {
    if (!may_run_queue(caller, cfg)) {
        drop_msp_group(caller);
        std::fprintf(stderr, "You do not have permission to process the queue\n");
        return EX_NOPERM;
    }
    UniqueFd dirfd(::open(cfg.client_queue_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd) {
        std::fprintf(stderr, "sendmail: cannot open the client queue %s: %s\n",
                     cfg.client_queue_dir.c_str(), std::strerror(errno));
        return errno == EACCES ? EX_NOPERM : EX_OSFILE;
    }
    DirPtr dir(::fdopendir(::dup(dirfd.get())));
    if (!dir) return EX_OSERR;
    std::vector<std::string> names;
    while (dirent* de = ::readdir(dir.get()))
        if (is_queue_file_name(de->d_name)) names.emplace_back(de->d_name);
    UniqueFd sock;
    std::unique_ptr<SmtpClient> c;
    int sent = 0, kept = 0;
    for (const auto& n : names) {
        UniqueFd fd(::openat(dirfd.get(), n.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) continue;
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // being submitted now
        struct stat st;
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        std::string data(static_cast<size_t>(st.st_size), '\0');
        if (::pread(fd.get(), data.data(), data.size(), 0) != st.st_size) continue;
        auto m = decode_queue_file(data);
        if (!m) {
            // Unlocked and malformed: a crash before the file was complete (never
            // acknowledged to its submitter). Set aside, not deleted.
            std::string bad = "bf" + n.substr(2);
            ::renameat(dirfd.get(), n.c_str(), dirfd.get(), bad.c_str());
            log_warning("%s: %s; moved to %s", n.c_str(), m.error().message.c_str(), bad.c_str());
            continue;
        }
        if (!filters_match(o.filters, n.substr(2), m->sender, m->recipients)) continue;
        if (!c) {
            sock = connect_msp(cfg);
            if (!sock) {
                log_warning("client queue: smtpd is not reachable at %s; %zu messages wait",
                            cfg.msp_socket.c_str(), names.size());
                return 0;
            }
            c = std::make_unique<SmtpClient>(sock.get(), o.verbose);
            SmtpReply g;
            if (!c->open(cfg.hostname, g)) {
                log_warning("client queue: smtpd did not greet (%d)", g.code);
                return 0;
            }
        }
        if (st.st_uid != getuid()) {
            SmtpReply r = c->command("XUID " + std::to_string(st.st_uid));
            if (r.code != 250) {
                log_warning("%s: smtpd refused XUID: %d %s", n.c_str(), r.code, r.text.c_str());
                ++kept;
                if (r.code == 0) break;
                continue;
            }
        }
        SendOutcome out = send_message(*c, m.value());
        bool connection_lost = out.temporary && out.failure.code == 0;
        if (out.temporary && !out.accepted && out.refused.empty()) {
            ++kept;
            log_info("%s: deferred: %d %s", n.c_str(), out.failure.code, out.failure.text.c_str());
            if (connection_lost) break;  // the rest waits too
            continue;
        }
        if (!out.accepted && !out.temporary && out.refused.empty())
            out.refused.emplace_back(m->recipients.front(), out.failure);
        std::vector<std::string> waiting = out.deferred;
        if (!out.refused.empty() && !m->sender.empty()) {
            QueuedMessage b = bounce_for(cfg, m.value(), out.refused);
            SendOutcome bo = send_message(*c, b);
            if (bo.temporary)  // the report could not be queued: those recipients wait too
                for (const auto& r : out.refused)
                    waiting.push_back(r.first);
        }
        if (!waiting.empty()) {  // the file keeps the recipients still waiting, only
            if (!rewrite_queue_file(fd.get(), waiting_part(m.value(), waiting)))
                log_warning("%s: cannot rewrite it for its %zu waiting recipients: %s", n.c_str(),
                            waiting.size(), std::strerror(errno));
            ++kept;
            log_info("%s: %zu recipients wait: %d %s", n.c_str(), waiting.size(), out.failure.code,
                     out.failure.text.c_str());
            if (connection_lost) break;
            continue;
        }
        ::unlinkat(dirfd.get(), n.c_str(), 0);
        ++sent;
        log_info("%s: sent to smtpd (%zu recipients refused)", n.c_str(), out.refused.size());
    }
    if (c) (void)c->command("QUIT");
    if (o.verbose) std::printf("client queue: %d sent, %d kept\n", sent, kept);
    return 0;
}

int smtp_on_stdio(const Options&, const Config& cfg, Caller& caller) {
    // From inetd (sendmail -Am -bs) standard input is a network socket: its client is
    // not a local user, and the local listener (no relay limit) must never serve it.
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (::getpeername(0, reinterpret_cast<sockaddr*>(&peer), &plen) == 0 &&
        (peer.ss_family == AF_INET || peer.ss_family == AF_INET6)) {
        drop_msp_group(caller);
        std::printf(
            "421 4.3.0 %s sendmail -bs does not serve network clients; they are "
            "served on mta_listen\r\n",
            cfg.hostname.c_str());
        std::fflush(stdout);
        return EX_UNAVAILABLE;
    }
    UniqueFd sock = connect_msp(cfg);
    drop_msp_group(caller);
    if (!sock) {
        std::printf("421 4.3.0 %s Service not available: smtpd is not running\r\n",
                    cfg.hostname.c_str());
        return EX_UNAVAILABLE;
    }
    // Relay the dialogue: the client's lines to smtpd (a bare LF becomes CRLF, as
    // sendmail -bs accepts LF-terminated lines), smtpd's replies to standard output.
    // The end of the client's input reaches smtpd (a half close) only once smtpd has
    // answered all it was sent (smtp_relay.hpp).
    pollfd p[2] = {{0, POLLIN, 0}, {sock.get(), POLLIN, 0}};
    bool in_open = true, prev_cr = false, half_closed = false;
    ReplyCounter owed;
    auto close_when_answered = [&] {
        if (in_open || half_closed || !owed.answered()) return;
        ::shutdown(sock.get(), SHUT_WR);
        half_closed = true;
    };
    char buf[65536];
    std::string out;
    for (;;) {
        p[0].fd = in_open ? 0 : -1;
        if (::poll(p, 2, 600 * 1000) <= 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
            if (n <= 0) return 0;
            std::string_view got(buf, static_cast<size_t>(n));
            if (!write_all_fd(1, got)) return 0;
            owed.server_sent(got);
            close_when_answered();
        }
        if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = ::read(0, buf, sizeof buf);
            if (n <= 0) {
                in_open = false;
                close_when_answered();
                continue;
            }
            out.clear();
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] == '\n' && !prev_cr) out.push_back('\r');
                out.push_back(buf[i]);
                prev_cr = buf[i] == '\r';
            }
            owed.client_sent(out);
            std::string_view rest = out;
            while (!rest.empty()) {
                ssize_t w = ::send(sock.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) return 0;
                rest.remove_prefix(static_cast<size_t>(w));
            }
        }
    }
}

int verify_addresses(const Options& o, const Config& cfg, Caller& caller) {
    UniqueFd sock = connect_msp(cfg);
    drop_msp_group(caller);
    if (o.recipients.empty()) {
        std::fprintf(stderr, "Recipient names must be specified\n");
        return EX_USAGE;
    }
    int status = 0;
    std::unique_ptr<SmtpClient> c;
    if (sock) {
        c = std::make_unique<SmtpClient>(sock.get(), o.verbose);
        SmtpReply g;
        if (!c->open(cfg.hostname, g) || c->command("MAIL FROM:<>").code != 250) c.reset();
    }
    std::vector<std::string> addresses;
    for (const auto& arg : o.recipients)
        for (auto& a : argument_addresses(arg))
            addresses.push_back(std::move(a));
    for (const auto& a : addresses) {
        std::string q = qualify(a, cfg.hostname);
        if (q.empty() || !valid_recipient(q)) {
            std::printf("%s... Invalid address\n", a.c_str());
            status = EX_USAGE;
            continue;
        }
        if (!c) {
            std::printf("%s... cannot be verified now: smtpd is not reachable\n", q.c_str());
            if (status == 0) status = EX_TEMPFAIL;
            continue;
        }
        SmtpReply r = c->command("RCPT TO:<" + q + ">");
        std::string domain = q.substr(q.rfind('@') + 1);
        bool local = false;
        for (const auto& d : cfg.local_domains)
            if (iequals(d, domain)) local = true;
        if (r.code == 250) {
            if (local)
                std::printf("%s... deliverable: mailer local, user %s\n", q.c_str(),
                            q.substr(0, q.rfind('@')).c_str());
            else
                std::printf("%s... deliverable: mailer relay, host %s, user %s\n", q.c_str(),
                            domain.c_str(), q.c_str());
        } else if (r.permanent()) {
            std::printf("%s... %s\n", q.c_str(),
                        r.text.find("5.1.1") == 0 ? "User unknown" : reply_words(r).c_str());
            int e = exit_for_reply(r);
            if (status == 0 || e == EX_NOUSER) status = e;
        } else {
            std::printf("%s... %s\n", q.c_str(), reply_words(r).c_str());
            if (status == 0) status = EX_TEMPFAIL;
        }
    }
    if (c) (void)c->command("QUIT");
    return status;
}

}  // namespace tegami::msp
