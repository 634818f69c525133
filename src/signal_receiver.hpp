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
// no handler interrupts pidshim. Standard signals coalesce while pending, as they always do;
// real-time signals queue.
namespace pidshim {

class signal_receiver {
  public:
    explicit signal_receiver(const boost::asio::any_io_executor& executor);

    // Blocks SIGNALS and starts receiving them; `received` is called once per signal taken
    // from the queue. Returns an error message, or "" when receiving.
    std::string start(const std::vector<int>& signals, std::function<void(int)> received);

  private:
    void read();

    boost::asio::posix::stream_descriptor fd_;
    std::function<void(int)> received_;
    std::array<signalfd_siginfo, 16> batch_{};
};

} // namespace pidshim
