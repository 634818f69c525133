// Whatever signal state pidshim inherits (nohup ignores HUP, shells block signals), the
// daemon starts with an empty mask and default dispositions, and pidshim still forwards.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("clean signal state");

namespace {

const SpawnOptions messy =
    SpawnOptions().blocking({SIGUSR1, SIGTERM, SIGCHLD}).ignoring({SIGHUP, SIGINT, SIGPIPE});

} // namespace

BOOST_FIXTURE_TEST_CASE(command_starts_with_empty_mask_and_no_ignored_signals, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim(
        {pidshim_bin, pidfile, testd_bin, "--report-sigstate", "--pidfile", pidfile, "--log", log},
        dir, messy);
    auto line = wait_for_line(log, "sigstate pid=");
    BOOST_CHECK_MESSAGE(contains(line, "SigBlk=0000000000000000"), line);
    BOOST_CHECK_MESSAGE(contains(line, "SigIgn=0000000000000000"), line);
}

BOOST_FIXTURE_TEST_CASE(signals_ignored_or_blocked_at_start_are_still_forwarded, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim(
        {pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log}, dir,
        messy);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);
    for (int sig : {SIGHUP, SIGUSR1}) {
        shim.signal(sig);
        wait_for_signal(log, daemon, sig);
    }
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
}
