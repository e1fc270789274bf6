// batch.cpp - see batch.hpp.
#include "deliver/local/batch.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "deliver/local/delivery.hpp"
#include "lib/ipc/fds.hpp"

namespace tegami::local {

namespace {

constexpr std::string_view kMagic = "TGB1";

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_str(std::string& out, std::string_view s) {
    put(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}

struct Reader {
    std::string_view in;
    bool ok = true;
    template <typename T>
    T get() {
        T v{};
        if (in.size() < sizeof v) {
            ok = false;
            return v;
        }
        std::memcpy(&v, in.data(), sizeof v);
        in.remove_prefix(sizeof v);
        return v;
    }
    std::string str() {
        auto n = get<uint32_t>();
        if (!ok || in.size() < n) {
            ok = false;
            return {};
        }
        std::string s(in.substr(0, n));
        in.remove_prefix(n);
        return s;
    }
};

}  // namespace

size_t batch_item_bytes(const BatchItem& item) {
    return 3 * sizeof(uint32_t) + item.sender.size() + item.recipient.size() +
           item.queue_id.size() + 2 * sizeof(uint64_t);
}

std::string encode_batch(unsigned long seq, const std::vector<BatchItem>& items) {
    std::string out(kMagic);
    put(out, static_cast<uint64_t>(seq));
    put(out, static_cast<uint32_t>(items.size()));
    for (const BatchItem& it : items) {
        put_str(out, it.sender);
        put_str(out, it.recipient);
        put_str(out, it.queue_id);
        put(out, it.offset);
        put(out, it.size);
    }
    return out;
}

bool decode_batch(std::string_view data, Batch& out) {
    if (!data.starts_with(kMagic)) return false;
    Reader r{data.substr(kMagic.size())};
    out.seq = static_cast<unsigned long>(r.get<uint64_t>());
    auto n = r.get<uint32_t>();
    if (!r.ok || n == 0 || n > kMaxBatch) return false;
    out.items.clear();
    out.items.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        BatchItem it;
        it.sender = r.str();
        it.recipient = r.str();
        it.queue_id = r.str();
        it.offset = r.get<uint64_t>();
        it.size = r.get<uint64_t>();
        if (!r.ok) return false;
        out.items.push_back(std::move(it));
    }
    return r.in.empty();
}

int send_batch(int sock, const std::string& datagram, const std::vector<int>& fds) {
    if (fds.size() > kMaxBatch) return EINVAL;
    for (;;) {
        ssize_t n = ipc::send_with_fds(sock, datagram.data(), datagram.size(), fds, 0);
        if (n >= 0) return static_cast<size_t>(n) == datagram.size() ? 0 : EMSGSIZE;
        if (errno != EINTR) return errno;
    }
}

Received receive_batch(int sock, Batch& out) {
    if (out.buf.size() != kMaxBatchBytes) out.buf.assign(kMaxBatchBytes, '\0');
    iovec iov{out.buf.data(), out.buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxBatch)];
    static_assert(kMaxBatch <= ipc::kMaxFdsPerSend);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n;
    do {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return Received::end;
    out.fds.clear();
    ipc::collect_fds(msg, out.fds);
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return Received::bad;
    if (!decode_batch(std::string_view(out.buf.data(), static_cast<size_t>(n)), out) ||
        out.fds.size() != out.items.size())
        return Received::bad;
    return Received::batch;
}

}  // namespace tegami::local
