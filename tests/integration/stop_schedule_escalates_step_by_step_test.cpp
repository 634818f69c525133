// --stop-schedule SIG/SECS[/SIG/SECS...]: a stop signal that arrives is delivered as the
// schedule's first signal (or as itself, after --signal-map, when the schedule starts with SECS);
// each later step follows only if the daemon still runs SECS after the previous one, and is
// logged. A schedule that runs out with the daemon alive ends pidshim with 124, leaving the
// daemon running. The same holds with a PIDFILE and with --no-pidfile.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <filesystem>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("stop schedule escalates step by step");

namespace {

enum class Mode { pidfile, no_pidfile };

std::ostream& operator<<(std::ostream& o, Mode m) {
    return o << (m == Mode::pidfile ? "PIDFILE" : "--no-pidfile");
}

const Mode modes[] = {Mode::pidfile, Mode::no_pidfile};

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

struct Scheduled : Sandbox {
    // PIDFILE: pidshim OPTIONS app.pid testd --fork --pidfile app.pid ...; --no-pidfile: pidshim
    // OPTIONS --no-pidfile testd --no-pidfile ...; followed either way.
    void start(Mode mode, const std::vector<std::string>& options,
               const std::vector<std::string>& testd_args) {
        std::vector<std::string> argv{pidshim_bin};
        argv.insert(argv.end(), options.begin(), options.end());
        if (mode == Mode::pidfile) {
            argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile});
        } else {
            argv.insert(argv.end(), {"--no-pidfile", testd_bin, "--no-pidfile"});
        }
        argv.insert(argv.end(), {"--log", log});
        argv.insert(argv.end(), testd_args.begin(), testd_args.end());
        shim.emplace(argv, dir);
        daemon = wait_started(log, "daemon");
        if (mode == Mode::pidfile) {
            wait_following(*shim, pidfile, daemon);
        } else {
            wait_for_line(shim->err_path, "pidshim: following pid " + std::to_string(daemon) +
                                              " (testd), COMMAND itself (--no-pidfile)");
        }
    }

    // Sends a stop signal to pidshim; returns when: no step can be due before SECS after that.
    Clock::time_point send(int sig) {
        auto sent = Clock::now();
        shim->signal(sig);
        return sent;
    }

    // Waits until the daemon logged sig, as ignored or not.
    void wait_got(int sig, bool ignored) {
        wait_for_line(log, signal_line_prefix(daemon) + "role=daemon sig=" + signame(sig) +
                               (ignored ? " ignored" : ""));
    }

    // The daemon logs what it has been sent, up to a marker with a higher number than any stop
    // signal, which it takes after them.
    std::vector<std::string> signals_until_marker() {
        BOOST_REQUIRE(kill(daemon, SIGWINCH) == 0);
        wait_for_signal(log, daemon, SIGWINCH);
        auto got = signals_of(log, daemon);
        got.pop_back();
        return got;
    }

    std::string step_line(int secs, int after, int sending, int step, int of) const {
        return "pidshim: pid " + std::to_string(daemon) + " (testd) still running " +
               std::to_string(secs) + "s after SIG" + signame(after) + "; sending SIG" +
               signame(sending) + " (--stop-schedule step " + std::to_string(step) + " of " +
               std::to_string(of) + ")";
    }

    size_t step_lines() const { return lines_with(shim->err(), "--stop-schedule step").size(); }

    void check_step_line(const std::string& expected) {
        auto err = shim->err();
        auto steps = lines_with(err, "--stop-schedule step");
        BOOST_CHECK_MESSAGE(steps == std::vector<std::string>{expected},
                            "expected exactly the step line\n"
                                << expected << dump(shim->err_path));
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t daemon = -1;
};

// A step is due SECS after the daemon got the previous one, which is after the test sent the
// stop: measured from the sending, only the clocks' resolution is to be allowed for.
constexpr auto slack = 10ms;

} // namespace

