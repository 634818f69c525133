#include "notify.hpp"

#include "log.hpp"

#include <boost/asio/buffer.hpp>

#include <cstdlib>
#include <string>

namespace pidshim {

notifier::notifier(boost::asio::io_context& io) : socket_(io) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || (path[0] != '/' && path[0] != '@')) {
        return;
    }
    std::string address = path;
    if (address[0] == '@') {
        address[0] = '\0'; // an abstract socket
    }
    boost::system::error_code ec;
    endpoint_ = boost::asio::local::datagram_protocol::endpoint(address);
    socket_.open(boost::asio::local::datagram_protocol(), ec);
    if (ec) {
        log::warning("cannot open NOTIFY_SOCKET " + std::string(path) + ": " + ec.message());
    }
    // The daemon must not talk to systemd in pidshim's name.
    ::unsetenv("NOTIFY_SOCKET");
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
