// --kill-after escalates a stop that the daemon ignores to SIGKILL.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("kill after");

BOOST_FIXTURE_TEST_CASE(daemon_ignoring_term_is_killed_after_the_delay, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", "--kill-after", "1", pidfile, testd_bin, "--fork", "--pidfile",
                  pidfile, "--ignore", "TERM", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    shim.signal(SIGTERM);
    wait_for_line(log, signal_line_prefix(daemon) + "role=daemon sig=TERM ignored");
    auto term_seen = Clock::now();
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGKILL);
    auto waited = shim.exited_at() - term_seen;
    // Generous bounds: the point is "not at once" and "not never".
    BOOST_CHECK_MESSAGE(waited >= 500ms, "SIGKILL came too early, after "
                                             << std::chrono::duration<double>(waited).count()
                                             << " s");
    BOOST_CHECK(!alive(daemon));
    BOOST_CHECK(leftovers().empty());
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(daemon_that_stops_in_time_is_not_killed, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "--kill-after", "3", pidfile, testd_bin, "--fork", "--pidfile",
                  pidfile, "--stop-delay", "200", "--stop-exit-code", "0", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 0);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon code=0");
}

BOOST_FIXTURE_TEST_CASE(a_kill_after_below_a_millisecond_still_kills, Sandbox) {
    // Rounded to 0 it would mean "never".
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", "--kill-after", "0.0004", pidfile, testd_bin, "--fork",
                  "--pidfile", pidfile, "--ignore", "TERM", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGKILL);
    BOOST_CHECK(!alive(daemon));
    BOOST_CHECK(leftovers().empty());
    check_stderr_format(shim.err());
}
