#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <optional>
#include <string>
#include <sys/types.h>

// A process pidshim may signal: pinned by a pidfd, so a pid reused between the checks and
// the signal is never hit, and watched through the same pidfd for its exit.
namespace pidshim {

class target {
  public:
    struct pin_result;

    // Pins `pid` if it is alive, is not pidshim, and descends from pidshim; otherwise says
    // why not, in words for the operator.
    static pin_result pin(const boost::asio::any_io_executor& executor, pid_t pid);

    pid_t pid() const { return pid_; }
    bool exited();
    bool leads_group() const;

    // 0, or the errno of pidfd_send_signal / kill.
    int send(int signo);
    int send_to_group(int signo);

    template <typename Handler> void async_wait_exit(Handler&& handler) {
        pidfd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          std::forward<Handler>(handler));
    }

  private:
    target(boost::asio::posix::stream_descriptor pidfd, pid_t pid)
        : pidfd_(std::move(pidfd)), pid_(pid) {}

    boost::asio::posix::stream_descriptor pidfd_;
    pid_t pid_;
};

struct target::pin_result {
    std::optional<target> pinned;
    std::string refusal;
    bool out_of_resources = false; // pidshim cannot watch anything: no use waiting longer
};

} // namespace pidshim
