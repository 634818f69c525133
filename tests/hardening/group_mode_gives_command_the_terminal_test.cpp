// --no-pidfile --group on a terminal: COMMAND leads its own process group, and when pidshim's
// stdin is a terminal whose foreground group is pidshim's, COMMAND's group becomes the
// foreground group (as tini does). An interactive shell run that way works as at a login: it
// is not stopped by SIGTTIN/SIGTTOU, runs a command as a job, Ctrl-C interrupts that job (and
// nothing else), and the shell's exit status is pidshim's.
//
// Inside its own PID namespace (see PidNamespace), since pidshim signals process groups:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       foreground_job: a session on the pseudo-terminal, as a login shell
//         pidshim -g --no-pidfile   (the terminal's foreground group when it starts)
//           sh -c 'exec bash -i'    (COMMAND: bash, interactive, with stderr on the terminal)
//             sleep 30              (bash's job)
#include "terminal.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("group mode gives COMMAND the terminal");

BOOST_FIXTURE_TEST_CASE(interactive_shell_gets_the_terminal_and_ctrl_c, Sandbox) {
    if (skip_without_terminal()) {
        return;
    }
    Terminal term;
    PidNamespace ns(*this, R"(
"$FGJOB" --log "$D/job.log" "$PTS" "$PIDSHIM" -g --no-pidfile \
    sh -c 'exec bash --norc --noprofile --noediting -i 2>&1' &
wait $!
)",
                    {"FGJOB=" + foreground_job_bin, "PTS=" + term.path(),
                     "HISTFILE=" + path("bash_history"), "TERM=dumb", "PS1=prompt$ "});
    pid_t shim = ns.pidshim();
    pid_t bash = wait_child_named(shim, "bash");
    auto states = [&] {
        return states_of({shim, bash}) + term.transcript() + dump(ns.proc.err_path);
    };

    // A shell whose group is not the foreground group stops itself with SIGTTIN until it is:
    // it reads and runs nothing.
    term.type("echo ready-$((6*7))\n");
    BOOST_REQUIRE_MESSAGE(term.shows("ready-42"), "the shell runs no command:" << states());

    auto shim_st = job_stat(shim);
    auto bash_st = job_stat(bash);
    BOOST_REQUIRE(shim_st && bash_st);
    BOOST_CHECK_MESSAGE(bash_st->pgrp == bash, "COMMAND does not lead its group:" << states());
    BOOST_CHECK_MESSAGE(shim_st->pgrp != bash_st->pgrp,
                        "pidshim is in COMMAND's group:" << states());
    BOOST_CHECK_MESSAGE(bash_st->tpgid == bash_st->pgrp,
                        "COMMAND's group is not the terminal's foreground group:" << states());

    // A job: bash gives it the terminal, so Ctrl-C reaches it.
    term.type("sleep 30\n");
    pid_t sleeper = wait_child_named(bash, "sleep");
    require_eventually(
        [&] {
            auto st = job_stat(sleeper);
            return st && st->tpgid == st->pgrp && st->state == 'S';
        },
        "sleep to run as the foreground job:" + states_of({shim, bash, sleeper}));
    term.type("\x03");
    BOOST_REQUIRE_MESSAGE(wait_dead(sleeper), "Ctrl-C did not end the foreground job:"
                                                  << states_of({shim, bash, sleeper})
                                                  << term.transcript());
    term.type("echo status=$?\n");
    BOOST_CHECK_MESSAGE(term.shows("status=130"),
                        "the job did not end of Ctrl-C's SIGINT:" << states());

    // Nothing was stopped on the way, by the terminal or otherwise.
    BOOST_CHECK_MESSAGE(!stopped(shim) && !stopped(bash), "stopped:" << states());
    BOOST_CHECK_MESSAGE(!contains(slurp(path("job.log")), "stopped"),
                        "pidshim was stopped:" << dump(path("job.log")));

    term.type("exit 7\n");
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 7);
    BOOST_CHECK_MESSAGE(contains(slurp(path("job.log")), " status=7"), dump(path("job.log")));
    // The Ctrl-C was the terminal's business: pidshim forwarded nothing.
    auto err = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(err, "forwarded") == 0, "pidshim forwarded a signal:\n" << err);
    check_stderr_format(err);
}
