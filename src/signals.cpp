#include "signals.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace pidshim {
namespace {

std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '\'';
    out += text;
    out += '\'';
    return out;
}

} // namespace

std::optional<int> parse_signal(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    if (std::isdigit(static_cast<unsigned char>(text.front())) != 0) {
        int number = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec != std::errc{} || end != text.data() + text.size() || number < 1 || number >= NSIG) {
            return std::nullopt;
        }
        return number;
    }
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string_view bare = upper;
    if (bare.starts_with("SIG")) {
        bare.remove_prefix(3);
    }
    for (int signo = 1; signo < NSIG; ++signo) {
        const char* abbrev = ::sigabbrev_np(signo);
        if (abbrev != nullptr && bare == abbrev) {
            return signo;
        }
    }
    return std::nullopt;
}

std::string signal_name(int signo) {
    const char* abbrev = ::sigabbrev_np(signo);
    if (abbrev == nullptr) {
        return "signal " + std::to_string(signo);
    }
    std::string name = "SIG";
    name += abbrev;
    return name;
}

const std::vector<int>& forwarded_signals() {
    static const std::vector<int> signals = [] {
        std::vector<int> list = {SIGHUP,   SIGINT,    SIGQUIT, SIGALRM, SIGTERM, SIGUSR1,   SIGUSR2,
                                 SIGWINCH, SIGCONT,   SIGTSTP, SIGTTIN, SIGTTOU, SIGURG,    SIGIO,
                                 SIGPWR,   SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGSTKFLT, SIGSEGV,
                                 SIGBUS,   SIGFPE,    SIGILL,  SIGABRT, SIGTRAP, SIGSYS};
        // From 32, not SIGRTMIN: glibc's SIGRTMIN is 34, and 32 and 33 exist all the same.
        for (int rt = 32; rt <= SIGRTMAX; ++rt) {
            list.push_back(rt);
        }
        return list;
    }();
    return signals;
}

bool is_stop_signal(int signo) {
    return signo == SIGTERM || signo == SIGINT || signo == SIGQUIT;
}

bool is_fault_signal(int signo) {
    return signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL ||
           signo == SIGABRT || signo == SIGTRAP || signo == SIGSYS;
}

signal_map::signal_map() {
    for (int signo = 0; signo < NSIG; ++signo) {
        table_[static_cast<std::size_t>(signo)] = signo;
    }
}

std::string signal_map::add(std::string_view spec) {
    while (!spec.empty()) {
        auto comma = spec.find(',');
        std::string_view pair = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);

        auto colon = pair.find(':');
        if (colon == std::string_view::npos) {
            return quoted(pair) + " is not FROM:TO";
        }
        std::string_view from_text = pair.substr(0, colon);
        std::string_view to_text = pair.substr(colon + 1);
        auto from = parse_signal(from_text);
        if (!from) {
            return quoted(from_text) + " is not a signal name or number";
        }
        std::string to_lower(to_text);
        std::transform(to_lower.begin(), to_lower.end(), to_lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (to_lower == "none") {
            table_[static_cast<std::size_t>(*from)] = none;
            continue;
        }
        auto to = parse_signal(to_text);
        if (!to) {
            return quoted(to_text) + " is not a signal name or number (or 'none')";
        }
        table_[static_cast<std::size_t>(*from)] = *to;
    }
    return {};
}

} // namespace pidshim
