// binder.cpp - see binder.hpp. Runs in master before any daemon starts; the only code
// that needs the privilege to bind ports below 1024.
#include "smtpd/master/binder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/conf/listen.hpp"
#include "lib/core/log.hpp"
#include "lib/daemon/daemon.hpp"

namespace tegami::master {

Result<UniqueFd> bind_tcp(const std::string& address) {
    ListenAddress la;
    if (!parse_listen_address(address, la))
        return make_error(Exit::config, "bad listen address " + address);
    sockaddr_storage ss{};
    socklen_t len;
    if (la.ipv6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(la.port);
        inet_pton(AF_INET6, la.host.c_str(), &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(la.port);
        inet_pton(AF_INET, la.host.c_str(), &s4->sin_addr);
        len = sizeof(*s4);
    }
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error("socket " + address, errno);
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (la.ipv6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
        return sys_error("bind " + address, errno, errno == EACCES ? Exit::no_perm : Exit::os_err);
    if (::listen(fd.get(), 1024) != 0) return sys_error("listen " + address, errno);
    return fd;
}

namespace {

// The directory of an MSP-facing socket: root (or the sandbox user) owns it, the MSP
// group may traverse it.
Result<void> prepare_msp_dir(const std::string& socket_path, bool privileged, gid_t msp_gid) {
    std::string dir = socket_path.substr(0, socket_path.rfind('/'));
    if (dir.empty()) return {};
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return sys_error("mkdir " + dir, errno);
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return make_error(Exit::cant_create, dir + " is not a directory");
    if (privileged) {
        gid_t g = msp_gid == static_cast<gid_t>(-1) ? 0 : msp_gid;
        if ((st.st_uid != 0 || st.st_gid != g) && ::chown(dir.c_str(), 0, g) != 0)
            return sys_error("chown " + dir, errno);
        if ((st.st_mode & 07777) != 0750) ::chmod(dir.c_str(), 0750);
    } else if ((st.st_mode & 07777) != 0700) {
        ::chmod(dir.c_str(), 0700);
    }
    return {};
}

}  // namespace

Result<std::vector<BoundSocket>> bind_all(const Config& cfg,
                                          const std::map<std::string, SocketOwner>& owners,
                                          gid_t msp_gid) {
    std::vector<BoundSocket> out;
    for (const auto& [role, list] :
         {std::pair<const char*, const std::vector<std::string>*>{"mta", &cfg.mta_listen},
          {"msa", &cfg.msa_listen},
          {"smtps", &cfg.smtps_listen}}) {
        // Implicit TLS needs a certificate: without one the smtps listeners stay unbound
        // (the default lists them, and a plaintext 465 would be worse than none).
        if (list == &cfg.smtps_listen && !list->empty() && cfg.tls_cert_file.empty()) {
            log_warning("smtps_listen ignored: no tls_cert_file is configured");
            continue;
        }
        for (const auto& a : *list) {
            auto fd = bind_tcp(a);
            if (!fd) return fd.error();
            out.push_back(BoundSocket{role, a, std::move(fd.value())});
        }
    }
    bool privileged = !owners.empty();
    // Each internal socket: owned by the daemon that listens, grouped to the one daemon
    // that connects, 0660 (a sandbox: 0600, everything is one user).
    for (const auto& [role, path] :
         {std::pair<std::string, std::string>{"queue", queue_socket_path(cfg)},
          std::pair<std::string, std::string>{"deliver", local_socket_path(cfg)},
          std::pair<std::string, std::string>{"remote", remote_socket_path(cfg)},
          std::pair<std::string, std::string>{"auth", auth_socket_path(cfg)}}) {
        auto fd = listen_unix(path, 256);
        if (!fd) return fd.error();
        auto own = owners.find(role);
        if (own != owners.end()) {
            if (::chown(path.c_str(), own->second.uid, own->second.gid) != 0)
                return sys_error("chown " + path, errno);
            ::chmod(path.c_str(), 0660);
        } else {
            ::chmod(path.c_str(), 0600);
        }
        out.push_back(BoundSocket{role, path, std::move(fd.value())});
    }
    // The sockets sendmail reaches: group msp_group (the setgid command), mode 0660.
    bool have_msp = !privileged || msp_gid != static_cast<gid_t>(-1);
    for (const auto& [role, path] :
         {std::pair<std::string, std::string>{"local", cfg.msp_socket},
          std::pair<std::string, std::string>{"control", cfg.queue_control_socket}}) {
        if (role == "local" && !have_msp) continue;
        if (auto r = prepare_msp_dir(path, privileged, msp_gid); !r) return r.error();
        auto fd = listen_unix(path, 256);
        if (!fd) return fd.error();
        auto own = owners.find(role);
        if (privileged && own != owners.end()) {
            gid_t g = have_msp ? msp_gid : 0;
            if (::chown(path.c_str(), own->second.uid, g) != 0)
                return sys_error("chown " + path, errno);
            ::chmod(path.c_str(), have_msp ? 0660 : 0600);
        } else {
            ::chmod(path.c_str(), 0600);
        }
        out.push_back(BoundSocket{role, path, std::move(fd.value())});
    }
    return out;
}

}  // namespace tegami::master
