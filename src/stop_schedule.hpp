#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What pidshim does once a stop signal has reached a daemon: start-stop-daemon's --retry
// schedule ("QUIT/20/TERM/10/KILL/5"): a signal, a time to wait for the daemon to exit, the
// next signal, and so on.
namespace pidshim {

struct stop_schedule {
    struct step {
        int signo = 0;                                 // 0: the stop signal received
        std::optional<std::chrono::milliseconds> wait; // none: wait for as long as it takes
    };
    std::vector<step> steps; // empty: the stop signal, then wait for as long as it takes
    std::string text;        // as the operator wrote it, for messages
    bool from_kill_after = false;

    // The signal a stop becomes, or 0 when it is delivered as received.
    int first_signal() const { return steps.empty() ? 0 : steps.front().signo; }
};

// Parses SIG/SECS[/SIG/SECS...], or SECS/SIG/SECS... where the first step is the stop signal
// received. A lone SECS is start-stop-daemon's "received/SECS/KILL/SECS"; "forever" may be
// the last wait. A signal is a name (TERM, SIGTERM) or a number with a dash (-15), since a
// bare number is a time. Returns what is wrong, naming the part, or "" and sets out.
std::string parse_stop_schedule(std::string_view text, stop_schedule& out);

// --kill-after SECS: the stop signal, SECS, then SIGKILL and a wait for as long as it takes.
stop_schedule kill_after_schedule(std::chrono::milliseconds after);

} // namespace pidshim
