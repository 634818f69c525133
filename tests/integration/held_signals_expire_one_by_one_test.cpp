// Each held signal has its own --retry x --retry-interval budget, counted from the moment it
// was held: holding another signal later neither extends nor shortens it.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("held signals expire one by one");

namespace {

bool says_dropped(const std::string& line, const std::string& name) {
    return contains(line, name) &&
           (contains(line, "gave up") || contains(line, "dropping") || contains(line, "dropped"));
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_later_signal_does_not_renew_an_earlier_ones_budget, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // A 2 s budget. USR1 is held at 0 s, USR2 at 1 s: USR1 expires at 2 s, USR2 at 3 s. The
    // daemon names itself when this test sends it PWR, right after USR1 expired, so USR2 is
    // still held then and must be delivered. A budget renewed by USR2 would keep USR1 until
    // 3 s and drop both together.
    Process shim({pidshim_bin, "-v", "--retry", "20", "--retry-interval", "0.1", pidfile, testd_bin,
                  "--fork", "--pidfile", pidfile, "--pidfile-on", "PWR", "--log", log},
                 dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    // Reaped, so that pidshim knows COMMAND is gone and holds the signals.
    wait_reaped(launcher);

    shim.signal(SIGUSR1);
    wait_signal_handled(shim.pid(), SIGUSR1);
    auto usr1_held = Clock::now();
    // The scenario's timing, not a wait for an event: USR2 must be held well inside USR1's
    // budget for the two budgets to be told apart.
    std::this_thread::sleep_until(usr1_held + 1s);
    shim.signal(SIGUSR2);
    wait_signal_handled(shim.pid(), SIGUSR2);

    std::string dropped = wait_for_line(
        shim.err_path, [](const std::string& l) { return says_dropped(l, "SIGUSR1"); },
        "pidshim to give up SIGUSR1 after its --retry budget");
    auto usr1_gone = Clock::now();
    BOOST_TEST_MESSAGE(dropped << " ("
                               << std::chrono::duration<double>(usr1_gone - usr1_held).count()
                               << " s after USR1 was held)");
    BOOST_CHECK_MESSAGE(!contains(dropped, "SIGUSR2"),
                        "USR2 was given up with USR1, before its own budget: " << dropped);
    BOOST_REQUIRE(!std::filesystem::exists(pidfile));

    BOOST_REQUIRE(kill(daemon, SIGPWR) == 0);
    wait_following(shim, pidfile, daemon);
    wait_for_signal(log, daemon, SIGUSR2);

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGUSR2), 1u);
    BOOST_CHECK_MESSAGE(count_signal(log, daemon, SIGUSR1) == 0,
                        "USR1 was delivered after pidshim said it gave it up" << dump(log));
    check_stderr_format(shim.err());
}
