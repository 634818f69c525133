#include "signal_receiver.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/signalfd.h>
#include <unistd.h>

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
    // A disposition inherited as ignored must not stay: an ignored SIGCHLD would make the
    // kernel reap pidshim's children before it could learn their status.
    for (int signo : signals) {
        (void)std::signal(signo, SIG_DFL);
    }
    int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return std::string("cannot receive signals (signalfd): ") + std::strerror(errno);
    }
    fd_.assign(fd);
    received_ = std::move(received);
    wait();
    return {};
}

void signal_receiver::wait() {
    fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                       if (ec) {
                           return;
                       }
                       read_all();
                       wait();
                   });
}

void signal_receiver::read_all() {
    std::array<signalfd_siginfo, 16> batch{};
    while (true) {
        ssize_t n = ::read(fd_.native_handle(), batch.data(), sizeof batch);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        auto count = static_cast<std::size_t>(n) / sizeof(signalfd_siginfo);
        for (std::size_t i = 0; i < count; ++i) {
            received_(static_cast<int>(batch[i].ssi_signo));
        }
        if (count < batch.size()) {
            return; // the queue is empty: reading again would only say EAGAIN
        }
    }
}

} // namespace pidshim
