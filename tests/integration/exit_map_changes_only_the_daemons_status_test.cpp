// --exit-map FROM:TO changes the status pidshim exits with when it is the daemon's or COMMAND's
// own (128+N for death by signal N included), for runtimes that count only 0 as success. The
// statuses pidshim reports about itself (1, 2, 124, 126, 127) are never changed.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <filesystem>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("exit map changes only the daemon's status");

namespace {

struct Mapped : Sandbox {
    // pidshim OPTIONS app.pid testd --fork --exit-on USR1 ..., followed.
    void start(const std::vector<std::string>& options, int exit_code = 0) {
        std::vector<std::string> argv{pidshim_bin};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log,
                                 "--exit-on", "USR1", "--exit-code", std::to_string(exit_code)});
        shim.emplace(argv, dir);
        daemon = wait_started(log, "daemon");
        wait_following(*shim, pidfile, daemon);
    }

    // The daemon exits by itself with the code given to start().
    int daemon_exits() {
        BOOST_REQUIRE(kill(daemon, SIGUSR1) == 0);
        return shim->wait_exit();
    }

    // A forwarded TERM kills the daemon: its status is 143.
    int daemon_stopped() {
        shim->signal(SIGTERM);
        int code = shim->wait_exit();
        wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
        return code;
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::string config = path("pidshim.conf");
    std::optional<Process> shim;
    pid_t daemon = -1;
};

struct Mapping {
    const char* exit_map;
    int daemon_code;
    int expected;
};

std::ostream& operator<<(std::ostream& o, const Mapping& m) {
    return o << "--exit-map " << m.exit_map << ", daemon exits " << m.daemon_code;
}

const Mapping mappings[] = {
    {"3:0,4:5", 3, 0}, {"3:0,4:5", 4, 5}, {"3:0,4:5", 5, 5}, {"3:0,4:5", 0, 0},
    {"0:9", 0, 9},     {"255:1", 255, 1}, {"3:4,3:5", 3, 5}, // a later entry wins
    {"42:0", 42, 0},   {"143:0", 143, 0},
};

// pidshim's own statuses, each under a map that would turn it into 0.
struct Own {
    const char* what;
    std::vector<std::string> args; // after the options; "@P" is the pidfile, "@D" the directory
    int expected;
};

std::ostream& operator<<(std::ostream& o, const Own& own) {
    return o << own.what;
}

const Own own_statuses[] = {
    {"--timeout ran out", {"--timeout", "0.3", "@P", TESTD_BIN, "--no-pidfile"}, 124},
    {"COMMAND not found", {"@P", "no-such-command-for-pidshim"}, 127},
    {"COMMAND not executable", {"@P", "@D/not-executable"}, 126},
    {"usage error", {"--timeout", "abc", "@P", TESTD_BIN, "--no-pidfile"}, 2},
    {"COMMAND missing", {"@P"}, 2},
    {"COMMAND exited 0 and the pidfile named no daemon",
     {"@P", TESTD_BIN, "--no-pidfile", "--exit-after", "0", "--exit-code", "0"},
     1},
};

const char every_own_status[] = "1:0,2:0,124:0,125:0,126:0,127:0";

} // namespace

BOOST_FIXTURE_TEST_CASE(daemon_stopped_by_term_exits_0_with_143_0, Mapped) {
    start({"--exit-map", "143:0"});
    BOOST_CHECK_EQUAL(daemon_stopped(), 0);
    check_stderr_format(shim->err());
}

BOOST_DATA_TEST_CASE_F(Mapped, daemons_status_is_mapped, data::make(mappings), m) {
    start({"--exit-map", m.exit_map}, m.daemon_code);
    BOOST_CHECK_EQUAL(daemon_exits(), m.expected);
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(repeated_option_later_entry_wins, Mapped) {
    start({"--exit-map", "3:4", "--exit-map", "6:7", "--exit-map", "3:6"}, 3);
    BOOST_CHECK_EQUAL(daemon_exits(), 6);
}

// The daemon dies of SIGKILL: 137 is its own status, so it is mapped.
BOOST_FIXTURE_TEST_CASE(death_by_a_signal_is_mapped_as_128_plus_n, Mapped) {
    start({"--exit-map", "137:3"});
    BOOST_REQUIRE(kill(daemon, SIGKILL) == 0);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 3);
}

