#pragma once

#include "exit_map.hpp"
#include "log.hpp"
#include "signals.hpp"
#include "stop_schedule.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

// The command line and the --config file: what the user asked for, validated.
namespace pidshim {

using std::chrono::milliseconds;

struct options {
    std::string pidfile; // "" with --no-pidfile: COMMAND is the daemon
    std::vector<std::string> command;
    // Long enough for a database that replays its journal before it writes its pidfile.
    milliseconds timeout{std::chrono::seconds(300)};
    signal_map map;
    // 100 x 0.1 s: a signal that arrives before the daemon is known is held for 10 s.
    unsigned retry = 100;
    milliseconds retry_interval{100};
    milliseconds kill_after{0};
    // What follows a stop signal: --stop-schedule, or --kill-after's "SECS, then KILL".
    stop_schedule schedule;
    exit_map exits;
    int parent_death = 0; // the signal pidshim acts on when its first parent exits; 0: none
    // A binary upgrade (nginx, gunicorn, unicorn): this signal starts one; 0: none.
    int upgrade_signal = 0;
    // Long enough for a new master to fail on a bad configuration; short enough that old and
    // new masters do not serve side by side for long.
    milliseconds upgrade_settle{2000};
    int retire_signal = SIGQUIT; // nginx's and unicorn's graceful stop
    milliseconds upgrade_timeout{60000};
    bool group = false;
    bool notify_mainpid = false;
    log::level verbosity = log::level::info;
};

struct parse_result {
    enum class action { run, help, version, error };
    action what = action::error;
    options opts;
    std::string error; // one line naming the flag or file, for action::error
};

parse_result parse_options(int argc, const char* const argv[]);

// Parses a number of seconds: decimal digits with an optional point ("5", "0.5", ".25"), no
// sign, no exponent, at most a week. A positive value is rounded up to whole milliseconds,
// never down to 0. Returns what is wrong with text ("has a sign; ..."), or "" and sets out.
std::string parse_seconds(std::string_view text, milliseconds& out);

std::string help_text();

} // namespace pidshim
