// A launcher that daemonizes and exits 0 is not the end: pidshim keeps running for as long
// as the daemon it left behind does.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("forking launcher");

BOOST_FIXTURE_TEST_CASE(pidshim_outlives_a_launcher_that_exits_0, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim(
        {pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log}, dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    BOOST_REQUIRE(wait_dead(launcher));
    wait_following(shim, pidfile, daemon);

    BOOST_CHECK(shim.running());
    // Still doing its job, not just lingering.
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    BOOST_CHECK(shim.running());

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(!alive(daemon));
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(pidshim_waits_for_a_pidfile_written_after_the_launcher_exited, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                  "--pidfile-on", "USR2", "--log", log},
                 dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    BOOST_REQUIRE(wait_dead(launcher));
    BOOST_CHECK(shim.running());

    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    wait_following(shim, pidfile, daemon);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(!alive(daemon));
}
