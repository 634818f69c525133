#include "notify.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

// Everything written to stderr while it lives, for the checks on pidshim's warnings.
class captured_stderr {
  public:
    captured_stderr() {
        char tmpl[] = "/tmp/pidshim-stderr.XXXXXX";
        int fd = ::mkstemp(tmpl);
        BOOST_REQUIRE(fd >= 0);
        path_ = tmpl;
        (void)std::fflush(stderr);
        saved_ = ::dup(STDERR_FILENO);
        BOOST_REQUIRE(::dup2(fd, STDERR_FILENO) == STDERR_FILENO);
        ::close(fd);
    }
    ~captured_stderr() {
        restore();
        ::unlink(path_.c_str());
    }
    captured_stderr(const captured_stderr&) = delete;
    captured_stderr& operator=(const captured_stderr&) = delete;

    std::string text() {
        restore();
        std::ifstream in(path_);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    void restore() {
        if (saved_ >= 0) {
            (void)std::fflush(stderr);
            ::dup2(saved_, STDERR_FILENO);
            ::close(saved_);
            saved_ = -1;
        }
    }
    std::string path_;
    int saved_ = -1;
};

std::size_t count_lines(const std::string& text) {
    std::size_t n = 0;
    for (char c : text) {
        n += c == '\n' ? 1 : 0;
    }
    return n;
}

std::set<int> open_descriptors() {
    std::set<int> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    BOOST_REQUIRE(dir != nullptr);
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') {
            fds.insert(std::atoi(entry->d_name));
        }
    }
    fds.erase(::dirfd(dir));
    ::closedir(dir);
    return fds;
}

struct notify_socket_env {
    explicit notify_socket_env(const std::string& value) {
        BOOST_REQUIRE(::setenv("NOTIFY_SOCKET", value.c_str(), 1) == 0);
    }
    ~notify_socket_env() { ::unsetenv("NOTIFY_SOCKET"); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sd_notify)

BOOST_AUTO_TEST_CASE(a_socket_path_too_long_for_sockaddr_un_is_one_warning_not_a_failure) {
    const std::string too_long = "/run/" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
    for (const std::string& value : {too_long, "@" + too_long.substr(1)}) {
        BOOST_TEST_CONTEXT(value) {
            notify_socket_env env(value);
            boost::asio::io_context io;
            captured_stderr err;
            std::optional<pidshim::notifier> notifier;
            BOOST_CHECK_NO_THROW(notifier.emplace(io));
            BOOST_REQUIRE(notifier);
            BOOST_TEST(!notifier->enabled());
            notifier->send("READY=1");
            auto text = err.text();
            BOOST_TEST(count_lines(text) == 1U, text);
            BOOST_TEST(text.find("NOTIFY_SOCKET '" + value +
                                 "' is longer than a socket path can be; not notifying") !=
                           std::string::npos,
                       text);
            // COMMAND gets no address it could not use either.
            BOOST_TEST(std::getenv("NOTIFY_SOCKET") == nullptr);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_longest_path_sockaddr_un_can_hold_is_used) {
    const std::string longest = "/" + std::string(sizeof(sockaddr_un{}.sun_path) - 2, 'x');
    notify_socket_env env(longest);
    boost::asio::io_context io;
    captured_stderr err;
    pidshim::notifier notifier(io);
    BOOST_TEST(notifier.enabled());
    BOOST_TEST(std::getenv("NOTIFY_SOCKET") == nullptr);
    BOOST_TEST(err.text().empty());
}

BOOST_AUTO_TEST_CASE(an_unsupported_address_is_removed_from_the_environment_with_a_warning) {
    for (const char* value : {"vsock:2:1234", "relative/path", "x"}) {
        BOOST_TEST_CONTEXT(value) {
            notify_socket_env env(value);
            boost::asio::io_context io;
            captured_stderr err;
            pidshim::notifier notifier(io);
            BOOST_TEST(!notifier.enabled());
            BOOST_TEST(std::getenv("NOTIFY_SOCKET") == nullptr);
            auto text = err.text();
            BOOST_TEST(count_lines(text) == 1U, text);
            BOOST_TEST(text.find(std::string("NOTIFY_SOCKET '") + value + "' is not supported") !=
                           std::string::npos,
                       text);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_notify_socket_is_close_on_exec_and_reaches_the_listener) {
    char dir[] = "/tmp/pidshim-notify.XXXXXX";
    BOOST_REQUIRE(::mkdtemp(dir) != nullptr);
    std::string address = std::string(dir) + "/notify.sock";
    int listener = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(listener >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, address.c_str(), address.size() + 1);
    BOOST_REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);

    notify_socket_env env(address);
    boost::asio::io_context io;
    auto before = open_descriptors();
    pidshim::notifier notifier(io);
    BOOST_REQUIRE(notifier.enabled());
    auto after = open_descriptors();
    std::set<int> opened;
    for (int fd : after) {
        if (before.count(fd) == 0) {
            opened.insert(fd);
        }
    }
    // The socket, and the event loop's own descriptors if this was their first use.
    int sockets = 0;
    for (int fd : opened) {
        struct stat st {};
        BOOST_REQUIRE(::fstat(fd, &st) == 0);
        sockets += S_ISSOCK(st.st_mode) ? 1 : 0;
        BOOST_TEST_CONTEXT("descriptor " << fd) {
            BOOST_TEST((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        }
    }
    BOOST_TEST(sockets == 1);

    notifier.send("READY=1");
    char buf[64] = {};
    ssize_t n = ::recv(listener, buf, sizeof buf, MSG_DONTWAIT);
    BOOST_TEST(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "READY=1");
    ::close(listener);
    ::unlink(address.c_str());
    ::rmdir(dir);
}

BOOST_AUTO_TEST_SUITE_END()