// COMMAND fails before the pidfile names a daemon: its status is COMMAND's own, even one that
// looks like pidshim's.
BOOST_DATA_TEST_CASE_F(Sandbox, commands_own_status_is_mapped, data::make({124, 127, 2, 1}), code) {
    auto pidfile = path("app.pid");
    Process shim({pidshim_bin, "--exit-map", std::to_string(code) + ":0", pidfile, testd_bin,
                  "--no-pidfile", "--exit-after", "0", "--exit-code", std::to_string(code)},
                 dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 0);
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(foreground_commands_status_is_mapped, Sandbox) {
    auto log = path("app.log");
    Process shim({pidshim_bin, "--exit-map", "143:0", "--no-pidfile", testd_bin, "--no-pidfile",
                  "--log", log},
                 dir);
    pid_t command = wait_started(log, "daemon");
    wait_for_line(shim.err_path, "following pid " + std::to_string(command) + " (testd)");
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 0);
    wait_for_line(log, "exit pid=" + std::to_string(command) + " role=daemon sig=TERM");
}

BOOST_DATA_TEST_CASE_F(Sandbox, pidshims_own_status_is_never_mapped, data::make(own_statuses),
                       own) {
    write_file(path("not-executable"), "#!/bin/sh\nexit 0\n", 0644);
    std::vector<std::string> argv{pidshim_bin, "--exit-map", every_own_status};
    for (auto& a : own.args) {
        if (a == "@P") {
            argv.push_back(path("app.pid"));
        } else if (a.rfind("@D/", 0) == 0) {
            argv.push_back(path(a.substr(3)));
        } else {
            argv.push_back(a);
        }
    }
    Process shim(argv, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), own.expected);
    check_stderr_format(shim.err());
}

// 124 also says that --stop-schedule ran out with the daemon alive.
BOOST_FIXTURE_TEST_CASE(stop_schedule_running_out_is_never_mapped, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "--exit-map", every_own_status, "--stop-schedule", "TERM/0.3",
                  pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--ignore", "TERM", "--log",
                  log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 124);
    wait_for_line(log, signal_line_prefix(daemon) + "role=daemon sig=TERM ignored");
}

BOOST_FIXTURE_TEST_CASE(config_file_exit_map_applies, Mapped) {
    write_file(config, "exit-map = 143:0\n");
    start({"--config", config});
    BOOST_CHECK_EQUAL(daemon_stopped(), 0);
}

// The file maps 143 and 3; the command line maps 3 again, and wins for 3 alone.
BOOST_DATA_TEST_CASE_F(Mapped, command_line_wins_over_config_file_for_each_status,
                       data::make({false, true}), stopped) {
    write_file(config, "exit-map = 143:0,3:4\n");
    start({"--config", config, "--exit-map", "3:5"}, 3);
    if (stopped) {
        BOOST_CHECK_EQUAL(daemon_stopped(), 0);
    } else {
        BOOST_CHECK_EQUAL(daemon_exits(), 5);
    }
}

BOOST_DATA_TEST_CASE_F(Sandbox, bad_value_is_a_usage_error,
                       data::make({"143", "143:", ":0", "256:0", "0:256", "-1:0", "x:0", "3:0:1",
                                   "3:y", ""}),
                       value) {
    auto log = path("app.log");
    Process shim({pidshim_bin, "--exit-map", value, path("app.pid"), testd_bin, "--no-pidfile",
                  "--log", log},
                 dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(!lines.empty(), "nothing on stderr");
    std::string quoted = "pidshim: --exit-map: '" + std::string(value) + "'";
    BOOST_CHECK_MESSAGE(lines.front().rfind(quoted, 0) == 0,
                        "'" << lines.front() << "' does not start with " << quoted);
    if (std::string(value) == "143") {
        BOOST_CHECK_EQUAL(
            lines.front(),
            "pidshim: --exit-map: '143' is not FROM:TO (two exit statuses, 0 to 255)");
    }
    BOOST_CHECK(shim.out().empty());
    BOOST_CHECK_MESSAGE(!std::filesystem::exists(log), "the command was started anyway");
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(bad_value_in_config_file_is_a_usage_error, Sandbox) {
    auto config = path("pidshim.conf");
    auto log = path("app.log");
    write_file(config, "exit-map = 143\n");
    Process shim(
        {pidshim_bin, "--config", config, path("app.pid"), testd_bin, "--no-pidfile", "--log", log},
        dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(!lines.empty(), "nothing on stderr");
    BOOST_CHECK_MESSAGE(contains(lines.front(), "exit-map") && contains(lines.front(), "'143'"),
                        lines.front());
    BOOST_CHECK_MESSAGE(!std::filesystem::exists(log), "the command was started anyway");
}
