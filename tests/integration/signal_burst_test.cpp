// A storm of signals neither kills pidshim nor wedges it: a stop afterwards still works and
// the exit status is still the daemon's.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("signal burst");

BOOST_FIXTURE_TEST_CASE(survives_500_usr1_and_still_stops_the_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                  "--stop-exit-code", "9", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    for (int i = 0; i < 500; ++i) {
        shim.signal(SIGUSR1);
    }
    wait_for_signal(log, daemon, SIGUSR1);
    BOOST_CHECK(shim.running());

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(10s), 9);
    BOOST_CHECK(!alive(daemon));
    auto got = signals_of(log, daemon);
    BOOST_CHECK_EQUAL(std::count(got.begin(), got.end(), "TERM"), 1);
    BOOST_CHECK_MESSAGE(
        std::all_of(got.begin(), got.end(), [](auto& s) { return s == "USR1" || s == "TERM"; }),
        "the daemon got signals nobody sent" << dump(log));
    BOOST_CHECK_LE(std::count(got.begin(), got.end(), "USR1"), 500);
}

BOOST_FIXTURE_TEST_CASE(survives_a_mixed_burst, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);

    const int mix[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGWINCH, SIGALRM, SIGCONT};
    for (int i = 0; i < 500; ++i) {
        shim.signal(mix[i % std::size(mix)]);
    }
    BOOST_CHECK(shim.running());
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(10s), 128 + SIGTERM);
}
