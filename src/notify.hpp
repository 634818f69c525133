#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/datagram_protocol.hpp>

#include <string_view>

// systemd's readiness protocol: one datagram per state change to $NOTIFY_SOCKET. Spoken
// directly over Boost.Asio's local datagram socket, so pidshim needs no libsystemd.
namespace pidshim {

class notifier {
  public:
    explicit notifier(boost::asio::io_context& io);

    bool enabled() const { return socket_.is_open(); }

    // "READY=1\nSTATUS=..." — does nothing when not run under systemd's Type=notify.
    void send(std::string_view message);

  private:
    boost::asio::local::datagram_protocol::socket socket_;
    boost::asio::local::datagram_protocol::endpoint endpoint_;
};

} // namespace pidshim
