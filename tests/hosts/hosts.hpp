// Helpers for the host tests: pidshim under a real supervisord, under systemd's interfaces
// (NOTIFY_SOCKET, JOURNAL_STREAM) and as PID 1 of a PID namespace. Built on tests/support.
#pragma once

#include "harness.hpp"

#include <arpa/inet.h>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <map>
#include <netinet/in.h>
#include <regex>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <vector>

namespace hosts {

using namespace harness;

// The repository's config/ directory: the tests run the shipped examples.
inline const std::string config_dir = PIDSHIM_CONFIG_DIR;

// A program run to its end.
struct Run {
    int status;
    std::string out; // stdout, then stderr
};

inline Run run(const Sandbox& box, const std::vector<std::string>& argv,
               Clock::duration timeout = 30s) {
    static int count = 0;
    SpawnOptions o;
    o.name = "run-" + std::to_string(++count);
    Process p(argv, box.dir, o);
    int status = p.wait_exit(timeout);
    return {status, p.out() + p.err()};
}

inline std::string read_config(const std::string& relative) {
    std::string path = config_dir + "/" + relative;
    BOOST_REQUIRE_MESSAGE(std::filesystem::exists(path), "missing " << path);
    return slurp(path);
}

// Replaces every occurrence of from; the test fails if there is none, so that a change to a
// shipped example cannot silently leave part of it untested.
inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    size_t at = text.find(from);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "'" << from << "' not found in: " << text);
    for (; at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

inline std::string lines(std::initializer_list<std::string> items) {
    std::string out;
    for (auto& l : items) {
        out += l + "\n";
    }
    return out;
}

inline std::string first_line_of(const std::string& path) {
    auto all = split_lines(slurp(path));
    return all.empty() ? std::string() : all.front();
}

// The pid a pidfile names once it names a live process.
inline pid_t wait_pidfile(const std::string& path, Clock::duration timeout = prompt) {
    pid_t pid = 0;
    require_eventually(
        [&] {
            auto line = first_line_of(path);
            pid = line.empty() ? 0 : std::atoi(line.c_str());
            return pid > 1 && alive(pid);
        },
        path + " to name a live process", timeout);
    return pid;
}

inline bool is_zombie(pid_t pid) {
    auto st = proc_stat(pid);
    return st && st->state == 'Z';
}

inline std::vector<pid_t> zombies_below(pid_t root) {
    std::vector<pid_t> out;
    for (pid_t p : descendants_of(root)) {
        if (is_zombie(p)) {
            out.push_back(p);
        }
    }
    return out;
}

// pidshim once a child of parent (unshare) has exec'd it.
inline pid_t pidshim_child_of(pid_t parent) {
    auto want = std::filesystem::canonical(pidshim_bin).string();
    pid_t found = -1;
    require_eventually(
        [&] {
            for (pid_t p : children_of(parent)) {
                if (exe_of(p) == want) {
                    found = p;
                    return true;
                }
            }
            return false;
        },
        "pidshim to run as a child of pid " + std::to_string(parent));
    return found;
}

// CPU time (user + system, in clock ticks) a process has used so far.
inline long cpu_ticks(pid_t pid) {
    std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
    auto close = s.rfind(')');
    if (close == std::string::npos) {
        return -1;
    }
    std::istringstream in(s.substr(close + 2));
    std::string field;
    long utime = 0, stime = 0;
    // Fields 3..13 precede utime (14) and stime (15).
    for (int i = 3; i <= 13 && in >> field; ++i) {
    }
    in >> utime >> stime;
    return utime + stime;
}

// ---------------------------------------------------------------------------------------
// systemd's side of NOTIFY_SOCKET

// A datagram socket that receives sd_notify messages, as systemd's does. The address is a
// path, or "@name" for an abstract socket.
class NotifyListener {
  public:
    explicit NotifyListener(std::string address) : address_(std::move(address)) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        BOOST_REQUIRE(fd_ >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        BOOST_REQUIRE(address_.size() < sizeof a.sun_path);
        std::memcpy(a.sun_path, address_.data(), address_.size());
        socklen_t len = offsetof(sockaddr_un, sun_path) + address_.size();
        if (address_[0] == '@') {
            a.sun_path[0] = '\0';
        } else {
            len += 1; // the terminating NUL of a path
        }
        BOOST_REQUIRE_MESSAGE(bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0,
                              "cannot bind " << address_ << ": " << strerror(errno));
    }
    ~NotifyListener() { close(fd_); }
    NotifyListener(const NotifyListener&) = delete;
    NotifyListener& operator=(const NotifyListener&) = delete;

    std::string env() const { return "NOTIFY_SOCKET=" + address_; }

    // The next message, split into its KEY=VALUE lines; nothing if none came in time.
    std::optional<std::vector<std::string>> next(Clock::duration timeout = prompt) {
        pollfd p{fd_, POLLIN, 0};
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
        int r;
        do {
            r = poll(&p, 1, static_cast<int>(ms));
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            return std::nullopt;
        }
        char buf[4096];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        BOOST_REQUIRE(n >= 0);
        return split_lines(std::string(buf, static_cast<size_t>(n)));
    }

    std::vector<std::string> require_next(const std::string& what,
                                          Clock::duration timeout = prompt) {
        auto m = next(timeout);
        BOOST_REQUIRE_MESSAGE(m, "no sd_notify message: expected " << what);
        return *m;
    }

  private:
    std::string address_;
    int fd_ = -1;
};

inline bool has_line(const std::vector<std::string>& message, const std::string& line) {
    return std::find(message.begin(), message.end(), line) != message.end();
}

inline bool has_prefix(const std::vector<std::string>& message, const std::string& prefix) {
    return std::any_of(message.begin(), message.end(),
                       [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
}

inline std::string joined(const std::vector<std::string>& message) {
    std::string out;
    for (auto& l : message) {
        out += (out.empty() ? "" : " | ") + l;
    }
    return "[" + out + "]";
}

// ---------------------------------------------------------------------------------------
// TCP on 127.0.0.1

// Ports below the kernel's ephemeral range (32768-60999), so that no outgoing connection takes
// them, and away from the well-known services.
namespace port {
inline constexpr int supervisord_redis = 23791;
inline constexpr int supervisord_nginx = 23792;
inline constexpr int container_nginx = 23794;
inline constexpr int systemd_nginx = 23795;
inline constexpr int supervisord_mariadb = 23811;
inline constexpr int supervisord_postgresql = 23812;
inline constexpr int supervisord_apache = 23813;
} // namespace port

inline int connect_local(int port_number) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_number));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Sends request and reads until the peer closes (or 5 s pass); empty if nothing listens.
inline std::string exchange(int port_number, const std::string& request) {
    int fd = connect_local(port_number);
    if (fd < 0) {
        return {};
    }
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!write(fd, request.data(), request.size());
    std::string reply;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
        reply.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return reply;
}

inline std::string http_get(int port_number) {
    return exchange(port_number, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
}

inline std::string redis_ping(int port_number) {
    // QUIT makes redis close the connection after the reply.
    return exchange(port_number, "PING\r\nQUIT\r\n");
}

// Holds a port so that a daemon that wants it fails to start.
class PortBlocker {
  public:
    explicit PortBlocker(int port_number) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        BOOST_REQUIRE(fd_ >= 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port_number));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE_MESSAGE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
                              "cannot bind 127.0.0.1:" << port_number << ": " << strerror(errno));
        BOOST_REQUIRE(listen(fd_, 1) == 0);
    }
    ~PortBlocker() { close(fd_); }
    PortBlocker(const PortBlocker&) = delete;
    PortBlocker& operator=(const PortBlocker&) = delete;

  private:
    int fd_ = -1;
};

// ---------------------------------------------------------------------------------------
// nginx, configured to run entirely inside a test directory

inline std::string nginx_conf(const Sandbox& box, int port_number, const std::string& pidfile) {
    return lines({
        "pid " + pidfile + ";",
        "error_log " + box.path("nginx-error.log") + " notice;",
        "worker_processes 2;",
        "events {}",
        "http {",
        "    access_log off;",
        "    client_body_temp_path " + box.path("body") + ";",
        "    proxy_temp_path " + box.path("proxy") + ";",
        "    fastcgi_temp_path " + box.path("fastcgi") + ";",
        "    uwsgi_temp_path " + box.path("uwsgi") + ";",
        "    scgi_temp_path " + box.path("scgi") + ";",
        "    server {",
        "        listen 127.0.0.1:" + std::to_string(port_number) + ";",
        "        location / { return 200 \"hello from nginx\\n\"; }",
        "    }",
        "}",
    });
}

// The live workers of an nginx master, in pid order.
inline std::vector<pid_t> nginx_workers(pid_t master) {
    std::vector<pid_t> out;
    for (pid_t p : children_of(master)) {
        if (alive(p)) {
            out.push_back(p);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace hosts
