// mailq.cpp - see mailq.hpp.
#include "msp/sendmail/mailq.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "lib/core/c_ptr.hpp"
#include "lib/core/unique_fd.hpp"
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

std::string printable(std::string_view s) {
    std::string o;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        o += c < 0x20 || c == 0x7f ? '?' : ch;
    }
    return o;
}

std::vector<ListedMessage> read_client_queue(const Config& cfg, int& err) {
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
        if (is_queue_file_name(de->d_name)) names.emplace_back(de->d_name);
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
        if (m.mark != '*') m.reason = "Deferred: waiting for smtpd (client queue)";
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
        std::strftime(date, sizeof date, "%a %b %d %H:%M", &tm);
        std::snprintf(buf, sizeof buf, "%s%c%8llu %.16s ", m.id.c_str(), m.mark,
                      static_cast<unsigned long long>(m.size), date);
        o += buf;
        o += printable(m.sender) + "\n";
        if (!m.reason.empty()) o += "                 (" + printable(m.reason) + ")\n";
        for (const auto& r : m.recipients) {
            o += "\t\t\t\t\t " + printable(r.address) + "\n";
            if (!r.status.empty()) o += "\t\t\t\t\t   (" + printable(r.status) + ")\n";
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
        o += ",\"sender\":" + json_string(m.sender) + ",\"reason\":" + json_string(m.reason);
        o += ",\"recipients\":[";
        for (size_t j = 0; j < m.recipients.size(); ++j) {
            if (j) o += ",";
            o += "{\"address\":" + json_string(m.recipients[j].address) +
                 ",\"status\":" + json_string(m.recipients[j].status) + "}";
        }
        o += "]}";
    }
    o += "]}\n";
    return o;
}

int list_queue(const Options& o, const Config& cfg, Caller& caller) {
    if (o.queue_select != 'c') {
        drop_msp_group(caller);
        std::fprintf(stderr,
                     "mailq: listing the main queue needs the queue's control socket, which "
                     "this build does not have yet; mailq -Ac lists the client queue\n");
        return EX_UNAVAILABLE;
    }
    int err = 0;
    std::vector<ListedMessage> ms = read_client_queue(cfg, err);
    drop_msp_group(caller);
    if (err) {
        std::fprintf(stderr, "mailq: cannot read %s: %s\n", cfg.client_queue_dir.c_str(),
                     std::strerror(err));
        return err == EACCES ? EX_NOPERM : EX_OSFILE;
    }
    std::vector<ListedMessage> shown;
    for (auto& m : ms)
        if (m.hidden || filters_match(o.filters, m.id, m.sender, [&] {
                std::vector<std::string> v;
                for (auto& r : m.recipients)
                    v.push_back(r.address);
                return v;
            }()))
            shown.push_back(std::move(m));
    std::string text = o.json ? format_json(cfg.client_queue_dir, shown)
                              : format_listing(cfg.client_queue_dir, shown);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

int queue_control(const Options&, const Config&, Caller& caller) {
    drop_msp_group(caller);
    std::fprintf(stderr,
                 "sendmail: the queue runs continuously in tegami-queue; asking it for an "
                 "immediate run needs its control socket, which this build does not have "
                 "yet\n");
    return EX_UNAVAILABLE;
}

}  // namespace tegami::msp
