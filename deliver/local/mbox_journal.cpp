// mbox_journal.cpp - see mbox_journal.hpp. Runs in the delivery child as the recipient;
// trusts the journal no more than the user it belongs to (it only ever decides about
// that user's own mailbox), and every number in it is checked before use.
#include "deliver/local/mbox_journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace tegami::local {

namespace {

constexpr std::string_view kMagic = "tegami-mbox-journal 1";
constexpr size_t kMaxJournal = 1u << 20;

bool number(std::string_view s, uint64_t& out) {
    if (s.empty() || s.size() > 20) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ')
            ++i;
        size_t start = i;
        while (i < line.size() && line[i] != ' ')
            ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

bool valid_qid(std::string_view q) {
    if (q.empty() || q.size() > 64) return false;
    for (char c : q)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    return true;
}

}  // namespace

bool MboxJournal::delivered(std::string_view qid) const {
    for (const auto& d : done)
        if (d.qid == qid) return true;
    return false;
}

std::optional<MboxJournal> parse_journal(std::string_view text) {
    MboxJournal j;
    size_t pos = 0;
    bool first = true;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) return std::nullopt;  // a cut last line
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (first) {
            if (line != kMagic) return std::nullopt;
            first = false;
            continue;
        }
        auto w = words(line);
        if (w.empty()) return std::nullopt;
        if (w[0] == "inode" && w.size() == 2) {
            if (!number(w[1], j.inode)) return std::nullopt;
        } else if (w[0] == "pending" && w.size() == 4 && !j.pending) {
            MboxJournal::Pending p;
            if (!number(w[1], p.old_size) || !number(w[2], p.new_size) || p.new_size < p.old_size)
                return std::nullopt;
            std::string_view list = w[3];
            size_t i = list == "-" ? list.size() + 1 : 0;
            while (i <= list.size()) {
                size_t comma = list.find(',', i);
                if (comma == std::string_view::npos) comma = list.size();
                std::string_view q = list.substr(i, comma - i);
                if (!valid_qid(q)) return std::nullopt;
                p.qids.emplace_back(q);
                i = comma + 1;
            }
            j.pending = std::move(p);
        } else if (w[0] == "done" && w.size() == 3) {
            MboxJournal::Done d;
            if (!valid_qid(w[1]) || !number(w[2], d.end)) return std::nullopt;
            d.qid.assign(w[1]);
            j.done.push_back(std::move(d));
        } else {
            return std::nullopt;
        }
    }
    if (first) return std::nullopt;
    if (j.done.size() > kMaxDone) j.done.erase(j.done.begin(), j.done.end() - kMaxDone);
    return j;
}

std::string format_journal(const MboxJournal& j) {
    std::string out(kMagic);
    out += "\ninode " + std::to_string(j.inode) + "\n";
    size_t from = j.done.size() > kMaxDone ? j.done.size() - kMaxDone : 0;
    for (size_t i = from; i < j.done.size(); ++i)
        out += "done " + j.done[i].qid + " " + std::to_string(j.done[i].end) + "\n";
    if (j.pending) {
        out += "pending " + std::to_string(j.pending->old_size) + " " +
               std::to_string(j.pending->new_size) + " ";
        for (size_t i = 0; i < j.pending->qids.size(); ++i)
            out += (i ? "," : "") + j.pending->qids[i];
        if (j.pending->qids.empty()) out += "-";
        out += "\n";
    }
    return out;
}

Result<Recovery> recover_mbox(MboxJournal& j, int mbox_fd, uint64_t inode, uint64_t& size) {
    if (j.inode != inode) {
        // Another mailbox file (recreated, or the first delivery): nothing here is about it.
        bool had = j.pending.has_value() || !j.done.empty();
        j = MboxJournal{};
        j.inode = inode;
        return had ? Recovery::foreign : Recovery::none;
    }
    if (!j.pending) return Recovery::none;
    MboxJournal::Pending p = std::move(*j.pending);
    j.pending.reset();
    if (size == p.new_size) {
        for (auto& q : p.qids)
            j.done.push_back({std::move(q), p.new_size});
        return Recovery::completed;
    }
    if (size > p.old_size && size < p.new_size) {
        if (::ftruncate(mbox_fd, static_cast<off_t>(p.old_size)) != 0 || ::fsync(mbox_fd) != 0)
            return sys_error("cutting back a partial mailbox entry", errno, Exit::temp_fail);
        size = p.old_size;
        return Recovery::cut_back;
    }
    // At the old size nothing was written; beyond the new size someone else appended
    // since: leave the mailbox alone.
    return size == p.old_size ? Recovery::untouched : Recovery::foreign;
}

Result<int> open_journal(int dirfd, const std::string& user) {
    std::string name = "." + user + ".tegami";
    int fd =
        ::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) return sys_error("journal " + name, errno, Exit::cant_create);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_nlink != 1) {
        ::close(fd);
        return make_error(Exit::cant_create, "journal " + name + " is not a private file");
    }
    return fd;
}

Result<MboxJournal> read_journal(int fd) {
    std::string text;
    char buf[8192];
    for (off_t off = 0;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("read journal", errno, Exit::temp_fail);
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        off += n;
        if (text.size() > kMaxJournal) break;
    }
    auto j = parse_journal(text);
    return j ? *j : MboxJournal{};
}

Result<void> write_journal(int fd, const MboxJournal& j, bool sync) {
    std::string text = format_journal(j);
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::pwrite(fd, text.data() + off, text.size() - off, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sys_error("write journal", n < 0 ? errno : EIO, Exit::temp_fail);
        off += static_cast<size_t>(n);
    }
    if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0)
        return sys_error("truncate journal", errno, Exit::temp_fail);
    if (sync && ::fdatasync(fd) != 0) return sys_error("sync journal", errno, Exit::temp_fail);
    return {};
}

}  // namespace tegami::local
