// A stop is meant for the daemon, not for its pid: when a wrapper (mysqld_safe style) starts a
// new daemon that happens to get the pid of the one that just stopped, the newcomer is a
// daemon pidshim has not stopped yet. It must get the stop, and --kill-after must count from
// then, not from the moment its predecessor got it.
//
// Inside a PID namespace, so that the pid is certain to be reused (ns_last_pid) and a wrong
// kill stays inside:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       pidshim -v --kill-after 2 PIDFILE sh (the wrapper)
//         testd, daemon A (a.log), then testd, daemon B (b.log) with A's pid
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("stop follows the daemon, not its pid");

BOOST_FIXTURE_TEST_CASE(stop_reaches_a_daemon_that_reuses_the_pid, Sandbox) {
    auto pidfile = path("app.pid");
    auto a_log = path("a.log");
    auto b_log = path("b.log");
    // A takes 1 s to stop, B 1.5 s. If --kill-after were counted from A's TERM, B would be
    // killed 2 s after that, while it still stops; counted from B's own TERM, B is gone 0.5 s
    // before its SIGKILL would be due.
    PidNamespace ns(*this, R"(
"$PIDSHIM" -v --kill-after 2 "$D/app.pid" sh -c '
    exec 2>/dev/null # the shell says "Terminated"; pidshim is the one to hear from
    "$TESTD" --log "$D/a.log" --pidfile "$D/app.pid" --stop-delay 1000 &
    a=$!
    wait $a
    echo $((a - 1)) > /proc/sys/kernel/ns_last_pid
    "$TESTD" --log "$D/b.log" --pidfile "$D/app.pid" --stop-delay 1500 &
    wait $!
' &
wait $!
)");
    pid_t a = wait_started(a_log, "daemon");
    wait_following(ns.proc, pidfile, a);
    pid_t shim = ns.pidshim();

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(a_log, a, SIGTERM);
    wait_for_line(a_log, "exit pid=" + std::to_string(a) + " role=daemon sig=TERM");
    pid_t b = wait_started(b_log, "daemon");
    BOOST_REQUIRE_MESSAGE(b == a, "the second daemon got pid " << b << ", not " << a
                                                               << ": this run cannot tell");

    wait_for_signal(b_log, b, SIGTERM);
    // B ends by the TERM after its stop delay, not by a SIGKILL (which leaves no exit line).
    wait_for_line(b_log, "exit pid=" + std::to_string(b) + " role=daemon sig=TERM",
                  std::chrono::milliseconds(1500) + prompt);
    // The wrapper ends like B did, and pidshim like the wrapper.
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);

    BOOST_CHECK(signals_of(a_log, a) == std::vector<std::string>{"TERM"});
    BOOST_CHECK_MESSAGE(signals_of(b_log, b) == std::vector<std::string>{"TERM"},
                        "B did not get exactly one TERM" << dump(b_log));
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(text, "SIGKILL") == 0, "pidshim sent SIGKILL:\n" << text);
    BOOST_CHECK_MESSAGE(lines_with(slurp(ns.init_log), "signal ").empty(),
                        "PID 1 of the namespace was signalled" << dump(ns.init_log));
    check_stderr_format(text);
}
