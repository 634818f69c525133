#include "instance.hpp"

#include <csignal>
#include <unistd.h>

namespace pidshim_bench {
namespace {

constexpr std::uint64_t ms = 1000000ULL;
constexpr std::uint64_t start_timeout = 10000 * ms;
// pidshim holds a signal that arrives before it knows the daemon and retries every 100 ms.
constexpr std::uint64_t warm_up_timeout = 10000 * ms;
constexpr int exit_timeout_ms = 15000;
// A storm is over when the daemon has heard nothing for this long.
constexpr std::uint64_t storm_quiet = 300 * ms;
constexpr std::uint64_t storm_limit = 120000 * ms;

} // namespace

instance::instance(const row& r, const std::string& probe, const std::string& dir, unsigned serial)
    : row_(r), area_(dir + "/area." + std::to_string(serial)),
      pidfile_(dir + "/pid." + std::to_string(serial)) {
    area_.reset();
    std::vector<std::string> argv;
    for (const auto& arg : row_.wrapper_argv) {
        argv.push_back(arg == "{PIDFILE}" ? pidfile_ : arg);
    }
    argv.push_back(probe);
    if (row_.mode == daemon_mode::forking) {
        argv.push_back("--fork");
    }
    argv.insert(argv.end(), {"--pidfile", pidfile_, "--area", area_.path()});
    wrapper_ = spawn(argv, area_.get());
    if (wrapper_ < 0) {
        error_ = "cannot start " + argv.front();
        return;
    }
    wrapper_fd_ = pidfd(wrapper_);
    if (!wait_until_ready()) {
        return;
    }
    daemon_ = area_.get().daemon_pid.load(std::memory_order_relaxed);
    daemon_fd_ = pidfd(daemon_);
    if (!daemon_fd_.valid()) {
        error_ = "the probe daemon died at once";
    }
}

bool instance::wait_until_ready() {
    auto& area = area_.get();
    std::uint64_t deadline = now_ns() + start_timeout;
    while (area.ready.load(std::memory_order_acquire) == 0) {
        // A forking launcher exits once the daemon is ready, so look at `ready` again.
        if (wrapper_fd_.wait_exit(0) && area.ready.load(std::memory_order_acquire) == 0) {
            error_ = "exited before the daemon was ready";
            return false;
        }
        std::uint64_t now = now_ns();
        if (now >= deadline) {
            error_ = "the daemon was not ready within 10 s";
            return false;
        }
        futex_wait(area.ready, 0, std::min<std::uint64_t>(deadline - now, 50 * ms));
    }
    return true;
}

instance::~instance() {
    wrapper_fd_.kill(SIGKILL);
    daemon_fd_.kill(SIGKILL);
    wrapper_fd_.wait_exit(exit_timeout_ms);
    daemon_fd_.wait_exit(exit_timeout_ms);
    wrapper_fd_.reap();
    daemon_fd_.reap();
    reap_strays();
    ::unlink(pidfile_.c_str());
    ::unlink((pidfile_ + ".tmp").c_str());
}

std::uint64_t instance::start_cost_ns() {
    auto& area = area_.get();
    return area.start_ns.load(std::memory_order_relaxed) -
           area.exec_ns.load(std::memory_order_relaxed);
}

bool instance::warm_up() {
    return forward(SIGUSR2, warm_up_timeout).has_value();
}

// Polled gently: reading another process's /proc entries while it runs disturbs it.
void instance::wait_asleep() {
    std::uint64_t deadline = now_ns() + 1000 * ms;
    while (now_ns() < deadline) {
        bool asleep = process_state(daemon_) == 'S';
        if (!row_.floor) {
            asleep = asleep && process_state(wrapper_) == 'S';
        }
        if (asleep) {
            return;
        }
        sleep_ns(100000);
    }
}

void instance::settle(std::uint64_t gap_ns) {
    wait_asleep();
    sleep_ns(gap_ns);
}

std::optional<std::uint64_t> instance::wrapper_cpu() const {
    if (row_.floor) {
        return std::nullopt;
    }
    return cpu_time_ns(wrapper_);
}

std::optional<std::uint64_t> instance::forward(int signo, std::uint64_t timeout_ns) {
    auto& area = area_.get();
    std::uint32_t before = area.count[signo].load(std::memory_order_acquire);
    std::uint64_t sent = now_ns();
    ::kill(target(), signo);
    std::uint64_t deadline = sent + timeout_ns;
    while (true) {
        // Read the futex word before the check, so a wake-up in between is not slept through.
        std::uint32_t seen = area.events.load(std::memory_order_acquire);
        if (area.count[signo].load(std::memory_order_acquire) != before) {
            return area.last_ns[signo].load(std::memory_order_relaxed) - sent;
        }
        std::uint64_t now = now_ns();
        if (now >= deadline) {
            return std::nullopt;
        }
        futex_wait(area.events, seen, deadline - now);
    }
}

std::optional<instance::timed> instance::forward_measured(int signo, std::uint64_t timeout_ns) {
    auto cpu_before = wrapper_cpu();
    auto latency = forward(signo, timeout_ns);
    if (!latency) {
        return std::nullopt;
    }
    timed result{*latency, std::nullopt};
    wait_asleep();
    auto cpu_after = wrapper_cpu();
    if (cpu_before && cpu_after) {
        result.wrapper_cpu_ns = *cpu_after - *cpu_before;
    }
    return result;
}

std::optional<instance::timed> instance::death_notice() {
    auto cpu_before = wrapper_cpu();
    std::uint64_t sent = now_ns();
    ::kill(daemon_, SIGKILL);
    if (!watched().wait_exit(exit_timeout_ms)) {
        return std::nullopt;
    }
    timed result{now_ns() - sent, std::nullopt};
    auto cpu_after = wrapper_cpu();
    if (cpu_before && cpu_after) {
        result.wrapper_cpu_ns = *cpu_after - *cpu_before;
    }
    return result;
}

storm_result instance::storm(unsigned signals) {
    auto& area = area_.get();
    constexpr int kinds[2] = {SIGUSR1, SIGUSR2};
    std::uint32_t before[2];
    for (int k = 0; k < 2; ++k) {
        before[k] = area.count[kinds[k]].load(std::memory_order_acquire);
    }
    std::vector<std::uint64_t> sent(signals);
    pid_t to = target();
    for (unsigned i = 0; i < signals; ++i) {
        sent[i] = now_ns();
        ::kill(to, kinds[i % 2]);
    }

    std::uint64_t started = now_ns();
    std::uint32_t events = area.events.load(std::memory_order_acquire);
    std::uint64_t quiet_since = started;
    while (true) {
        sleep_ns(10 * ms);
        std::uint64_t now = now_ns();
        std::uint32_t seen = area.events.load(std::memory_order_acquire);
        if (seen != events) {
            events = seen;
            quiet_since = now;
        }
        bool wrapper_asleep = row_.floor || process_state(wrapper_) == 'S';
        if ((now - quiet_since >= storm_quiet && wrapper_asleep) || now - started > storm_limit) {
            break;
        }
    }

    storm_result result;
    result.sent = signals;
    std::uint64_t last[2];
    bool any[2];
    for (int k = 0; k < 2; ++k) {
        std::uint32_t after = area.count[kinds[k]].load(std::memory_order_acquire);
        result.received += after - before[k];
        any[k] = after != before[k];
        last[k] = area.last_ns[kinds[k]].load(std::memory_order_relaxed);
    }
    for (unsigned i = 0; i < signals; ++i) {
        int k = static_cast<int>(i % 2);
        if (!any[k] || last[k] < sent[i]) {
            ++result.lost;
        }
    }
    result.wrapper_after = wrapper_status();

    std::uint64_t term_sent = now_ns();
    ::kill(to, SIGTERM);
    if (watched().wait_exit(exit_timeout_ms)) {
        result.term_to_exit_ns = now_ns() - term_sent;
    }
    result.daemon_stopped = daemon_fd_.wait_exit(exit_timeout_ms) &&
                            area.count[SIGTERM].load(std::memory_order_acquire) > 0;
    return result;
}

std::optional<process_status> instance::wrapper_status() const {
    if (row_.floor) {
        return std::nullopt;
    }
    return read_status(wrapper_);
}

} // namespace pidshim_bench