BOOST_DATA_TEST_CASE_F(Scheduled, daemon_ignoring_term_gets_kill_after_the_step, data::make(modes),
                       mode) {
    start(mode, {"--stop-schedule", "TERM/1/KILL/5"}, {"--ignore", "TERM"});
    auto sent = send(SIGTERM);
    wait_got(SIGTERM, true);
    BOOST_CHECK_EQUAL(shim->wait_exit(1s + prompt), 128 + SIGKILL);
    auto waited = shim->exited_at() - sent;
    BOOST_CHECK_MESSAGE(waited >= 1s - slack, "SIGKILL after only " << seconds(waited) << " s");
    BOOST_CHECK(!alive(daemon));
    check_step_line(step_line(1, SIGTERM, SIGKILL, 2, 2));
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"TERM"}, dump(log));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(shim->err());
}

BOOST_DATA_TEST_CASE_F(Scheduled, daemon_ignoring_quit_gets_term_after_the_step, data::make(modes),
                       mode) {
    start(mode, {"--stop-schedule", "QUIT/1/TERM/5"}, {"--ignore", "QUIT"});
    auto sent = send(SIGTERM);
    wait_got(SIGQUIT, true);
    BOOST_CHECK_EQUAL(shim->wait_exit(1s + prompt), 128 + SIGTERM);
    auto waited = shim->exited_at() - sent;
    BOOST_CHECK_MESSAGE(waited >= 1s - slack, "SIGTERM after only " << seconds(waited) << " s");
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    check_step_line(step_line(1, SIGQUIT, SIGTERM, 2, 2));
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == (std::vector<std::string>{"QUIT", "TERM"}),
                        dump(log));
    check_stderr_format(shim->err());
}

BOOST_DATA_TEST_CASE_F(Scheduled, daemon_that_stops_at_once_gets_no_second_step, data::make(modes),
                       mode) {
    start(mode, {"--stop-schedule", "TERM/5/KILL/5"}, {"--stop-exit-code", "3"});
    auto sent = send(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 3);
    auto waited = shim->exited_at() - sent;
    BOOST_CHECK_MESSAGE(waited < 4s, "pidshim took " << seconds(waited) << " s");
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon code=3");
    BOOST_CHECK_EQUAL(step_lines(), 0u);
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"TERM"}, dump(log));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(shim->err());
}

BOOST_DATA_TEST_CASE_F(Scheduled, schedule_running_out_exits_124_and_leaves_the_daemon,
                       data::make(modes), mode) {
    start(mode, {"--stop-schedule", "TERM/0.5"}, {"--ignore", "TERM"});
    auto sent = send(SIGTERM);
    wait_got(SIGTERM, true);
    BOOST_CHECK_EQUAL(shim->wait_exit(500ms + prompt), 124);
    auto waited = shim->exited_at() - sent;
    BOOST_CHECK_MESSAGE(waited >= 500ms - slack, "gave up after " << seconds(waited) << " s");
    BOOST_CHECK_MESSAGE(alive(daemon), "the daemon was not left running");
    auto expected = "pidshim: pid " + std::to_string(daemon) +
                    " (testd) still running after the stop schedule TERM/0.5 ran out; exiting "
                    "124 and leaving it running";
    BOOST_CHECK_MESSAGE(contains(shim->err(), expected + "\n"), "no line\n"
                                                                    << expected
                                                                    << dump(shim->err_path));
    BOOST_CHECK_EQUAL(step_lines(), 0u);
    // Left running means left alone: no signal beyond the schedule's, except that COMMAND (the
    // daemon itself with --no-pidfile) gets its parent-death SIGTERM as pidshim exits, as it
    // would if pidshim were killed.
    auto expected_signals = mode == Mode::pidfile ? std::vector<std::string>{"TERM"}
                                                  : std::vector<std::string>{"TERM", "TERM"};
    BOOST_CHECK_MESSAGE(signals_until_marker() == expected_signals, dump(log));
    check_stderr_format(shim->err());
}

