#pragma once

#include <array>
#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Signal names and the --signal-map rewrite table.
namespace pidshim {

// Parses "TERM", "SIGTERM", "sigterm" or "15". Returns nothing for anything else.
std::optional<int> parse_signal(std::string_view text);

// "SIGTERM", or "signal 40" for a signal without a name.
std::string signal_name(int signo);

// The signals pidshim catches and forwards: every catchable one but CHLD, which is pidshim's
// own, and PIPE, which would only come from pidshim's own stderr. Signals 32 and 33, which
// glibc keeps for its threads (pidshim has none), and the fault signals (SEGV, BUS, FPE, ILL,
// ABRT, TRAP, SYS) are among them: one sent by another process is a request like any other;
// a fault pidshim itself raises is forced through by the kernel and still ends it.
const std::vector<int>& forwarded_signals();

// A stop signal starts the stop sequence: STOPPING=1, --kill-after.
bool is_stop_signal(int signo);

// A fault signal: pidshim dies of it when it raised it itself.
bool is_fault_signal(int signo);

// Real-time signals (32 and up) queue in the kernel, each instance delivered: pidshim keeps
// every one it holds. Standard signals coalesce while pending.
inline bool is_queued_signal(int signo) {
    return signo >= 32;
}

// A table indexed by signal number: one lookup on the hot path, no allocation.
class signal_map {
  public:
    static constexpr int none = 0;

    signal_map();

    // Adds "FROM:TO[,FROM:TO...]". Returns an error message naming the bad part, or "".
    std::string add(std::string_view spec);

    // The signal to deliver for `received`, or `none` to drop it.
    int operator[](int received) const { return table_[static_cast<std::size_t>(received)]; }

  private:
    std::array<int, NSIG> table_{};
};

} // namespace pidshim
