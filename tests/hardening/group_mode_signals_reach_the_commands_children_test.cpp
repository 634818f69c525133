// --no-pidfile --group: COMMAND starts as the leader of a new process group and every signal
// goes to that group, so that a shell script's children get them too; pidshim itself is not
// in that group, so it never gets back what it forwards.
//
// Inside its own PID namespace (see PidNamespace), since pidshim signals a process group:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       pidshim -g --no-pidfile
//         sh -c '...& ...& wait'   (COMMAND, a group of its own)
//           testd (a.log)
//           testd (b.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("group mode signals reach COMMAND's children");

BOOST_FIXTURE_TEST_CASE(shell_scripts_children_get_the_signals_pidshim_does_not, Sandbox) {
    PidNamespace ns(*this, R"(
"$PIDSHIM" -g --no-pidfile sh -c \
    '"$TESTD" --no-pidfile --log "$D/a.log" & "$TESTD" --no-pidfile --log "$D/b.log" & wait' &
wait $!
)");
    auto a_log = path("a.log");
    auto b_log = path("b.log");
    auto a_start = wait_for_event(
        a_log, [](const Event& e) { return e.kind == "start"; }, "the first child to start");
    auto b_start = wait_for_event(
        b_log, [](const Event& e) { return e.kind == "start"; }, "the second child to start");
    pid_t a = a_start.pid();
    pid_t b = b_start.pid();
    pid_t script = std::atoi(a_start.get("ppid").c_str()); // as the namespace sees it
    BOOST_REQUIRE_EQUAL(std::atoi(b_start.get("ppid").c_str()), script);

    pid_t shim = ns.pidshim();
    pid_t script_host = ns.host(script);
    BOOST_REQUIRE_EQUAL(proc_stat(script_host)->ppid, shim);
    BOOST_CHECK_MESSAGE(proc_stat(script_host)->pgrp == script_host,
                        "COMMAND does not lead a process group of its own");
    BOOST_CHECK_MESSAGE(proc_stat(shim)->pgrp != proc_stat(script_host)->pgrp,
                        "pidshim is in COMMAND's process group " << proc_stat(shim)->pgrp);
    BOOST_CHECK_EQUAL(a_start.get("pgid"), std::to_string(script));
    BOOST_CHECK_EQUAL(b_start.get("pgid"), std::to_string(script));

    // A signal the shell ignores by default: the script lives on, and its children log it.
    BOOST_REQUIRE(kill(shim, SIGWINCH) == 0);
    wait_for_signal(a_log, a, SIGWINCH);
    wait_for_signal(b_log, b, SIGWINCH);
    wait_for_line(ns.proc.err_path,
                  "forwarded SIGWINCH to process group " + std::to_string(script));
    wait_signal_handled(shim, SIGWINCH);
    // Neither PID 1 nor anything else outside the group heard of it.
    check_only_markers({{ns.init_log, 1, ns.host(1)}});

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    // The script dies of the TERM, as its children do.
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    wait_for_line(ns.proc.err_path, "forwarded SIGTERM to process group " + std::to_string(script));
    BOOST_CHECK(contains(slurp(a_log), "exit pid=" + std::to_string(a) + " role=daemon sig=TERM"));
    BOOST_CHECK(contains(slurp(b_log), "exit pid=" + std::to_string(b) + " role=daemon sig=TERM"));
    // Had pidshim been in the group, it would have got each signal back and passed it on again.
    BOOST_CHECK_MESSAGE(count_signal(a_log, a, SIGWINCH) == 1, dump(a_log));
    BOOST_CHECK_MESSAGE(count_signal(b_log, b, SIGWINCH) == 1, dump(b_log));
    auto err = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(err, "forwarded SIGWINCH") == 1, err);
    BOOST_CHECK_MESSAGE(count_lines(err, "does not lead its process group") == 0, err);
    check_stderr_format(err);
}
