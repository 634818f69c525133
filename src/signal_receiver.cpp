#include "signal_receiver.hpp"

#include "signals.hpp"

#include <boost/asio/buffer.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

namespace pidshim {
namespace {

// The kernel's sigset is 64 bits, the first word of glibc's larger sigset_t.
constexpr std::size_t kernel_sigset_size = 8;

[[noreturn]] void die_of(int signo) {
    (void)std::signal(signo, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    add_signal(set, signo);
    (void)block_signals(SIG_UNBLOCK, set, nullptr);
    (void)::raise(signo);
    // cppcheck-suppress unreachableCode ; raise() returns if the signal is somehow not fatal
    ::_exit(128 + signo);
}

// A signal about pidshim itself rather than a request to pass on: one the kernel raised for
// its own fault (si_code > 0), one pidshim raised (abort(), or SIGXFSZ when a write of its
// own went past RLIMIT_FSIZE, which the kernel sends as from pidshim), and SIGXCPU for its
// own CPU time. The kernel's SIGINT, SIGQUIT or SIGWINCH from a terminal (SI_KERNEL) is a
// request.
bool is_own(const signalfd_siginfo& info, pid_t self) {
    int signo = static_cast<int>(info.ssi_signo);
    if (static_cast<pid_t>(info.ssi_pid) == self && info.ssi_code <= 0) {
        return true;
    }
    if (signo == SIGXCPU && info.ssi_code == SI_KERNEL) {
        return true;
    }
    return is_fault_signal(signo) && info.ssi_code > 0;
}

} // namespace

int block_signals(int how, const sigset_t& set, sigset_t* old) {
    return static_cast<int>(::syscall(SYS_rt_sigprocmask, how, &set, old, kernel_sigset_size));
}

void add_signal(sigset_t& set, int signo) {
    if (sigaddset(&set, signo) != 0) {
        // The bit layout the kernel reads: signal N is bit N-1 of the first word.
        auto* words = reinterpret_cast<unsigned long*>(&set);
        words[0] |= 1UL << (signo - 1);
    }
}

signal_receiver::signal_receiver(const boost::asio::any_io_executor& executor) : fd_(executor) {}

std::string signal_receiver::start(const std::vector<int>& signals,
                                   std::function<void(int, bool)> received) {
    sigset_t set;
    sigemptyset(&set);
    for (int signo : signals) {
        add_signal(set, signo);
    }
    // Blocked first: a signal that arrives from here on waits in the queue for the read.
    if (block_signals(SIG_BLOCK, set, nullptr) != 0) {
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
    self_ = ::getpid(); // once: glibc does not cache it, and a signal would ask each time
    received_ = std::move(received);
    read();
    return {};
}

void signal_receiver::read() {
    // A read, not a wait for readiness: Asio then keeps the descriptor registered with epoll
    // as it is, and a signal costs the wake-up and this one read.
    fd_.async_read_some(boost::asio::buffer(batch_), [this](const boost::system::error_code& ec,
                                                            std::size_t bytes) {
        if (ec) {
            return;
        }
        for (std::size_t i = 0; i < bytes / sizeof(signalfd_siginfo); ++i) {
            const auto& info = batch_[i];
            int signo = static_cast<int>(info.ssi_signo);
            if (is_own(info, self_)) {
                if (is_fault_signal(signo)) {
                    die_of(signo);
                }
                continue; // about pidshim itself (SIGXFSZ from its own log): not the daemon's
            }
            received_(signo, info.ssi_code == SI_KERNEL);
        }
        read();
    });
}

} // namespace pidshim
