// pidshim as PID 1 of a new PID namespace (unshare --pid --fork --mount-proc), as in a
// container. The kernel gives PID 1 no default signal actions and hands it every orphan of
// the namespace: pidshim must still forward every signal, reap everything, and exit with the
// daemon's status. Pids in testd's log are the namespace's own.
#include "hosts.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

PIDSHIM_TEST_MODULE("pidshim as PID 1");

using namespace hosts;
namespace data = boost::unit_test::data;

namespace {

struct Namespace {
    Namespace(const Sandbox& box, const std::vector<std::string>& testd_options)
        : pidfile(box.path("daemon.pid")), log(box.path("testd.log")) {
        std::vector<std::string> argv{"unshare", "--pid", "--fork",  "--mount-proc", pidshim_bin,
                                      "-v",      pidfile, testd_bin, "--fork",       "--pidfile",
                                      pidfile,   "--log", log};
        argv.insert(argv.end(), testd_options.begin(), testd_options.end());
        SpawnOptions o;
        o.name = "unshare";
        unshare.emplace(argv, box.dir, o);
        shim = pidshim_child_of(unshare->pid()); // unshare forks; its child runs pidshim
        daemon = wait_started(log, "daemon");
        wait_for_line(unshare->err_path, "following pid " + std::to_string(daemon));
    }

    // Runs a command inside the namespace, as docker exec does.
    Run exec(const Sandbox& box, const std::vector<std::string>& command) {
        std::vector<std::string> argv{"nsenter", "--target", std::to_string(shim),
                                      "--pid",   "--mount",  "--"};
        argv.insert(argv.end(), command.begin(), command.end());
        return run(box, argv);
    }

    std::string pidfile;
    std::string log;
    std::optional<Process> unshare;
    pid_t shim = -1;   // pidshim, as this test sees it
    pid_t daemon = -1; // the daemon, as the namespace sees it
};

} // namespace

BOOST_FIXTURE_TEST_CASE(signals_sent_from_outside_reach_the_daemon, Sandbox) {
    Namespace ns(*this, {});
    BOOST_REQUIRE_EQUAL(innermost_pid(ns.shim), 1);
    // Every signal a runtime may send (docker kill -s) that does not stop the daemon; each
    // would be lost, or fatal, if PID 1 relied on default actions.
    for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT, SIGURG, SIGIO, SIGPWR,
                    SIGTSTP, SIGTTIN, SIGTTOU}) {
        BOOST_TEST_CONTEXT("SIG" << signame(sig)) {
            BOOST_REQUIRE(kill(ns.shim, sig) == 0);
            wait_for_signal(ns.log, ns.daemon, sig);
        }
    }
    BOOST_REQUIRE(kill(ns.shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.unshare->wait_exit(), 128 + SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(signals_sent_inside_the_namespace_to_pid_1_reach_the_daemon, Sandbox) {
    // A process in the container signalling PID 1: the kernel drops every signal PID 1 has
    // no handler for, so pidshim must have one for each signal it forwards.
    Namespace ns(*this, {});
    auto r = ns.exec(*this, {"kill", "-HUP", "1"});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    wait_for_signal(ns.log, ns.daemon, SIGHUP);
    r = ns.exec(*this, {"kill", "-TERM", "1"});
    // The kill command lives in the namespace: when PID 1 is quicker to stop than kill is to
    // exit, the kernel ends it with SIGKILL along with the rest of the namespace.
    BOOST_REQUIRE_MESSAGE(r.status == 0 || r.status == 128 + SIGKILL,
                          "kill -TERM 1 exited " << r.status << ": " << r.out);
    BOOST_CHECK_EQUAL(ns.unshare->wait_exit(), 128 + SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(orphans_in_the_namespace_are_reaped, Sandbox) {
    // The daemon double-forks children that exit at once: they end as PID 1's zombies.
    Namespace ns(*this, {"--orphans", "3"});
    wait_for_count(ns.log, "orphan pid=", 3);
    // A process started from outside (docker exec) that leaves a child behind: the child is
    // re-parented to PID 1 too, though pidshim never started it.
    auto r = ns.exec(*this, {"sh", "-c", "sleep 1 & echo $! > " + path("exec-orphan.pid")});
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
    pid_t orphan = host_pid(ns.shim, std::atoi(first_line_of(path("exec-orphan.pid")).c_str()));
    require_eventually(
        [&] {
            auto st = proc_stat(orphan);
            return !st || st->ppid == ns.shim;
        },
        "the exec'd shell's child to be re-parented to pidshim");
    require_eventually([&] { return !proc_stat(orphan); }, "pidshim to reap the exec orphan");
    require_eventually([&] { return zombies_below(ns.shim).empty(); },
                       "no zombies in the namespace");
    BOOST_REQUIRE(kill(ns.shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.unshare->wait_exit(), 128 + SIGTERM);
}

BOOST_DATA_TEST_CASE_F(Sandbox, sigterm_stops_everything_and_the_daemons_status_comes_out,
                       data::make({0, 7}), stop_exit_code) {
    // When PID 1 exits the kernel SIGKILLs the rest of the namespace: only an orderly stop
    // lets the daemon and its workers log their own exit, slow as the daemon is here.
    std::vector<std::string> options{"--workers", "2", "--stop-delay", "300"};
    if (stop_exit_code != 0) {
        options.insert(options.end(), {"--stop-exit-code", std::to_string(stop_exit_code)});
    }
    Namespace ns(*this, options);
    wait_for_count(ns.log, " role=worker ", 2);
    auto workers = started(ns.log, "worker");
    BOOST_REQUIRE_EQUAL(workers.size(), 2U);
    BOOST_REQUIRE(kill(ns.shim, SIGTERM) == 0);
    int status = ns.unshare->wait_exit();
    BOOST_CHECK_EQUAL(status, stop_exit_code != 0 ? stop_exit_code : 128 + SIGTERM);
    auto log = slurp(ns.log);
    BOOST_CHECK(contains(log, "exit pid=" + std::to_string(ns.daemon) + " role=daemon"));
    for (pid_t w : workers) {
        BOOST_CHECK(contains(log, "exit pid=" + std::to_string(w) + " role=worker"));
    }
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left:" << describe(leftovers()));
}
