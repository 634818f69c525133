// The system's file table full (ENFILE) is a shortage of the whole system, not of pidshim:
// a later attempt may do better, so pidshim keeps waiting for the daemon, refusing it while
// it cannot watch it, and at --timeout stops what COMMAND started, as for any daemon it could
// not follow. deny_syscall makes pidfd_open fail with ENFILE (see denied_syscalls_test.cpp).
//
// Inside a PID namespace, so that a wrong kill stays inside:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       deny_syscall ENFILE pidfd_open -- pidshim -v --timeout 1 PIDFILE testd --fork (app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("system-wide shortages do not end the wait");

BOOST_FIXTURE_TEST_CASE(enfile_while_waiting_does_not_hang, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    constexpr auto give_up_after = 1s;
    auto started_at = Clock::now();
    PidNamespace ns(*this, R"(
"$DENY_SYSCALL" ENFILE pidfd_open -- \
    "$PIDSHIM" -v --timeout 1 "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" \
    --log "$D/app.log" &
wait $!
)",
                    {"DENY_SYSCALL=" + std::string(DENY_SYSCALL_BIN)});
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(app_log, "pidfile pid=" + std::to_string(daemon) + " ");
    std::string refusal = wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) {
            return has_pid_phrase(l, "cannot watch pid ", daemon) &&
                   contains(l, std::strerror(ENFILE));
        },
        "pidshim to refuse pid " + std::to_string(daemon) + " for want of a pidfd");
    BOOST_TEST_MESSAGE(refusal);

    BOOST_CHECK_EQUAL(ns.proc.wait_exit(give_up_after + prompt), 124);
    BOOST_CHECK(ns.proc.exited_at() - started_at >= give_up_after);
    // Stopped by pidshim, not by the end of the namespace (a SIGKILL, which leaves no line).
    wait_for_line(app_log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK(signals_of(app_log, daemon) == std::vector<std::string>{"TERM"});
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(text, "(--timeout)") == 1, "no --timeout line:\n" << text);
    BOOST_CHECK_MESSAGE(lines_with(slurp(ns.init_log), "signal ").empty(),
                        "PID 1 of the namespace was signalled" << dump(ns.init_log));
    check_stderr_format(text);
}
