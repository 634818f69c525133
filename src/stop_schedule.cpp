#include "stop_schedule.hpp"

#include "log.hpp"
#include "options.hpp"
#include "signals.hpp"

#include <csignal>

namespace pidshim {
namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    while (true) {
        auto at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return parts;
        }
        text.remove_prefix(at + 1);
    }
}

bool looks_like_time(std::string_view item) {
    return item == "forever" ||
           (!item.empty() && ((item.front() >= '0' && item.front() <= '9') || item.front() == '.'));
}

} // namespace

std::string parse_stop_schedule(std::string_view text, stop_schedule& out) {
    stop_schedule parsed;
    parsed.text = std::string(text);
    auto items = split(text, '/');
    std::size_t i = 0;
    auto read_wait = [&](std::string_view item, std::optional<std::chrono::milliseconds>& wait) {
        if (item == "forever") {
            if (i + 1 != items.size()) {
                return std::string("'forever' can only be the last wait");
            }
            wait.reset();
            return std::string();
        }
        milliseconds ms{};
        std::string problem = parse_seconds(item, ms);
        if (!problem.empty()) {
            return log::quoted(item) + " " + problem;
        }
        wait = ms;
        return std::string();
    };
    if (items.size() == 1 && looks_like_time(items[0])) {
        // start-stop-daemon's shorthand: the signal, SECS, then KILL and SECS again.
        stop_schedule::step first;
        std::string problem = read_wait(items[0], first.wait);
        if (!problem.empty()) {
            return problem;
        }
        parsed.steps = {first, {SIGKILL, first.wait}};
        out = std::move(parsed);
        return {};
    }
    while (i < items.size()) {
        stop_schedule::step step;
        if (!(i == 0 && looks_like_time(items[i]))) {
            std::string_view name = items[i];
            if (!name.empty() && name.front() == '-') {
                name.remove_prefix(1);
            }
            auto signo = parse_signal(name);
            if (name.empty() || !signo) {
                return log::quoted(items[i]) +
                       " is not a signal (a name such as TERM, or a number with a dash: -15)";
            }
            step.signo = *signo;
            ++i;
            if (i == items.size()) {
                return "ends with a signal; give the time to wait after it (SECS or forever)";
            }
        }
        std::string problem = read_wait(items[i], step.wait);
        if (!problem.empty()) {
            return problem;
        }
        ++i;
        parsed.steps.push_back(step);
    }
    out = std::move(parsed);
    return {};
}

stop_schedule kill_after_schedule(std::chrono::milliseconds after) {
    stop_schedule schedule;
    schedule.steps = {{0, after}, {SIGKILL, std::nullopt}};
    schedule.from_kill_after = true;
    return schedule;
}

} // namespace pidshim
