#include "notify.hpp"

#include "log.hpp"

#include <boost/asio/buffer.hpp>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace pidshim {

notifier::notifier(boost::asio::io_context& io) : socket_(io) {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) {
        return;
    }
    std::string address = value;
    // The daemon must not talk to systemd in pidshim's name, nor be handed an address that
    // pidshim itself found unusable.
    ::unsetenv("NOTIFY_SOCKET");
    if (address.empty()) {
        return;
    }
    const std::string shown = "NOTIFY_SOCKET '" + log::printable(address) + "'";
    if (address[0] != '/' && address[0] != '@') {
        // sd_notify(3) also knows vsock: addresses; pidshim speaks only AF_UNIX.
        log::warning(shown + " is not supported (only a /path or an @abstract name); not "
                             "notifying");
        return;
    }
    if (address.size() >= sizeof(sockaddr_un{}.sun_path)) {
        log::warning(shown + " is longer than a socket path can be; not notifying");
        return;
    }
    if (address[0] == '@') {
        address[0] = '\0'; // an abstract socket
    }
    endpoint_ = boost::asio::local::datagram_protocol::endpoint(address);
    // Opened here rather than by Asio, which does not ask for close-on-exec: COMMAND must not
    // inherit pidshim's line to systemd.
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    boost::system::error_code ec;
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
    } else {
        socket_.assign(boost::asio::local::datagram_protocol(), fd, ec);
        if (ec) {
            ::close(fd);
        }
    }
    if (ec) {
        log::warning("cannot open " + shown + ": " + ec.message());
    }
}

void notifier::send(std::string_view message) {
    if (!socket_.is_open()) {
        return;
    }
    boost::system::error_code ec;
    socket_.send_to(boost::asio::buffer(message.data(), message.size()), endpoint_, 0, ec);
    if (ec) {
        log::warning("cannot notify systemd (" + ec.message() + ")");
    }
}

} // namespace pidshim
