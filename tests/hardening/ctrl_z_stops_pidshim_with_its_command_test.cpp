// Job control on a terminal, in both modes: a SIGTSTP the terminal sent (Ctrl-Z) is forwarded,
// then pidshim stops itself, so that the shell it runs under sees the job stopped, as with any
// program; SIGCONT resumes it, and it forwards that too. Afterwards pidshim still acts on a
// stop as always.
//
// pidshim runs as a login shell's foreground job (foreground_job), inside its own PID
// namespace (see PidNamespace), since pidshim signals itself and others here:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       foreground_job (job.log): a session on the pseudo-terminal, as a login shell
//         pidshim       (the terminal's foreground group)
//           COMMAND
#include "terminal.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("Ctrl-Z stops pidshim with its COMMAND");

namespace {

struct OnTerminal : Sandbox {
    void start(const std::string& pidshim_and_command) {
        term.emplace();
        ns.emplace(*this,
                   "\"$FGJOB\" --log \"$D/job.log\" \"$PTS\" \"$PIDSHIM\" " + pidshim_and_command +
                       " &\nwait $!\n",
                   std::vector<std::string>{"FGJOB=" + foreground_job_bin, "PTS=" + term->path()});
        shim = ns->pidshim();
        shim_ns = innermost_pid(shim);
    }

    // The terminal's Ctrl-Z, once pidshim's group is the foreground group.
    void ctrl_z() {
        require_eventually(
            [&] {
                auto st = job_stat(shim);
                return st && st->pgrp == shim && st->tpgid == shim;
            },
            "pidshim to lead the terminal's foreground group:" + state_of(shim));
        term->type("\x1a");
    }

    // SIGCONT to the stopped job, as a shell's bg or fg sends it.
    void continue_job() {
        BOOST_REQUIRE(kill(-shim, SIGCONT) == 0);
        wait_for_line(job_log, "continued pid=" + std::to_string(shim_ns));
    }

    std::optional<Terminal> term;
    std::optional<PidNamespace> ns;
    std::string job_log = path("job.log");
    pid_t shim = -1;    // as this test sees it
    pid_t shim_ns = -1; // as the namespace sees it
};

} // namespace

BOOST_FIXTURE_TEST_CASE(no_pidfile_command_and_pidshim_stop_and_continue, OnTerminal) {
    if (skip_without_terminal()) {
        return;
    }
    start("--no-pidfile sleep 600");
    pid_t command = wait_child_named(shim, "sleep");
    wait_for_line(ns->proc.err_path, "following pid " + std::to_string(innermost_pid(command)));

    ctrl_z();
    require_eventually([&] { return stopped(shim) && stopped(command); },
                       "Ctrl-Z to stop pidshim and COMMAND:" + states_of({shim, command}));
    wait_for_line(job_log, "stopped pid=" + std::to_string(shim_ns));
    auto err = ns->proc.err();
    BOOST_CHECK_MESSAGE(
        count_lines(err, "forwarded SIGTSTP to pid " + std::to_string(innermost_pid(command))) == 1,
        "SIGTSTP not forwarded once to COMMAND:\n"
            << err);

    continue_job();
    require_eventually([&] { return !stopped(shim) && !stopped(command); },
                       "SIGCONT to resume pidshim and COMMAND:" + states_of({shim, command}));
    wait_for_line(ns->proc.err_path, "forwarded SIGCONT");

    // pidshim runs again, and acts on a stop.
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns->proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(contains(slurp(job_log), "exited pid=" + std::to_string(shim_ns) + " status=143"));
    check_stderr_format(ns->proc.err());
}

BOOST_FIXTURE_TEST_CASE(pidfile_mode_pidshim_stops_and_the_daemon_hears_of_it, OnTerminal) {
    if (skip_without_terminal()) {
        return;
    }
    // The daemon leaves for a session of its own: only pidshim can tell it about Ctrl-Z.
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    start("\"$D/app.pid\" \"$TESTD\" --fork --pidfile \"$D/app.pid\" --log \"$D/app.log\"");
    pid_t daemon = wait_started(log, "daemon");
    wait_following(ns->proc, pidfile, daemon);
    BOOST_REQUIRE_NE(job_stat(ns->host(daemon))->session, job_stat(shim)->session);

    ctrl_z();
    wait_for_signal(log, daemon, SIGTSTP);
    require_eventually([&] { return stopped(shim); },
                       "Ctrl-Z to stop pidshim:" + states_of({shim, ns->host(daemon)}));
    wait_for_line(job_log, "stopped pid=" + std::to_string(shim_ns));

    continue_job();
    require_eventually([&] { return !stopped(shim); },
                       "SIGCONT to resume pidshim:" + state_of(shim));
    wait_for_signal(log, daemon, SIGCONT);

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns->proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(
        signals_of(log, daemon) == (std::vector<std::string>{"TSTP", "CONT", "TERM"}),
        "the daemon did not get exactly Ctrl-Z's TSTP, the CONT and the TERM" << dump(log));
    check_stderr_format(ns->proc.err());
}
