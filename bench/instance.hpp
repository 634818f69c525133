#pragma once

// One wrapper with one probe daemon under it, started for a measurement and torn down
// after it, whatever state it was left in.

#include "system.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pidshim_bench {

enum class daemon_mode { forking, foreground };

// A line of the table: one wrapper, run one way.
struct row {
    std::string label;
    daemon_mode mode = daemon_mode::foreground;
    bool floor = false; // no wrapper: the harness signals and watches the daemon itself
    // The wrapper's argv up to the daemon's command; "{PIDFILE}" is replaced per instance.
    std::vector<std::string> wrapper_argv;
    std::string absent; // why the row is not measured, e.g. not installed
    bool foreground_only = false;
};

struct storm_result {
    unsigned sent = 0;
    unsigned received = 0; // handler runs in the daemon; fewer than sent is the kernel coalescing
    unsigned lost = 0;     // sent signals the daemon never answered (see README)
    std::optional<std::uint64_t> term_to_exit_ns;
    bool daemon_stopped = false;
    std::optional<process_status> wrapper_after;
};

class instance {
  public:
    // Starts the row's wrapper with a fresh probe under it and waits until the probe daemon
    // is ready (handlers installed, pidfile written). error() says what went wrong, if so.
    instance(const row& r, const std::string& probe, const std::string& dir, unsigned serial);
    ~instance();
    instance(const instance&) = delete;
    instance& operator=(const instance&) = delete;

    const std::string& error() const { return error_; }
    const row& spec() const { return row_; }

    // From the harness's execve of the wrapper to the probe's first instruction.
    std::uint64_t start_cost_ns();

    // One signal through the wrapper, waited for: afterwards the wrapper certainly knows the
    // daemon (pidshim in forking mode learns it from the pidfile asynchronously).
    bool warm_up();

    // Waits until the wrapper and the daemon are asleep, then `gap_ns` more, so that every
    // measurement starts from an idle wrapper as a real signal would.
    void settle(std::uint64_t gap_ns);

    std::optional<std::uint64_t> forward(int signo, std::uint64_t timeout_ns);

    struct timed {
        std::uint64_t latency_ns;
        std::optional<std::uint64_t> wrapper_cpu_ns; // none for the floor
    };
    // One forwarded signal, and the CPU time the wrapper spent on it until it slept again.
    std::optional<timed> forward_measured(int signo, std::uint64_t timeout_ns);
    // SIGKILL to the daemon until the wrapper's exit is seen, and the wrapper's CPU time in
    // between (read from its zombie, before it is reaped).
    std::optional<timed> death_notice();
    storm_result storm(unsigned signals);

    // The wrapper's /proc status; nothing for the floor, which has no wrapper.
    std::optional<process_status> wrapper_status() const;

  private:
    pid_t target() const { return row_.floor ? daemon_ : wrapper_; }
    const pidfd& watched() const { return row_.floor ? daemon_fd_ : wrapper_fd_; }
    bool wait_until_ready();
    void wait_asleep();
    std::optional<std::uint64_t> wrapper_cpu() const;

    const row& row_;
    shared_area area_;
    std::string pidfile_;
    pid_t wrapper_ = -1; // what the harness executed: the wrapper, or the probe for the floor
    pid_t daemon_ = -1;
    pidfd wrapper_fd_;
    pidfd daemon_fd_;
    std::string error_;
};

} // namespace pidshim_bench