// A schedule that starts with SECS begins with the stop signal received: here INT.
BOOST_DATA_TEST_CASE_F(Scheduled, schedule_starting_with_secs_sends_the_received_signal_first,
                       data::make(modes), mode) {
    start(mode, {"--stop-schedule", "1/KILL/5"}, {"--ignore", "INT"});
    auto sent = send(SIGINT);
    wait_got(SIGINT, true);
    BOOST_CHECK_EQUAL(shim->wait_exit(1s + prompt), 128 + SIGKILL);
    auto waited = shim->exited_at() - sent;
    BOOST_CHECK_MESSAGE(waited >= 1s - slack, "SIGKILL after only " << seconds(waited) << " s");
    check_step_line(step_line(1, SIGINT, SIGKILL, 2, 2));
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"INT"}, dump(log));
    check_stderr_format(shim->err());
}

// ... after --signal-map: TERM arrives, QUIT is the first step.
BOOST_DATA_TEST_CASE_F(Scheduled, schedule_starting_with_secs_sends_the_mapped_signal_first,
                       data::make(modes), mode) {
    start(mode, {"--signal-map", "TERM:QUIT", "--stop-schedule", "1/KILL/5"}, {"--ignore", "QUIT"});
    shim->signal(SIGTERM);
    wait_got(SIGQUIT, true);
    BOOST_CHECK_EQUAL(shim->wait_exit(1s + prompt), 128 + SIGKILL);
    check_step_line(step_line(1, SIGQUIT, SIGKILL, 2, 2));
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"QUIT"}, dump(log));
    check_stderr_format(shim->err());
}

BOOST_DATA_TEST_CASE_F(Sandbox, kill_after_with_stop_schedule_is_a_usage_error,
                       data::make({false, true}), schedule_first) {
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin};
    std::vector<std::string> kill_after{"--kill-after", "3"};
    std::vector<std::string> schedule{"--stop-schedule", "TERM/1/KILL/1"};
    for (auto* part : schedule_first ? std::vector{&schedule, &kill_after}
                                     : std::vector{&kill_after, &schedule}) {
        argv.insert(argv.end(), part->begin(), part->end());
    }
    argv.insert(argv.end(), {path("app.pid"), testd_bin, "--no-pidfile", "--log", log});
    Process shim(argv, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(!lines.empty(), "nothing on stderr");
    BOOST_CHECK_MESSAGE(contains(lines.front(), "--kill-after") &&
                            contains(lines.front(), "--stop-schedule"),
                        lines.front());
    BOOST_CHECK_MESSAGE(!std::filesystem::exists(log), "the command was started anyway");
    check_stderr_format(shim.err());
}

namespace {

struct BadSchedule {
    const char* value;
    const char* named; // the part the message must quote
};

std::ostream& operator<<(std::ostream& o, const BadSchedule& b) {
    return o << "'" << b.value << "'";
}

const BadSchedule bad_schedules[] = {
    {"QUIT/x", "'x' is not a number of seconds"},
    {"NOSUCHSIG/5", "NOSUCHSIG"},
    {"TERM/-1", "-1"},
    {"TERM/5/KILL/soon", "soon"},
    {"TERM/99999999", "99999999"},
};

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, bad_schedule_is_a_usage_error_naming_the_part,
                       data::make(bad_schedules), bad) {
    auto log = path("app.log");
    Process shim({pidshim_bin, "--stop-schedule", bad.value, path("app.pid"), testd_bin,
                  "--no-pidfile", "--log", log},
                 dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(!lines.empty(), "nothing on stderr");
    std::string quoted = "pidshim: --stop-schedule: '" + std::string(bad.value) + "'";
    BOOST_CHECK_MESSAGE(lines.front().rfind(quoted, 0) == 0,
                        "'" << lines.front() << "' does not start with " << quoted);
    BOOST_CHECK_MESSAGE(contains(lines.front(), bad.named),
                        "'" << lines.front() << "' does not name " << bad.named);
    BOOST_CHECK(shim.out().empty());
    BOOST_CHECK_MESSAGE(!std::filesystem::exists(log), "the command was started anyway");
    check_stderr_format(shim.err());
}
