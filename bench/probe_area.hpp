#pragma once

// What one probe daemon reports to the benchmark: a small struct in a file that both map
// MAP_SHARED. Wrappers may close inherited descriptors (pidproxy's Python, Boost.Process), so
// the probe is handed a path, not a descriptor.
//
// Every field is a lock-free atomic because the probe writes from signal handlers. `ready`
// and `events` double as futex words (FUTEX_WAIT without FUTEX_PRIVATE_FLAG, since two
// processes share them), so the harness sleeps until the probe has something to say instead
// of spinning on a core the wrapper needs.

#include <atomic>
#include <cstdint>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace pidshim_bench {

inline constexpr int signal_slots = 65; // 1..64 on Linux

struct probe_area {
    std::atomic<std::uint64_t> exec_ns;  // the harness's child, just before execve
    std::atomic<std::uint64_t> start_ns; // the probe's first instruction
    std::atomic<std::int32_t> daemon_pid;
    std::atomic<std::uint32_t> ready;  // 1 once handlers are in place and the pidfile is written
    std::atomic<std::uint32_t> events; // handler runs, of any signal
    std::atomic<std::uint32_t> count[signal_slots];
    std::atomic<std::uint64_t> last_ns[signal_slots]; // when the handler last ran, per signal
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

inline std::uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint32_t* futex_word(std::atomic<std::uint32_t>& word) {
    return reinterpret_cast<std::uint32_t*>(&word);
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) {
    ::syscall(SYS_futex, futex_word(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

// Sleeps while `word` still holds `seen`, at most `timeout_ns`; spurious returns are fine,
// callers re-check.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t seen,
                       std::uint64_t timeout_ns) {
    timespec ts{static_cast<time_t>(timeout_ns / 1000000000ULL),
                static_cast<long>(timeout_ns % 1000000000ULL)};
    ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT, seen, &ts, nullptr, 0);
}

} // namespace pidshim_bench
