// pidshim --no-pidfile as PID 1 of a new PID namespace (unshare --pid --fork --mount-proc), as
// a container's entrypoint for a program that does not daemonize: COMMAND is the daemon from
// the start. The kernel gives PID 1 no default signal actions and hands it every orphan of the
// namespace: pidshim must still forward each signal to COMMAND, reap every orphan, and exit
// with COMMAND's status. Pids in testd's log are the namespace's own.
#include "hosts.hpp"

PIDSHIM_TEST_MODULE("pidshim --no-pidfile as PID 1");

using namespace hosts;

namespace {

struct Namespace {
    Namespace(const Sandbox& box, const std::vector<std::string>& testd_options)
        : log(box.path("testd.log")) {
        std::vector<std::string> argv{
            "unshare",      "--pid",   "--fork",       "--mount-proc", pidshim_bin,
            "--no-pidfile", testd_bin, "--no-pidfile", "--log",        log};
        argv.insert(argv.end(), testd_options.begin(), testd_options.end());
        unshare.emplace(argv, box.dir, SpawnOptions().named("unshare"));
        shim = pidshim_child_of(unshare->pid()); // unshare forks; its child runs pidshim
        command = wait_started(log, "daemon");
        command_host = host_pid(shim, command);
        wait_for_line(unshare->err_path, "following pid " + std::to_string(command) +
                                             " (testd), COMMAND itself (--no-pidfile)");
    }

    // Runs a command inside the namespace, as docker exec does.
    Run exec(const Sandbox& box, const std::vector<std::string>& argv) {
        std::vector<std::string> all{"nsenter", "--target", std::to_string(shim),
                                     "--pid",   "--mount",  "--"};
        all.insert(all.end(), argv.begin(), argv.end());
        return run(box, all);
    }

    std::string log;
    std::optional<Process> unshare;
    pid_t shim = -1;         // pidshim, as this test sees it
    pid_t command = -1;      // COMMAND, as the namespace sees it
    pid_t command_host = -1; // COMMAND, as this test sees it
};

} // namespace

BOOST_FIXTURE_TEST_CASE(signals_reach_command_orphans_are_reaped_its_status_comes_out, Sandbox) {
    // COMMAND double-forks children that exit at once: they end as PID 1's zombies.
    Namespace ns(*this, {"--orphans", "3", "--exit-on", "USR1", "--exit-code", "3"});
    BOOST_REQUIRE_EQUAL(innermost_pid(ns.shim), 1);
    BOOST_REQUIRE_EQUAL(proc_stat(ns.command_host)->ppid, ns.shim);

    // Signals a runtime may send (docker kill -s) that do not end COMMAND; each would be lost
    // if PID 1 relied on default actions.
    for (int sig : {SIGHUP, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT, SIGPWR, SIGTSTP}) {
        BOOST_TEST_CONTEXT("SIG" << signame(sig)) {
            BOOST_REQUIRE(kill(ns.shim, sig) == 0);
            wait_for_signal(ns.log, ns.command, sig);
        }
    }

    wait_for_count(ns.log, "orphan pid=", 3);
    // A process started from outside (docker exec) that leaves a child behind: the child is
    // re-parented to PID 1 too, though pidshim never started it.
    auto r = ns.exec(*this, {"sh", "-c", "sleep 1 & echo $! > " + path("exec-orphan.pid")});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    pid_t exec_orphan =
        host_pid(ns.shim, std::atoi(first_line_of(path("exec-orphan.pid")).c_str()));
    require_eventually(
        [&] {
            auto st = proc_stat(exec_orphan);
            return !st || st->ppid == ns.shim;
        },
        "the exec'd shell's child to be re-parented to pidshim");
    // Reaped: nothing is left in the namespace but COMMAND, no zombie in /proc.
    bool only_command =
        eventually([&] { return descendants_of(ns.shim) == std::vector<pid_t>{ns.command_host}; });
    BOOST_REQUIRE_MESSAGE(only_command,
                          "not reaped:" << describe(zombies_below(ns.shim))
                                        << "; below pidshim:" << describe(descendants_of(ns.shim)));

    // COMMAND's own exit status is pidshim's, and so the namespace's.
    BOOST_REQUIRE(kill(ns.shim, SIGUSR1) == 0);
    BOOST_CHECK_EQUAL(ns.unshare->wait_exit(), 3);
    BOOST_CHECK(
        contains(slurp(ns.log), "exit pid=" + std::to_string(ns.command) + " role=daemon code=3"));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left:" << describe(leftovers()));
    check_stderr_format(ns.unshare->err());
}

BOOST_FIXTURE_TEST_CASE(stop_sent_inside_the_namespace_to_pid_1_ends_command, Sandbox) {
    // A process in the container signalling PID 1: the kernel drops every signal PID 1 has
    // no handler for.
    Namespace ns(*this, {});
    auto r = ns.exec(*this, {"kill", "-HUP", "1"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    wait_for_signal(ns.log, ns.command, SIGHUP);
    r = ns.exec(*this, {"kill", "-TERM", "1"});
    // The kill command lives in the namespace: when PID 1 is quicker to stop than kill is to
    // exit, the kernel ends it with SIGKILL along with the rest of the namespace.
    BOOST_REQUIRE_MESSAGE(r.status == 0 || r.status == 128 + SIGKILL,
                          "kill -TERM 1 exited " << r.status << ": " << r.out);
    BOOST_CHECK_EQUAL(ns.unshare->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(contains(slurp(ns.log),
                         "exit pid=" + std::to_string(ns.command) + " role=daemon sig=TERM"));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left:" << describe(leftovers()));
}
