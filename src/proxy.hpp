#pragma once

#include "notify.hpp"
#include "options.hpp"
#include "parent_watch.hpp"
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
// (from PIDFILE; with --no-pidfile, COMMAND itself, then the one process it leaves), forward
// signals, follow rewrites, and end when everything started is gone.
namespace pidshim {

class proxy {
  public:
    proxy(boost::asio::io_context& io, options opts);

    // Runs until the daemon and COMMAND are gone; returns pidshim's exit status.
    int run();

  private:
    // The phases once COMMAND runs, and what each one does with the events it can receive.
    // Every change of phase happens in enter_waiting(), adopt(), stop_given() and end().
    //
    // waiting    No daemon is known: COMMAND is starting it, or the last one exited while
    //            COMMAND still runs (mysqld_safe restarts mysqld). Never with --no-pidfile.
    //   PIDFILE event, or its re-read (50 ms doubling to 1 s)  -> adopt: following/stopping
    //   signal            -> given to COMMAND while it runs; a stop, and any other signal
    //                        once COMMAND is gone, is held for the daemon
    //   COMMAND exited    -> ending, unless what it started may still write PIDFILE
    //   --timeout         -> ending (124); at the end of a successor's window (1 s with
    //                        PIDFILE empty, 3 s when the daemon left on its own and what it
    //                        started runs on), ending with the gone daemon's status
    // following  A daemon is pinned; nothing wakes pidshim but a signal or the daemon's exit.
    //   signal            -> PIDFILE re-read, delivered to the daemon it names; a stop signal
    //                        -> stopping
    //   daemon exited     -> adopt the successor PIDFILE names; else waiting while COMMAND
    //                        runs; else ending with the daemon's status. With --no-pidfile:
    //                        a daemon that exited 0 and left exactly one process of pidshim's
    //                        own is succeeded by it; else ending
    //   a stop's --stop-schedule step due, the daemon still running -> its next signal; the
    //                        schedule ran out -> pidshim exits 124, leaving the daemon
    // upgrading  As following, after --upgrade-signal reached the daemon (the old master):
    //   PIDFILE or PIDFILE.2 names another live descendant -> it is the new master
    //   the new master lived --upgrade-settle -> --retire-signal to the old one; following
    //                        the new one
    //   the new master exited, or none came within --upgrade-timeout -> following the old
    //                        one (abandoned)
    //   a stop signal     -> to the new master (if known), then the old one: stopping
    //   the old master exited -> following the new master if known; else as in following
    // stopping   As following, once a stop signal has reached the daemon. A stop is never
    //            forgotten: every daemon adopted from now on gets it at once, and
    //            --kill-after runs for each process from the moment it got the stop.
    // ending     No daemon will come: leftovers get SIGTERM, then SIGKILL after a grace
    //            period; pidshim exits with final_status_ once it has no child left.
    enum class phase { waiting, following, upgrading, stopping, ending };

    // What PIDFILE says now, and whether it may be trusted: a value, with no effect on the
    // proxy's state (a candidate comes pinned, so that nothing can take its pid meanwhile).
    struct sighting {
        enum class kind { nothing, stale, refused, current, gone, candidate };
        kind what = kind::nothing;
        std::string reason;              // for nothing, stale, refused: in words for the operator
        bool out_of_descriptors = false; // refused for want of a descriptor of pidshim's own
        std::optional<target> pinned;    // for candidate
        pidfile_content content;
    };
    sighting observe();

    // Where a daemon came from, for the line that says pidshim follows it.
    enum class origin { pidfile, command, left_behind, upgrade };

