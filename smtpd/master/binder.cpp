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

Result<std::vector<BoundSocket>> bind_all(const Config& cfg,
                                          const std::map<std::string, SocketOwner>& owners) {
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
    for (const auto& [role, path] :
         {std::pair<std::string, std::string>{"queue", queue_socket_path(cfg)},
          std::pair<std::string, std::string>{"local", local_socket_path(cfg)},
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
    return out;
}

}  // namespace tegami::master
