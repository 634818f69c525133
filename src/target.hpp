#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <type_traits>

// A process pidshim may signal, and whose exit it waits for.
//
// Where the kernel offers pidfds, the process is pinned by one: a pid reused between the checks
// and the signal is never hit, and the exit is seen through the same pidfd. Where pidfd_open
// fails with ENOSYS or EPERM (kernels before 5.3, seccomp profiles of older container runtimes),
// or a pidfd cannot be registered with epoll, the process is identified by its pid and its start
// time in /proc/PID/stat instead: read before and after the descendant check, and again before
// every signal, which is sent only while that start time still names a live (not zombie)
// process. Its exit is then seen by a look at /proc that backs off from 10 ms to 1 s, or at
// once when the owner calls recheck(). A pid can still be reused in the instant between the
// last check and kill(), which a pidfd rules out and a start time cannot.
namespace pidshim {

class target {
  private:
    struct state {
        state(const boost::asio::any_io_executor& executor, pid_t p) : pid(p), timer(executor) {}

        pid_t pid;
        std::optional<boost::asio::posix::stream_descriptor> pidfd;
        // Without a pidfd: the start time (clock ticks since boot) the process had when pinned.
        unsigned long long start_time = 0;
        bool dead = false;
        boost::asio::steady_timer timer;
        std::chrono::milliseconds next_check{10};
    };

  public:
    struct pin_result;

    // Pins `pid` if it is alive, is not pidshim, and descends from pidshim; otherwise says
    // why not, in words for the operator. Never throws.
    static pin_result pin(const boost::asio::any_io_executor& executor, pid_t pid);

    pid_t pid() const { return state_->pid; }
    bool exited();
    bool leads_group() const;

    // 0, or the errno of pidfd_send_signal / kill (ESRCH once the process is gone).
    int send(int signo);
    int send_to_group(int signo);

    // Calls handler(error_code{}) once the process has exited, or with operation_aborted when
    // this target is destroyed first. Runs through the executor, never inside this call.
    template <typename Handler> void async_wait_exit(Handler&& handler) {
        if (state_->pidfd) {
            state_->pidfd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                      std::forward<Handler>(handler));
            return;
        }
        // std::function needs a copyable handler.
        auto shared = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
        wait_without_pidfd(
            state_, [shared](const boost::system::error_code& ec) mutable { (*shared)(ec); });
    }

    // Without a pidfd: looks at the process now rather than at the next back-off tick. Call it
    // whenever a child of pidshim changed state (SIGCHLD). Does nothing with a pidfd.
    void recheck();

  private:
    using exit_handler = std::function<void(const boost::system::error_code&)>;

    explicit target(std::shared_ptr<state> s) : state_(std::move(s)) {}
    static bool ended(state& s);
    static void wait_without_pidfd(const std::shared_ptr<state>& s, exit_handler handler);

    // Shared only with weak references from pending waits: the address stays put when the
    // target is moved, and a wait that outlives the target sees that it is gone.
    std::shared_ptr<state> state_;
};

struct target::pin_result {
    std::optional<target> pinned;
    std::string refusal;
    bool out_of_resources = false; // pidshim cannot watch anything: no use waiting longer
};

} // namespace pidshim
