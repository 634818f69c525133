#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <functional>
#include <string>
#include <sys/signalfd.h>
#include <vector>

// Receives signals as events on the io_context, through a signalfd: the signals are blocked
// and the kernel queues them on a descriptor, so a signal costs one wake-up and one read, and
// no handler interrupts pidshim. (Measured cheaper than asio::signal_set, which costs a signal
// frame, a handler, a pipe write and two pipe reads per signal.) Standard signals coalesce
// while pending, as they always do; real-time signals queue.
namespace pidshim {

class signal_receiver {
  public:
    explicit signal_receiver(const boost::asio::any_io_executor& executor);

    // Blocks SIGNALS and starts receiving them; `received(signo, from_terminal)` is called once
    // per signal taken from the queue; from_terminal is true for a signal the kernel sent on a
    // terminal's behalf (Ctrl-C, Ctrl-Z, a background read), false for one a process sent. A signal
    // about pidshim itself is not passed on: pidshim dies of a fault it raised (or the kernel
    // raised for it), as it would have, and ignores the others it sent itself (SIGXFSZ from its own
    // log). Returns an error message, or "" when receiving.
    std::string start(const std::vector<int>& signals, std::function<void(int, bool)> received);

  private:
    void read();

    boost::asio::posix::stream_descriptor fd_;
    std::function<void(int, bool)> received_;
    pid_t self_ = 0;
    std::array<signalfd_siginfo, 16> batch_{};
};

// Sets or clears signals in the blocked mask through the kernel's call: glibc's
// sigprocmask silently leaves out 32 and 33, which it keeps for its threads.
int block_signals(int how, const sigset_t& set, sigset_t* old);

// Adds SIGNO to SET, 32 and 33 included (glibc's sigaddset refuses them).
void add_signal(sigset_t& set, int signo);

} // namespace pidshim
