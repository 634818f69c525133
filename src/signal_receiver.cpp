#include "signal_receiver.hpp"

#include <boost/asio/buffer.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace pidshim {

signal_receiver::signal_receiver(const boost::asio::any_io_executor& executor) : fd_(executor) {}

std::string signal_receiver::start(const std::vector<int>& signals,
                                   std::function<void(int)> received) {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : signals) {
        sigaddset(&set, signo);
    }
    // Blocked first: a signal that arrives from here on waits in the queue for the read.
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
        return std::string("cannot block signals: ") + std::strerror(errno);
    }
    // The kernel queues a blocked signal even when it is ignored, so inherited dispositions
    // do not matter, except one: an ignored SIGCHLD makes the kernel reap pidshim's children
    // before it can learn their status.
    (void)std::signal(SIGCHLD, SIG_DFL);
    int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return std::string("cannot receive signals (signalfd): ") + std::strerror(errno);
    }
    fd_.assign(fd);
    received_ = std::move(received);
    read();
    return {};
}

void signal_receiver::read() {
    // A read, not a wait for readiness: Asio then keeps the descriptor registered with epoll
    // as it is, and a signal costs the wake-up and this one read.
    fd_.async_read_some(boost::asio::buffer(batch_),
                        [this](const boost::system::error_code& ec, std::size_t bytes) {
                            if (ec) {
                                return;
                            }
                            for (std::size_t i = 0; i < bytes / sizeof(signalfd_siginfo); ++i) {
                                received_(static_cast<int>(batch_[i].ssi_signo));
                            }
                            read();
                        });
}

} // namespace pidshim
