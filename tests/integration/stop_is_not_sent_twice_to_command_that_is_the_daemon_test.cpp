// When COMMAND is the daemon itself (it stays in the foreground and writes its own pidfile), a
// stop that arrives before the pidfile goes to COMMAND and is held for the daemon. Once the
// pidfile names COMMAND, the daemon has had the stop already: a second TERM or INT means
// "hurry" to many programs (a second INT makes them exit at once), so it is not sent again.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("stop is not sent twice to a COMMAND that is the daemon");

BOOST_FIXTURE_TEST_CASE(stop_is_not_sent_twice_to_command_that_is_the_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // The daemon writes its pidfile 1 s after it started, while it is still stopping (it
    // takes 2 s to): pidshim learns of it with the stop already given.
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--pidfile", pidfile, "--pidfile-delay",
                  "1000", "--stop-delay", "2000", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    auto st = proc_stat(daemon);
    BOOST_REQUIRE_MESSAGE(st && st->ppid == shim.pid(), "the daemon is not COMMAND itself");

    shim.signal(SIGTERM);
    wait_for_signal(log, daemon, SIGTERM);
    long got = line_index(log, signal_line_prefix(daemon) + "role=daemon sig=TERM");
    long written = line_index(log, "pidfile pid=" + std::to_string(daemon) + " ");
    BOOST_REQUIRE_MESSAGE(written < 0 || got < written,
                          "the pidfile came before the stop: this run cannot tell" << dump(log));

    wait_following(shim, pidfile, daemon);
    BOOST_CHECK_EQUAL(shim.wait_exit(std::chrono::milliseconds(2000) + prompt), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK_MESSAGE(count_signal(log, daemon, SIGTERM) == 1,
                        "the daemon did not get exactly one TERM" << dump(log));
    BOOST_CHECK(signals_of(log, daemon) == std::vector<std::string>{"TERM"});
    BOOST_CHECK_MESSAGE(lines_with(shim.err(), "SIGKILL").empty(), "pidshim sent SIGKILL:\n"
                                                                       << shim.err());
    BOOST_CHECK(leftovers().empty());
    check_stderr_format(shim.err());
}
