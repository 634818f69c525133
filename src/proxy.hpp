#pragma once

#include "notify.hpp"
#include "options.hpp"
#include "pidfile.hpp"
#include "pidfile_watch.hpp"
#include "signal_receiver.hpp"
#include "target.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

// The lifecycle of DESIGN.md as events on one io_context: start COMMAND, learn the daemon
// from PIDFILE, forward signals, follow rewrites, and end when everything started is gone.
namespace pidshim {

class proxy {
  public:
    proxy(boost::asio::io_context& io, options opts);

    // Runs until the daemon and COMMAND are gone; returns pidshim's exit status.
    int run();

  private:
    // Steps, in the order they happen.
    bool enough_descriptors() const;
    bool start_command();
    void wait_for_target();
    void on_signal(int signo);
    void on_pidfile_changed();
    void on_children_changed();
    void on_target_exit();
    void on_timeout();
    void on_kill_after();
    void finish_when_all_gone();
    void stop_everything(int exit_code, std::string_view why);
    void on_grace_expired();

    // Helpers.
    void forward(int received);
    bool deliver(int received, int signo);
    void hold(int received, int signo, const std::string& why);
    void retry_held();
    void deliver_held();
    std::string refresh_target();
    bool pidfile_unchanged_since_read();
    void adopt(target pinned);
    void watch_target_exit();
    void reap();
    void refuse(const std::string& reason);
    bool child_running() const { return child_pid_ > 0 && !child_status_; }
    bool child_still_running();
    void finish(int exit_code);
    void notify(const std::string& message);

    boost::asio::io_context& io_;
    options opts_;
    signal_receiver signals_;
    pidfile_watch watch_;
    notifier notifier_;
    boost::asio::steady_timer timeout_timer_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer kill_timer_;
    boost::asio::steady_timer grace_timer_;

    pid_t child_pid_ = -1;
    std::optional<int> child_status_;
    std::optional<target> target_;
    bool target_known_ = false;
    pid_t last_target_pid_ = 0;
    std::optional<int> target_status_;
    bool no_children_left_ = false;

    struct held_signal {
        int received;
        int signo;
    };
    std::vector<held_signal> held_;
    unsigned retries_left_ = 0;

    std::optional<file_version> stale_pidfile_;
    // The pidfile as last read, naming the pinned daemon, when a rewrite would show in it.
    std::optional<file_version> settled_version_;
    std::string target_name_;
    std::string last_refusal_;
    pid_t group_warning_pid_ = 0;

    bool ownership_warned_ = false;
    bool stopping_ = false;
    bool ending_ = false;
    int final_status_ = 0;
    std::optional<int> exit_status_;

    // Descriptors kept aside so that pidshim can still stop what it started when a limit on
    // open files is reached.
    class spare_descriptor {
      public:
        explicit spare_descriptor(int fd) : fd_(fd) {}
        spare_descriptor(spare_descriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
        spare_descriptor(const spare_descriptor&) = delete;
        spare_descriptor& operator=(const spare_descriptor&) = delete;
        spare_descriptor& operator=(spare_descriptor&&) = delete;
        ~spare_descriptor() {
            if (fd_ >= 0) {
                ::close(fd_);
            }
        }

      private:
        int fd_;
    };
    std::vector<spare_descriptor> reserve_;
};

} // namespace pidshim
