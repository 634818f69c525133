// A stop signal held because no daemon is known yet is never forgotten: it outlives its
// --retry budget and reaches the daemon whenever PIDFILE names it. Other held signals do
// expire after --retry x --retry-interval, and pidshim says so.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("held stop never expires");

namespace {

// pidshim's line saying that it gave up a held signal.
bool says_dropped(const std::string& line, const std::string& name) {
    return contains(line, name) &&
           (contains(line, "gave up") || contains(line, "dropping") || contains(line, "dropped"));
}

} // namespace

BOOST_FIXTURE_TEST_CASE(term_held_past_its_retry_budget_still_stops_the_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // Held signals are retried 3 times 0.1 s apart: 0.3 s. The daemon names itself only when
    // this test sends it USR2, once HUP's budget is seen to be spent.
    Process shim({pidshim_bin, "-v", "--retry", "3", "--retry-interval", "0.1", pidfile, testd_bin,
                  "--fork", "--pidfile", pidfile, "--pidfile-on", "USR2", "--log", log},
                 dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    // Reaped, so that pidshim knows COMMAND is gone and has nobody to pass the signals to.
    wait_reaped(launcher);

    shim.signal(SIGHUP);
    wait_signal_handled(shim.pid(), SIGHUP);
    shim.signal(SIGTERM);
    wait_signal_handled(shim.pid(), SIGTERM);
    std::string dropped = wait_for_line(
        shim.err_path, [](const std::string& l) { return says_dropped(l, "SIGHUP"); },
        "pidshim to give up SIGHUP after its --retry budget");
    BOOST_TEST_MESSAGE(dropped);
    BOOST_CHECK_MESSAGE(!contains(dropped, "SIGTERM"), "the stop was given up: " << dropped);
    BOOST_REQUIRE(!std::filesystem::exists(pidfile));
    BOOST_REQUIRE(shim.running());

    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGTERM), 1u);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 0u);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
    check_stderr_format(shim.err());
}
