// A SIGTSTP, SIGTTIN or SIGTTOU that a process sent with kill() (supervisorctl signal TSTP), not
// the terminal, is only forwarded: pidshim does not stop itself, so it still acts on a stop
// that comes afterwards. In both modes.
//
// Inside its own PID namespace (see PidNamespace), since a pidshim that stops itself by
// mistake might signal more than itself:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       pidshim
//         testd (app.log): COMMAND, or the launcher of the daemon
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("sent job-control signals are only forwarded");

namespace {

void check_only_forwarded(PidNamespace& ns, const std::string& log, pid_t daemon) {
    pid_t shim = ns.pidshim();
    for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU}) {
        BOOST_TEST_CONTEXT("SIG" << signame(sig)) {
            BOOST_REQUIRE(kill(shim, sig) == 0);
            wait_for_signal(log, daemon, sig);
            // Forwarded, then done with it: a pidshim that stopped itself is in state T, not
            // asleep.
            bool idle = eventually(
                [&] { return !signal_pending(shim, sig) && all_threads_sleeping(shim); });
            auto st = proc_stat(shim);
            BOOST_REQUIRE_MESSAGE(idle, "pidshim did not go back to waiting after SIG"
                                            << signame(sig) << ": state "
                                            << (st ? st->state : '?'));
        }
    }
    check_only_markers({{ns.init_log, 1, ns.host(1)}});
    // Still running, so a stop is acted on at once.
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) ==
                            (std::vector<std::string>{"TSTP", "TTIN", "TTOU", "TERM"}),
                        "not each signal once" << dump(log));
    check_stderr_format(ns.proc.err());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(no_pidfile_mode, Sandbox) {
    PidNamespace ns(*this, R"(
"$PIDSHIM" --no-pidfile "$TESTD" --no-pidfile --log "$D/app.log" &
wait $!
)");
    auto log = path("app.log");
    pid_t command = wait_started(log, "daemon");
    wait_for_line(ns.proc.err_path, "following pid " + std::to_string(command));
    check_only_forwarded(ns, log, command);
}

BOOST_FIXTURE_TEST_CASE(pidfile_mode, Sandbox) {
    PidNamespace ns(*this, R"(
"$PIDSHIM" "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --log "$D/app.log" &
wait $!
)");
    auto log = path("app.log");
    pid_t daemon = wait_started(log, "daemon");
    wait_following(ns.proc, path("app.pid"), daemon);
    check_only_forwarded(ns, log, daemon);
}
