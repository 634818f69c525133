// A stop asked for before PIDFILE names the daemon is not lost on a COMMAND that ignores it
// (mysqld_safe ignores TERM): it reaches the daemon once the daemon is known, and
// --kill-after counts from then, so the daemon can shut down cleanly instead of being killed.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("stop before the daemon is known reaches it");

BOOST_FIXTURE_TEST_CASE(term_before_the_pidfile_stops_the_daemon_behind_a_wrapper, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // The daemon names itself 2 s after it started and takes 300 ms to stop. A --kill-after
    // counted from pidshim's own TERM would fire before the pidfile exists; counted from the
    // moment the daemon gets TERM, it fires 700 ms after the daemon is gone.
    Process shim({pidshim_bin, "-v", "--kill-after", "1", pidfile, testd_bin, "--wrapper",
                  "--pidfile", pidfile, "--pidfile-delay", "2000", "--stop-delay", "300", "--log",
                  log},
                 dir);
    pid_t wrapper = wait_started(log, "wrapper");
    pid_t daemon = wait_started(log, "daemon");

    shim.signal(SIGTERM);
    wait_signal_handled(shim.pid(), SIGTERM);
    BOOST_REQUIRE_MESSAGE(!std::filesystem::exists(pidfile),
                          "the pidfile came before the stop: this run cannot tell");

    wait_for_signal(log, daemon, SIGTERM);
    long written = line_index(log, "pidfile pid=" + std::to_string(daemon) + " ");
    long got = line_index(log, signal_line_prefix(daemon) + "role=daemon sig=TERM");
    BOOST_CHECK_MESSAGE(written >= 0 && written < got,
                        "TERM reached the daemon before its pidfile named it" << dump(log));

    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    wait_for_exit_line(log, daemon);
    BOOST_CHECK_MESSAGE(
        contains(slurp(log), "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM"),
        "the daemon did not end by its TERM" << dump(log));
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGTERM), 1u);
    // The wrapper only ever ignores what it gets; the daemon, whose status pidshim passes
    // on, got TERM and nothing else.
    for (auto& s : signals_of(log, wrapper)) {
        BOOST_CHECK_MESSAGE(s == "TERM", "the wrapper got SIG" << s << dump(log));
    }
    BOOST_CHECK_MESSAGE(lines_with(shim.err(), "SIGKILL").empty(), "pidshim sent SIGKILL:\n"
                                                                       << shim.err());
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
    check_stderr_format(shim.err());
}
