// Real-time signals are queued, not merged: as many as pidshim held before the daemon was
// known reach the daemon once it is.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("held real-time signals are not coalesced");

BOOST_FIXTURE_TEST_CASE(three_rtmin_plus_1_held_arrive_three_times, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                  "--pidfile-on", "USR2", "--log", log},
                 dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    // Reaped, so that pidshim knows COMMAND is gone and holds the signals.
    wait_reaped(launcher);

    const int rt = SIGRTMIN + 1;
    for (int i = 0; i < 3; ++i) {
        BOOST_REQUIRE(kill(shim.pid(), rt) == 0);
    }
    // The kernel queues all three; pending until pidshim has taken the last one.
    wait_signal_handled(shim.pid(), rt);
    BOOST_REQUIRE(!std::filesystem::exists(pidfile));

    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    const std::string got = signal_line_prefix(daemon) + "role=daemon sig=RTMIN+1";
    wait_for_count(log, got, 3);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    // Everything has exited: the log is complete.
    BOOST_CHECK_EQUAL(lines_with(slurp(log), got).size(), 3u);
    check_stderr_format(shim.err());
}