    // Steps, in the order they happen.
    bool enough_descriptors() const;
    void watch_parent();
    bool start_command();
    void leave_working_directory();
    void follow_command();
    void enter_waiting(milliseconds bound, bool successor_window = false);
    // Reads PIDFILE and acts on what it names; true when it names the followed daemon and
    // that daemon was alive just now.
    bool discover();
    void schedule_discovery();
    void act_on(sighting seen);
    void adopt(target pinned, const file_version& version, origin from);
    void on_signal(int signo, bool from_terminal);
    void forward(int received);
    bool deliver(int received, int signo);
    void start_upgrade(int received, int signo);
    void look_for_new_master();
    void schedule_upgrade_look();
    void found_new_master(target pinned, const file_version& version);
    void retire_old_master();
    void abandon_upgrade(const std::string& why);
    void stop_given();
    void next_stop_step(unsigned generation, std::size_t sent);
    void hold(int received, int signo, const std::string& why);
    void arm_retry();
    void on_retry();
    void deliver_held();
    void on_target_exit();
    void after_daemon_gone(const sighting& seen);
    void after_command_daemon_gone();
    void on_children_changed();
    void on_command_exit();
    void on_timeout();
    void end(int exit_code, std::string_view why);
    void signal_leftovers();
    void on_grace_expired();
    void finish(int exit_code);

    // Helpers.
    void watch_target_exit();
    void reap();
    void refuse(const std::string& reason);
    bool child_running() const { return child_pid_ > 0 && !child_status_; }
    bool no_pidfile() const { return opts_.pidfile.empty(); }
    int mapped(int status) const { return opts_.exits[status]; }
    std::string pidfile_says() const;
    bool child_still_running();
    void notify(const std::string& message);
    std::string waiting_reason() const;
    int former_status() const;

    boost::asio::io_context& io_;
    options opts_;
    signal_receiver signals_;
    parent_watch parent_;
    pidfile_watch watch_;
    pidfile_reader pidfile_;
    notifier notifier_;
    boost::asio::steady_timer timeout_timer_;
    boost::asio::steady_timer discover_timer_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer kill_daemon_timer_;
    boost::asio::steady_timer grace_timer_;
    boost::asio::steady_timer upgrade_timer_; // --upgrade-timeout, then --upgrade-settle
    boost::asio::steady_timer upgrade_look_timer_;

    phase phase_ = phase::waiting;
    milliseconds discover_delay_{0};
    milliseconds waiting_bound_{0}; // --timeout, or the window a successor has
    bool successor_window_ = false; // waiting only for the gone daemon's successor
    bool retry_armed_ = false;

    pid_t child_pid_ = -1;
    std::optional<int> child_status_;
    bool command_exit_unseen_ = false; // reaped, not yet acted on
    bool no_children_left_ = false;

    std::optional<target> target_;
    std::string target_name_;
    file_version target_version_;      // PIDFILE as it was when it last named the daemon
    std::optional<int> target_status_; // its wait status, once reaped
    // The last daemon that exited, and PIDFILE's version that named it: until rewritten,
    // PIDFILE names a pid that is gone (or reused by another process).
    struct former_daemon {
        pid_t pid;
        file_version version;
        std::string name;
        std::optional<int> status;
    };
    std::optional<former_daemon> former_;
    // During an upgrade: the new master, once PIDFILE (or PIDFILE.2) names it.
    struct new_master {
        target pinned;
        std::string name;
        file_version version;
    };
    std::optional<new_master> new_master_;
    milliseconds upgrade_look_delay_{0};
    bool daemon_seen_ = false;

    struct held_signal {
        int received;
        int signo;
        std::optional<std::chrono::steady_clock::time_point> deadline; // none for a stop
        bool given_to_command = false; // a stop COMMAND got while the daemon was unknown
    };
    std::vector<held_signal> held_;

    // The first stop signal received, kept until pidshim exits.
    struct stop_request {
        int received;
        int signo;
    };
    std::optional<stop_request> stop_;
    // Each adopted daemon is a new generation, so that nothing meant for one daemon (its
    // stop, its --kill-after) reaches another that reused its pid.
    unsigned generation_ = 0;
    unsigned stop_given_to_ = 0; // the generation of the last daemon that got the stop

    // A pidfile left from before pidshim started, until it is rewritten.
    struct stale_pidfile {
        file_version version;
        pid_t pid;
    };
    std::optional<stale_pidfile> stale_;
    std::string last_refusal_;
    pid_t group_warning_pid_ = 0;
    bool ownership_warned_ = false;

    std::vector<pid_t> termed_; // leftovers sent SIGTERM
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
