// mailq.cpp - see mailq.hpp.
#include "msp/sendmail/mailq.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sys/socket.h>

#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
#include "lib/daemon/daemon.hpp"
#include "lib/ipc/channel.hpp"
#include "lib/ipc/messages.hpp"
#include "msp/sendmail/queue_file.hpp"

namespace tegami::msp {

namespace {

std::string json_string(std::string_view s) {
    std::string o = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            o += '\\';
            o += ch;
        } else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
        } else {
            o += ch;
        }
    }
    return o + "\"";
}

std::string_view bare(std::string_view a) {
    if (a.size() >= 2 && a.front() == '<' && a.back() == '>') return a.substr(1, a.size() - 2);
    return a;
}

std::string printable(std::string_view s) {
    std::string o;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        o += c < 0x20 || c == 0x7f ? '?' : ch;
    }
    return o;
}

std::vector<ListedMessage> read_client_queue(const Config& cfg, bool lost, int& err) {
    std::vector<ListedMessage> out;
    err = 0;
    UniqueFd dirfd(::open(cfg.client_queue_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd) {
        err = errno;
        return out;
    }
    DirPtr dir(::fdopendir(::dup(dirfd.get())));
    if (!dir) {
        err = errno;
        return out;
    }
    std::vector<std::string> names;
    while (dirent* de = ::readdir(dir.get()))
        if (lost ? is_lost_queue_file_name(de->d_name) : is_queue_file_name(de->d_name))
            names.emplace_back(de->d_name);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        ListedMessage m;
        m.id = n.substr(2);
        UniqueFd fd(::openat(dirfd.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        struct stat st;
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
            m.reason = fd ? "not a regular file" : std::strerror(errno);
            m.hidden = true;
            out.push_back(std::move(m));
            continue;
        }
        m.arrival = static_cast<uint64_t>(st.st_mtime);
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0)
            m.mark = '*';
        else
            ::flock(fd.get(), LOCK_UN);
        std::string data(static_cast<size_t>(st.st_size), '\0');
        if (::pread(fd.get(), data.data(), data.size(), 0) != st.st_size) continue;
        auto q = decode_queue_file(data);
        if (!q) {
            m.reason = m.mark == '*' ? "being written" : q.error().message;
            out.push_back(std::move(m));
            continue;
        }
        m.size = q->message.size();
        m.sender = q->sender.empty() ? "<>" : q->sender;
        if (lost)
            m.reason = n[0] == 'Q' ? "Lost: could not be sent, mailed back or saved in dead.letter"
                                   : "Lost: set aside by the client-queue runner";
        else if (m.mark != '*')
            m.reason = "Deferred: waiting for smtpd (client queue)";
        for (const auto& r : q->recipients)
            m.recipients.push_back(ListedRecipient{r, ""});
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace

std::string format_listing(const std::string& queue_name, const std::vector<ListedMessage>& ms) {
    std::string o;
    char buf[512];
    if (ms.empty()) {
        o += queue_name + " is empty\n";
        o += "\t\tTotal requests: 0\n";
        return o;
    }
    std::snprintf(buf, sizeof buf, "\t\t%s (%zu request%s)\n", queue_name.c_str(), ms.size(),
                  ms.size() == 1 ? "" : "s");
    o += buf;
    o += "-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n";
    for (const auto& m : ms) {
        if (m.hidden) {
            o += m.id + " (" + (m.reason.empty() ? "permission denied" : m.reason) + ")\n";
            continue;
        }
        time_t t = static_cast<time_t>(m.arrival);
        std::tm tm{};
        localtime_r(&t, &tm);
        char date[32];
        std::strftime(date, sizeof date, "%a %b %e %H:%M", &tm);  // ctime(3)'s first 16
        std::snprintf(buf, sizeof buf, "%s%c%8llu %.16s ", m.id.c_str(), m.mark,
                      static_cast<unsigned long long>(m.size), date);
        o += buf;
        o += printable(m.sender) + "\n";
        if (!m.reason.empty()) o += "                 (" + printable(m.reason) + ")\n";
        for (const auto& r : m.recipients) {
            o += "\t\t\t\t\t " + printable(r.address) + "\n";
        }
    }
    std::snprintf(buf, sizeof buf, "\t\tTotal requests: %zu\n", ms.size());
    o += buf;
    return o;
}

std::string format_json(const std::string& queue_name, const std::vector<ListedMessage>& ms) {
    std::string o = "{\"queue\":" + json_string(queue_name) + ",\"messages\":[";
    for (size_t i = 0; i < ms.size(); ++i) {
        const auto& m = ms[i];
        if (i) o += ",";
        o += "{\"id\":" + json_string(m.id);
        if (m.hidden) {
            o += ",\"hidden\":true}";
            continue;
        }
        o += ",\"size\":" + std::to_string(m.size) + ",\"arrival\":" + std::to_string(m.arrival);
        o += ",\"active\":" + std::string(m.mark == '*' ? "true" : "false");
        o += ",\"sender\":" + json_string(bare(m.sender)) + ",\"reason\":" + json_string(m.reason);
        o += ",\"recipients\":[";
        for (size_t j = 0; j < m.recipients.size(); ++j) {
            if (j) o += ",";
            o += "{\"address\":" + json_string(bare(m.recipients[j].address)) +
                 ",\"status\":" + json_string(m.recipients[j].status) + "}";
        }
        o += "]}";
    }
    o += "]}\n";
    return o;
}

namespace {

std::vector<std::string> recipient_list(const ListedMessage& m) {
    std::vector<std::string> v;
    for (const auto& r : m.recipients)
        v.push_back(r.address);
    return v;
}

UniqueFd connect_control(const Config& cfg) {
    auto r = connect_unix(cfg.queue_control_socket);
    if (!r) return UniqueFd();
    UniqueFd fd = std::move(r.value());
    int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    timeval tv{30, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// One request, one answer. False (with a message printed) when the queue is unreachable.
bool ask(int fd, const ipc::ControlRequestMsg& req, ipc::ReceivedFrame& answer) {
    if (!ipc::send_frame_blocking(fd, ipc::encode(req))) return false;
    auto r = ipc::recv_frame_blocking(fd);
    if (!r) return false;
    answer = std::move(r.value());
    return true;
}

ListedMessage from_entry(const ipc::ControlEntry& e) {
    ListedMessage m;
    m.id = e.queue_id;
    m.size = e.size;
    m.arrival = e.arrival;
    m.mark = (e.flags & ipc::kControlActive) ? '*' : ' ';
    m.hidden = (e.flags & ipc::kControlHidden) != 0;
    m.sender = "<" + e.sender + ">";
    if (e.flags & ipc::kControlHeld) {
        m.reason = "held: " + e.reason;
        m.held = true;
        m.hold_reason = e.reason;
    }
    for (const auto& r : e.recipients) {
        if (r.state == "sent" || r.state == "failed") continue;
        // sendmail keeps one status line per message (its last delivery error): the
        // first deferred recipient's, shown under the sender line.
        if (r.state == "deferred" && m.reason.empty())
            m.reason = "Deferred: " + r.dsn + (r.text.empty() ? "" : " " + r.text);
        m.recipients.push_back(ListedRecipient{"<" + r.address + ">", r.state, r.next_try,
                                               r.dsn + (r.text.empty() ? "" : " " + r.text)});
    }
    return m;
}

// The main queue as the control socket shows it to this caller.
bool main_queue(const Config& cfg, int fd, std::vector<ListedMessage>& out) {
    ipc::ReceivedFrame f;
    ipc::ControlListMsg list;
    if (!ask(fd, ipc::ControlRequestMsg{ipc::ControlOp::list, {}, ""}, f) ||
        f.type != ipc::MsgType::control_list || !ipc::decode(f.payload, list)) {
        std::fprintf(stderr, "mailq: no answer from the queue at %s\n",
                     cfg.queue_control_socket.c_str());
        return false;
    }
    for (const auto& e : list.entries)
        out.push_back(from_entry(e));
    return true;
}

int unreachable(const Config& cfg) {
    std::fprintf(stderr, "sendmail: the queue is not running (cannot reach %s: %s)\n",
                 cfg.queue_control_socket.c_str(), std::strerror(errno));
    return EX_UNAVAILABLE;
}

}  // namespace

int list_queue(const Options& o, const Config& cfg, Caller& caller) {
    std::vector<ListedMessage> ms;
    std::string name;
    if (o.queue_select == 'c') {
        int err = 0;
        ms = read_client_queue(cfg, o.lost_items, err);
        drop_msp_group(caller);
        if (err) {
            std::fprintf(stderr, "mailq: cannot read %s: %s\n", cfg.client_queue_dir.c_str(),
                         std::strerror(err));
            return err == EACCES ? EX_NOPERM : EX_OSFILE;
        }
        name = cfg.client_queue_dir;
    } else {
        UniqueFd fd = connect_control(cfg);
        drop_msp_group(caller);
        if (!fd) return unreachable(cfg);
        if (!main_queue(cfg, fd.get(), ms)) return EX_UNAVAILABLE;
        name = cfg.queue_dir;
        if (o.lost_items) ms.clear();  // the main queue gives nothing up: it has no lost items
    }
    std::vector<ListedMessage> shown;
    for (auto& m : ms)
        if (m.hidden ? o.filters.empty()
                     : filters_match(o.filters, m.id, m.sender, recipient_list(m), m.held,
                                     m.hold_reason))
            shown.push_back(std::move(m));
    std::string text = o.json ? format_json(name, shown) : format_listing(name, shown);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

int queue_control(const Options& o, const Config& cfg, Caller& caller) {
    UniqueFd fd = connect_control(cfg);
    drop_msp_group(caller);
    if (!fd) return unreachable(cfg);
    ipc::ControlRequestMsg req;
    req.op = ipc::ControlOp::run;
    if (o.quarantine)
        req.op = o.quarantine_reason.empty() ? ipc::ControlOp::release : ipc::ControlOp::hold;
    if (o.delete_ids) req.op = ipc::ControlOp::remove;
    req.reason = o.quarantine_reason;
    if (req.op != ipc::ControlOp::run && o.filters.empty()) {
        std::fprintf(stderr, "sendmail: %s needs -qI, -qR or -qS to say which messages\n",
                     o.delete_ids ? "--delete" : "-Q");
        return EX_USAGE;
    }
    if (!o.filters.empty()) {  // the IDs the filters select, from a listing
        std::vector<ListedMessage> ms;
        if (!main_queue(cfg, fd.get(), ms)) return EX_UNAVAILABLE;
        for (const auto& m : ms)
            if (!m.hidden &&
                filters_match(o.filters, m.id, m.sender, recipient_list(m), m.held, m.hold_reason))
                req.ids.push_back(m.id);
        if (req.ids.empty()) {
            if (o.verbose) std::printf("no message matches\n");
            return 0;
        }
    }
    ipc::ReceivedFrame f;
    ipc::ControlResultMsg res;
    if (!ask(fd.get(), req, f) || f.type != ipc::MsgType::control_result ||
        !ipc::decode(f.payload, res)) {
        std::fprintf(stderr, "sendmail: no answer from the queue at %s\n",
                     cfg.queue_control_socket.c_str());
        return EX_UNAVAILABLE;
    }
    if (res.status != ipc::kStatusOk) {
        std::fprintf(stderr, "%s\n", res.text.c_str());
        return EX_NOPERM;
    }
    const char* what = req.op == ipc::ControlOp::run       ? "due now"
                       : req.op == ipc::ControlOp::hold    ? "held"
                       : req.op == ipc::ControlOp::release ? "released"
                                                           : "deleted";
    if (o.verbose || req.op != ipc::ControlOp::run)
        std::printf("%u message%s %s\n", res.count, res.count == 1 ? "" : "s", what);
    if (!res.text.empty()) {
        std::fprintf(stderr, "sendmail: %s; try again\n", res.text.c_str());
        return EX_TEMPFAIL;
    }
    return 0;
}

std::vector<HostStatus> host_statuses(const std::vector<ListedMessage>& ms, uint64_t now) {
    std::vector<HostStatus> out;
    for (const auto& m : ms) {
        for (const auto& r : m.recipients) {
            if (r.status != "deferred") continue;
            std::string_view a = bare(r.address);
            size_t at = a.rfind('@');
            std::string host(at == std::string_view::npos ? "localhost" : a.substr(at + 1));
            for (char& c : host)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto it = std::find_if(out.begin(), out.end(),
                                   [&](const HostStatus& h) { return h.host == host; });
            if (it == out.end()) it = out.insert(out.end(), HostStatus{host, 0, 0, {}});
            ++it->recipients;
            uint64_t wait = r.next_try > now ? r.next_try - now : 0;
            if (it->recipients == 1 || wait < it->next_try_in) it->next_try_in = wait;
            if (it->result.empty()) it->result = r.result;
        }
    }
    std::sort(out.begin(), out.end(),
              [](const HostStatus& a, const HostStatus& b) { return a.host < b.host; });
    return out;
}

std::string format_host_status(const std::vector<HostStatus>& hs) {
    if (hs.empty()) return {};
    std::string o =
        "-------------- Hostname --------------- Next try in ---------Results---------\n";
    char buf[512];
    for (const auto& h : hs) {
        uint64_t t = h.next_try_in;
        char when[32];
        if (t == 0)
            std::snprintf(when, sizeof when, "now");
        else
            std::snprintf(when, sizeof when, "%02llu:%02llu:%02llu",
                          static_cast<unsigned long long>(t / 3600),
                          static_cast<unsigned long long>(t / 60 % 60),
                          static_cast<unsigned long long>(t % 60));
        std::snprintf(buf, sizeof buf, " %-39s %12s %s (%u recipient%s)\n",
                      printable(h.host).c_str(), when, printable(h.result).c_str(), h.recipients,
                      h.recipients == 1 ? "" : "s");
        o += buf;
    }
    return o;
}

int host_status(const Options& o, const Config& cfg, Caller& caller) {
    UniqueFd fd = connect_control(cfg);
    drop_msp_group(caller);
    if (!fd) return unreachable(cfg);
    std::vector<ListedMessage> ms;
    if (!main_queue(cfg, fd.get(), ms)) return EX_UNAVAILABLE;
    auto hs = host_statuses(ms, static_cast<uint64_t>(std::time(nullptr)));
    std::string text;
    if (o.json) {
        text = "{\"hosts\":[";
        for (size_t i = 0; i < hs.size(); ++i) {
            if (i) text += ",";
            text += "{\"host\":" + json_string(hs[i].host) +
                    ",\"recipients\":" + std::to_string(hs[i].recipients) +
                    ",\"next_try_in\":" + std::to_string(hs[i].next_try_in) +
                    ",\"result\":" + json_string(hs[i].result) + "}";
        }
        text += "]}\n";
    } else {
        text = format_host_status(hs);
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

int purge_host_status(const Options& o, const Config& cfg, Caller& caller) {
    // Tegami keeps no host status of its own: a destination's state is its deferred
    // recipients' retry times. Purging it makes them due, so the queue tries every
    // host again now (what a sendmail queue run does after purgestat).
    Options run = o;
    run.queue_run = true;
    run.quarantine = false;
    run.delete_ids = false;
    run.verbose = true;
    return queue_control(run, cfg, caller);
}

}  // namespace tegami::msp
